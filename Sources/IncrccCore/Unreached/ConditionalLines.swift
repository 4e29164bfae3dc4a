import Glibc

/// A file's logical lines (physical lines joined at backslash-newline, as the compiler's second phase
/// joins them), each with the conditional directive it is, if any, and whether the preprocessor skips it
/// without a word: what `ConditionalSkeleton` builds on.
///
/// The reading follows the lexer only as far as it is sure to agree with gcc's and clang's; where it might
/// not (a `#` at the start of a line inside a block comment, a comment that ends just before a `#`, a
/// digraph or trigraph directive, a raw string literal, `#elifdef`, a `'` after a name or number, which C++
/// reads as a digit separator and C as a character constant) the whole file is refused. Only for C and
/// C++: assembler-with-cpp lexes quotes otherwise.
struct ConditionalLines {
    /// What a conditional directive tests, as far as that is decided without evaluating an expression.
    enum Test: Equatable {
        /// `#ifdef X`, `#if defined X`, `#if defined(X)`.
        case defined(String)
        /// `#ifndef X`, `#if !defined X`, `#if !defined(X)`.
        case undefined(String)
        /// `#if 0`, `#if 1`.
        case constant(Bool)
        /// Any other expression.
        case expression
    }

    enum Conditional: Equatable {
        case open(Test)
        case elif(Test)
        case otherwise
        case end
    }

    struct Line {
        /// Bytes of the file, from the line's first to past its last newline.
        var start: Int
        var end: Int
        var physicalLines: Int
        var conditional: Conditional?
        /// Skipped in silence by both compilers whatever it holds: printable ASCII only, every literal closed
        /// on the line, no line join, no trigraph, no comment opener inside a comment.
        var quiet: Bool
    }

    var lines: [Line] = []

    enum Region { case code, blockComment }

    /// Nil when the file holds something the reading is not sure to follow as the compilers do.
    init?(_ bytes: [UInt8]) {
        let parsed: [Line]? = bytes.withUnsafeBufferPointer { buffer in
            guard let base = buffer.baseAddress else { return [] }
            if MentionedIdentifiers.holdsRawString(base, buffer.count) { return nil }
            // A carriage return alone ends a line for the compilers, and a NUL may stand between a backslash
            // and its newline: lines this reading would draw otherwise.
            if memchr(base, 0, buffer.count) != nil { return nil }
            var at = 0
            while at < buffer.count, let hit = memchr(base + at, 0x0d, buffer.count - at) {
                at = base.distance(to: hit.assumingMemoryBound(to: UInt8.self)) + 1
                if at >= buffer.count || base[at] != 0x0a { return nil }
            }
            return Self.read(base, buffer.count)
        }
        guard let parsed else { return nil }
        lines = parsed
    }

    static func isBlank(_ byte: UInt8) -> Bool { byte == 0x20 || byte == 0x09 || byte == 0x0b || byte == 0x0c || byte == 0x0d }

    static func read(_ base: UnsafePointer<UInt8>, _ n: Int) -> [Line]? {
        var lines: [Line] = []
        var region = Region.code
        var start = 0
        var logical: [UInt8] = []
        while start < n {
            // One logical line: physical lines while each ends with a backslash (blanks may follow it).
            logical.removeAll(keepingCapacity: true)
            var end = start
            var physical = 0
            var joined = false
            var continuationStartsWithHash = false
            while true {
                let lineEnd = memchr(base + end, 0x0a, n - end).map { base.distance(to: $0.assumingMemoryBound(to: UInt8.self)) } ?? n
                physical += 1
                var last = lineEnd
                while last > end, isBlank(base[last - 1]) { last -= 1 }
                let continues = last > end && base[last - 1] == UInt8(ascii: "\\") && lineEnd < n
                if physical > 1 {
                    var first = end
                    while first < lineEnd, isBlank(base[first]) { first += 1 }
                    if first < lineEnd, base[first] == UInt8(ascii: "#") { continuationStartsWithHash = true }
                }
                logical.append(contentsOf: UnsafeBufferPointer(start: base + end, count: (continues ? last - 1 : lineEnd) - end))
                end = min(lineEnd + 1, n)
                if !continues { break }
                joined = true
            }
            // A `#` opening a physical line that is not a logical line's first: one reading of it too many.
            if continuationStartsWithHash { return nil }
            guard var line = lexed(logical, region: &region) else { return nil }
            line.start = start
            line.end = end
            line.physicalLines = physical
            if joined { line.quiet = false }
            lines.append(line)
            start = end
        }
        return lines
    }

    /// Lexes one logical line from `region`; nil when its reading is in doubt.
    static func lexed(_ text: [UInt8], region: inout Region) -> Line? {
        let startsInComment = region == .blockComment
        var code: [UInt8] = []
        var quiet = true
        var i = 0
        let n = text.count
        if startsInComment {
            // A line inside a comment that a reader blind to comments would take for a directive.
            var first = 0
            while first < n, isBlank(text[first]) { first += 1 }
            if first < n, text[first] == UInt8(ascii: "#") { return nil }
        }
        while i < n {
            let byte = text[i]
            let next: UInt8 = i + 1 < n ? text[i + 1] : 0
            if byte >= 0x80 || (byte < 0x20 && !isBlank(byte)) || byte == 0x7f { quiet = false }
            if byte == UInt8(ascii: "?"), next == UInt8(ascii: "?") {
                quiet = false
                if i + 2 < n, text[i + 2] == UInt8(ascii: "=") || text[i + 2] == UInt8(ascii: "/") { return nil }
            }
            if region == .blockComment {
                if byte == UInt8(ascii: "*"), next == UInt8(ascii: "/") {
                    region = .code
                    code.append(0x20)
                    i += 2
                    continue
                }
                if byte == UInt8(ascii: "/"), next == UInt8(ascii: "*") { quiet = false }
                i += 1
                continue
            }
            if byte == UInt8(ascii: "/"), next == UInt8(ascii: "*") {
                region = .blockComment
                i += 2
                continue
            }
            if byte == UInt8(ascii: "/"), next == UInt8(ascii: "/") {
                code.append(0x20)
                break
            }
            if byte == UInt8(ascii: "\"") || byte == UInt8(ascii: "'") {
                // After a name or number, `'` is a digit separator in C++ and opens a character constant in C,
                // which decides whether a `/*` after it opens a comment: refused, but after a literal prefix.
                if let previous = code.last, MacroNameRules.isIdentifierByte(previous) {
                    quiet = false
                    if byte == UInt8(ascii: "'") {
                        let run = code.reversed().prefix { MacroNameRules.isIdentifierByte($0) }
                        let prefix = String(decoding: run.reversed(), as: UTF8.self)
                        let before = code.count > run.count ? code[code.count - run.count - 1] : 0x20
                        guard ["u", "U", "L", "u8"].contains(prefix), !MacroNameRules.isIdentifierByte(before) else { return nil }
                    }
                }
                var j = i + 1
                var closed = false
                while j < n {
                    if text[j] == UInt8(ascii: "\\") { j += 2; continue }
                    if text[j] == byte { closed = true; break }
                    j += 1
                }
                if !closed { quiet = false }
                let stop = min(j + 1, n)
                code.append(contentsOf: text[i..<stop])
                i = stop
                continue
            }
            code.append(byte)
            i += 1
        }
        var line = Line(start: 0, end: 0, physicalLines: 0, conditional: nil, quiet: quiet)
        var first = 0
        while first < code.count, isBlank(code[first]) { first += 1 }
        guard first < code.count else { return line }
        if code[first] == UInt8(ascii: "%"), first + 1 < code.count, code[first + 1] == UInt8(ascii: ":") { return nil }
        guard code[first] == UInt8(ascii: "#") else { return line }
        // `/* … */ #if` after a comment that began on an earlier line: whether it is a directive is in doubt.
        if startsInComment { return nil }
        // A header name between `<` and `>` is no place for a comment, though this reading would see one.
        var words = Tokens(code[(first + 1)...])
        if let keyword = words.next(), keyword.hasPrefix("include") || keyword == "import",
           let open = text.firstIndex(of: UInt8(ascii: "<")) {
            let name = Array(text[open...])
            if ByteSearch.find(Array("/*".utf8), in: name) != nil || ByteSearch.find(Array("//".utf8), in: name) != nil {
                return nil
            }
        }
        guard let conditional = conditional(code[(first + 1)...]) else { return nil }
        // A conditional whose line ends inside a comment: the group would begin in the middle of it.
        if conditional != nil, region == .blockComment { return nil }
        line.conditional = conditional
        return line
    }

    /// The conditional a directive's text after `#` is; `.some(nil)` for any other directive; nil when it
    /// is one this reading refuses.
    static func conditional(_ text: ArraySlice<UInt8>) -> Conditional?? {
        var words = Tokens(text)
        guard let keyword = words.next() else { return .some(nil) }
        switch keyword {
        case "ifdef", "ifndef":
            guard let name = words.next(), isName(name), words.next() == nil else { return .some(.open(.expression)) }
            return .some(.open(keyword == "ifdef" ? .defined(name) : .undefined(name)))
        case "if": return .some(.open(test(&words)))
        case "elif": return .some(.elif(test(&words)))
        case "else": return .some(.otherwise)
        case "endif": return .some(.end)
        case "elifdef", "elifndef": return nil
        default: return .some(nil)
        }
    }

    /// `defined X`, `defined ( X )`, either after `!`, `0` or `1`; anything else is an expression.
    static func test(_ words: inout Tokens) -> Test {
        var tokens: [String] = []
        while let word = words.next() {
            tokens.append(word)
            if tokens.count > 5 { return .expression }
        }
        if tokens == ["0"] { return .constant(false) }
        if tokens == ["1"] { return .constant(true) }
        var negated = false
        if tokens.first == "!" {
            negated = true
            tokens.removeFirst()
        }
        let name: String
        switch tokens.count {
        case 2 where tokens[0] == "defined": name = tokens[1]
        case 4 where tokens[0] == "defined" && tokens[1] == "(" && tokens[3] == ")": name = tokens[2]
        default: return .expression
        }
        guard isName(name) else { return .expression }
        return negated ? .undefined(name) : .defined(name)
    }

    static func isName(_ word: String) -> Bool {
        guard let first = word.utf8.first, first < UInt8(ascii: "0") || first > UInt8(ascii: "9") else { return false }
        return word.utf8.allSatisfy { MacroNameRules.isIdentifierByte($0) && $0 < 0x80 && $0 != UInt8(ascii: "$") }
    }

    /// Names, numbers and single punctuation bytes of a directive's text (comments are already blanks).
    struct Tokens {
        var text: ArraySlice<UInt8>

        init(_ text: ArraySlice<UInt8>) { self.text = text }

        mutating func next() -> String? {
            while let byte = text.first, ConditionalLines.isBlank(byte) { text = text.dropFirst() }
            guard let first = text.first else { return nil }
            if MacroNameRules.isIdentifierByte(first) {
                let word = text.prefix { MacroNameRules.isIdentifierByte($0) }
                text = text.dropFirst(word.count)
                return String(decoding: word, as: UTF8.self)
            }
            text = text.dropFirst()
            return String(decoding: [first], as: UTF8.self)
        }
    }
}

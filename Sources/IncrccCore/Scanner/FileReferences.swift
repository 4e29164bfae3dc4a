import Glibc

/// Why a translation unit cannot be scanned by its include directives; it then falls back to direct mode.
public enum ScanFallback: Error, Equatable, Sendable {
    /// `#include MACRO`, or a directive written in a form the reader does not take apart.
    case computedInclude
    /// `#embed` or `.incbin`: a file read that no include directive names.
    case embeddedFile
    /// A precompiled header may stand in for a header.
    case precompiledHeader
    /// A file in the include graph could not be read.
    case unreadableFile

    public var counter: Counter {
        switch self {
        case .computedInclude: return .scanComputedInclude
        case .embeddedFile: return .scanEmbeddedFile
        case .precompiledHeader: return .scanPrecompiledHeader
        case .unreadableFile: return .scanUnreadableFile
        }
    }
}

/// Everything in one file's text that decides which other files a compile can depend on.
public struct FileReferences: Equatable, Sendable {
    /// Changes whenever `read` (or the time-macro reading beside it) would answer differently for some text,
    /// so remembered facts are not reused. 5: `__DATE__` told apart from `__TIME__`.
    static let readerVersion = 5

    /// `#include`, `#include_next`, `#import` with a literal name, in every branch of every conditional.
    public var includes: [IncludeDirective] = []
    /// `__has_include(…)` and `__has_include_next(…)` names: their existence changes what is compiled.
    public var existenceTests: [IncludeDirective] = []
    /// Set when the file holds something the scan cannot follow.
    public var fallback: ScanFallback?

    /// Reads `text` line by line for directives, and searches `.incbin` once. Over-reports
    /// (comments, dead branches): an extra file only makes the scan key stricter. Under-reporting would be a
    /// wrong hit, so any include-like directive it cannot take apart is a fallback, never skipped.
    public static func read(_ text: [UInt8]) -> FileReferences {
        var references = FileReferences()
        text.withUnsafeBufferPointer { buffer in
            guard let base = buffer.baseAddress else { return }
            let n = buffer.count
            references.readDirectives(base, n)
            if references.fallback == nil,
               incbinDirective(in: base, n) || assemblerIncludeDirective(in: base, n) {
                references.fallback = .embeddedFile
            }
        }
        return references
    }

    mutating func readDirectives(_ base: UnsafePointer<UInt8>, _ n: Int) {
        var i = 0
        while i < n {
            while i < n, base[i] == 0x20 || base[i] == 0x09 { i += 1 }
            var hash = false
            if i < n, base[i] == UInt8(ascii: "#") {
                hash = true
                i += 1
            } else if i + 1 < n, base[i] == UInt8(ascii: "%"), base[i + 1] == UInt8(ascii: ":") {
                hash = true
                i += 2
            }
            if hash { readDirective(base, n, &i) }
            guard i < n, let newline = memchr(base + i, 0x0a, n - i) else { break }
            i = base.distance(to: newline.assumingMemoryBound(to: UInt8.self)) + 1
        }
    }

    /// What follows a `#` at `i`. Include-like words must be followed by a quoted or bracketed name;
    /// anything else there (a macro, a comment, a line continuation) cannot be followed by the scan.
    mutating func readDirective(_ base: UnsafePointer<UInt8>, _ n: Int, _ i: inout Int) {
        while i < n, base[i] == 0x20 || base[i] == 0x09 { i += 1 }
        if i < n, base[i] == UInt8(ascii: "/") || base[i] == UInt8(ascii: "\\") {
            // `# /* … */ include`, or a directive name continued on the next line.
            if lineMentionsInclude(base, n, i) { fallback = fallback ?? .computedInclude }
            return
        }
        let wordStart = i
        while i < n, (base[i] >= 0x61 && base[i] <= 0x7a) || base[i] == UInt8(ascii: "_") { i += 1 }
        let word = UnsafeBufferPointer(start: base + wordStart, count: i - wordStart)
        if IncludeDirectiveScanner.matches(word, "embed") {
            fallback = fallback ?? .embeddedFile
            return
        }
        let isNext = IncludeDirectiveScanner.matches(word, "include_next")
        guard isNext || IncludeDirectiveScanner.matches(word, "include") || IncludeDirectiveScanner.matches(word, "import")
        else {
            if i < n, base[i] == UInt8(ascii: "\\"), isPrefixOfIncludeWord(word) { fallback = fallback ?? .computedInclude }
            // `__has_include` is only valid in `#if`/`#elif` and in macros those expand: directive text only.
            let end = Self.directiveEnd(base, n, from: i)
            readExistenceTests(base, end, from: i)
            i = max(i, end)
            return
        }
        var j = i
        i = wordStart
        if let directive = IncludeDirectiveScanner.directive(base, n, &i) {
            includes.append(directive)
        } else {
            while j < n, base[j] == 0x20 || base[j] == 0x09 { j += 1 }
            if j < n, Self.mayStartIncludedName(base[j]) { fallback = fallback ?? .computedInclude }
        }
    }

    /// Whether what follows `#include` can still name a file: a macro (an identifier, which gcc lets hold
    /// `$` and UTF-8), a comment or continuation before the name (`/`, `\`, `??/`), or a name this reader
    /// could not close. Anything else (`#include's` in a license comment of glibc's limits.h, which every
    /// unit including it fell back on) is an error in live code, so the compile is never stored, and reads
    /// nothing in a comment or a skipped branch.
    static func mayStartIncludedName(_ byte: UInt8) -> Bool {
        switch byte {
        case UInt8(ascii: "a")...UInt8(ascii: "z"), UInt8(ascii: "A")...UInt8(ascii: "Z"), UInt8(ascii: "_"),
             UInt8(ascii: "$"), 0x80...0xff, UInt8(ascii: "/"), UInt8(ascii: "\\"), UInt8(ascii: "?"),
             UInt8(ascii: "\""), UInt8(ascii: "<"):
            return true
        default:
            return false
        }
    }

    func lineMentionsInclude(_ base: UnsafePointer<UInt8>, _ n: Int, _ i: Int) -> Bool {
        var end = i
        while end < n, base[end] != 0x0a { end += 1 }
        // A continued line goes on: look one line further.
        if end > i, base[end - 1] == UInt8(ascii: "\\") || base[end - 1] == 0x0d {
            end += 1
            while end < n, base[end] != 0x0a { end += 1 }
        }
        return Self.find("include", in: base, end, from: i) != nil || Self.find("import", in: base, end, from: i) != nil
            || Self.find("embed", in: base, end, from: i) != nil
    }

    func isPrefixOfIncludeWord(_ word: UnsafeBufferPointer<UInt8>) -> Bool {
        let words: [StaticString] = ["include_next", "import", "embed"]
        for full in words where word.count < full.utf8CodeUnitCount {
            if let start = word.baseAddress, memcmp(start, full.utf8Start, word.count) == 0 { return true }
        }
        return false
    }

    /// Where a directive starting at `from` ends: its newline, after line continuations and block comments
    /// that run on (`#if /* … */ __has_include(…)` over two lines is one directive).
    static func directiveEnd(_ base: UnsafePointer<UInt8>, _ n: Int, from: Int) -> Int {
        var i = from
        while i < n {
            let byte = base[i]
            if byte == 0x0a {
                if i > from, base[i - 1] == UInt8(ascii: "\\") || (base[i - 1] == 0x0d && i > from + 1 && base[i - 2] == UInt8(ascii: "\\")) {
                    i += 1
                    continue
                }
                return i
            }
            if byte == UInt8(ascii: "\""), let close = memchr(base + i + 1, Int32(byte), n - i - 1) {
                // A literal's `/*` opens no comment; an unterminated one ends at the newline as usual.
                let closeIndex = base.distance(to: close.assumingMemoryBound(to: UInt8.self))
                if memchr(base + i + 1, 0x0a, closeIndex - i - 1) == nil {
                    i = closeIndex + 1
                    continue
                }
            }
            if byte == UInt8(ascii: "/"), i + 1 < n, base[i + 1] == UInt8(ascii: "*") {
                guard let close = find("*/", in: base, n, from: i + 2) else { return n }
                i = close + 2
                continue
            }
            i += 1
        }
        return n
    }

    mutating func readExistenceTests(_ base: UnsafePointer<UInt8>, _ n: Int, from start: Int) {
        var from = start
        while let at = Self.find("__has_include", in: base, n, from: from) {
            var i = at + 13
            let isNext = i + 5 <= n && memcmp(base + i, "_next", 5) == 0
            if isNext { i += 5 }
            from = i
            if i < n, (base[i] >= 0x61 && base[i] <= 0x7a) || base[i] == UInt8(ascii: "_") { continue }
            while i < n, base[i] == 0x20 || base[i] == 0x09 { i += 1 }
            // `#ifdef __has_include`, or the name in a comment: not a test.
            guard i < n, base[i] == UInt8(ascii: "(") else { continue }
            i += 1
            while i < n, base[i] == 0x20 || base[i] == 0x09 { i += 1 }
            guard i < n, base[i] == UInt8(ascii: "\"") || base[i] == UInt8(ascii: "<") else {
                fallback = fallback ?? .computedInclude
                continue
            }
            let close = base[i] == UInt8(ascii: "\"") ? UInt8(ascii: "\"") : UInt8(ascii: ">")
            i += 1
            let start = i
            while i < n, base[i] != close, base[i] != 0x0a { i += 1 }
            guard i < n, base[i] == close, i > start else {
                fallback = fallback ?? .computedInclude
                continue
            }
            let name = String(decoding: UnsafeBufferPointer(start: base + start, count: i - start), as: UTF8.self)
            existenceTests.append(IncludeDirective(name: name, isQuoted: close == UInt8(ascii: "\""), isNext: isNext))
            from = i
        }
    }

    /// The assembler's `.include "file"`, in a `.s`/`.S` file or an `asm` statement (`.include \"file\"`):
    /// the assembler reads it, and no dependency list names it.
    /// `.incbin` anywhere, unless a name or a call goes on from it (`a.incbin()`, a C++ member; ccache's
    /// suite has that case): whatever else follows (blanks, a quote ending a string that continues the
    /// directive, a newline, a backslash) counts, so a directive is never missed.
    static func incbinDirective(in base: UnsafePointer<UInt8>, _ n: Int) -> Bool {
        var from = 0
        while let at = find(".incbin", in: base, n, from: from) {
            let next = at + 7
            guard next < n else { return true }
            let byte = base[next]
            let continuesName = (byte >= 0x30 && byte <= 0x39) || (byte >= 0x41 && byte <= 0x5a) || (byte >= 0x61 && byte <= 0x7a)
                || byte == UInt8(ascii: "_") || byte == UInt8(ascii: "$") || byte == UInt8(ascii: "(")
            if !continuesName { return true }
            from = next
        }
        return false
    }

    static func assemblerIncludeDirective(in base: UnsafePointer<UInt8>, _ n: Int) -> Bool {
        var from = 0
        while let at = find(".include", in: base, n, from: from) {
            var i = at + 8
            while i < n, base[i] == 0x20 || base[i] == 0x09 { i += 1 }
            if i < n, base[i] == UInt8(ascii: "\"") || base[i] == UInt8(ascii: "\\") { return true }
            from = at + 8
        }
        return false
    }

    /// memchr for the first byte, then a compare (Glibc's memmem is not visible to Swift here).
    static func find(_ needle: StaticString, in base: UnsafePointer<UInt8>, _ n: Int, from: Int) -> Int? {
        let length = needle.utf8CodeUnitCount
        let first = Int32(needle.utf8Start.pointee)
        var i = from
        while i + length <= n, let hit = memchr(base + i, first, n - i - length + 1) {
            i = base.distance(to: hit.assumingMemoryBound(to: UInt8.self))
            if memcmp(base + i, needle.utf8Start, length) == 0 { return i }
            i += 1
        }
        return nil
    }
}

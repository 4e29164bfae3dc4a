import Glibc

/// Every run of identifier characters in a set of texts outside comments, as 64-bit hashes: what "a file
/// mentions a macro" is decided against. It over-reports on purpose — string literals
/// (`#pragma push_macro("X")`, `_Pragma`), dead branches and numbers all count — since a mention missed
/// would be a wrong hit and an extra one only a miss. Lines joined by a backslash are joined first, as the
/// compiler's second phase does.
///
/// A name can also be built without being written: `CAT(VE,R)` pastes `VER`. So a name counts as mentioned
/// too when it splits into two or more pieces that are each a run somewhere (`mentions`).
public struct MentionedIdentifiers {
    private var hashes: Set<UInt64> = []
    /// Set when a text holds something this reading does not follow (a universal character name, which can
    /// spell an identifier's letters, or a trigraph line join): then every name counts as mentioned.
    public private(set) var unreadable: String?
    /// With `separatesDefinitions`: the runs of each `#define`'s body (by the macro's name), and how many
    /// `#define`/`#undef` lines name each macro. The defined name itself is then no mention.
    private(set) var bodies: [UInt64: Set<UInt64>] = [:]
    private(set) var definitionLines: [UInt64: Int] = [:]
    let separatesDefinitions: Bool

    public init() { separatesDefinitions = false }

    /// A set that keeps `#define` bodies apart, for `live` and `mentionedOutsideDefinitions`.
    init(separatingDefinitions: Bool) { separatesDefinitions = separatingDefinitions }

    /// Where a run stands in its logical line, for `separatesDefinitions`.
    enum LinePlace: Equatable {
        case start, code, afterHash
        case definedName(undefines: Bool)
        case body(UInt64)
    }

    public var count: Int { hashes.count }

    static let offset: UInt64 = 0xcbf2_9ce4_8422_2325
    static let prime: UInt64 = 0x100_0000_01b3

    @inline(__always)
    static func step(_ hash: UInt64, _ byte: UInt8) -> UInt64 { (hash ^ UInt64(byte)) &* prime }

    static func hash<S: Sequence>(_ bytes: S) -> UInt64 where S.Element == UInt8 {
        var hash = offset
        for byte in bytes { hash = step(hash, byte) }
        return hash
    }

    /// The literal prefixes a quote may follow without ending a name (`u8'x'`, `L"x"`).
    static let literalPrefixes: Set<UInt64> = Set(["u", "U", "L", "u8"].map { hash($0.utf8) })

    enum Region { case code, string, character, blockComment, lineComment }

    /// Adds the runs of `text`, which is named `origin` in a refusal. Comments are left out (a comment is
    /// one space to the compiler, so nothing in it can name a macro), unless the text holds what looks like
    /// a raw string literal, whose contents this reading would not delimit; string and character literals
    /// end at their quote or at the end of the line, as the compiler's lexer ends them.
    public mutating func add(_ text: [UInt8], origin: String) {
        text.withUnsafeBufferPointer { buffer in
            guard let base = buffer.baseAddress else { return }
            let n = buffer.count
            let skipsComments = !Self.holdsRawString(base, n)
            var i = 0
            var hash = Self.offset
            var inRun = false
            var region = Region.code
            var place = LinePlace.start
            let define = Self.hash("define".utf8), undef = Self.hash("undef".utf8)
            func endRun() {
                defer {
                    hash = Self.offset
                    inRun = false
                }
                guard inRun else { return }
                guard separatesDefinitions else {
                    hashes.insert(hash)
                    return
                }
                switch place {
                case .afterHash:
                    place = hash == define ? .definedName(undefines: false) : hash == undef ? .definedName(undefines: true) : .code
                    hashes.insert(hash)
                case .definedName(let undefines):
                    definitionLines[hash, default: 0] += 1
                    place = undefines ? .code : .body(hash)
                case .body(let name):
                    bodies[name, default: []].insert(hash)
                case .start, .code:
                    place = .code
                    hashes.insert(hash)
                }
            }
            while i < n {
                let byte = base[i]
                if byte == UInt8(ascii: "\\") {
                    // A line join: backslash, optional blanks (gcc and clang accept them), newline.
                    var j = i + 1
                    while j < n, base[j] == 0x20 || base[j] == 0x09 || base[j] == 0x0d { j += 1 }
                    if j < n, base[j] == 0x0a {
                        i = j + 1
                        continue
                    }
                    if i + 1 < n, base[i + 1] == UInt8(ascii: "u") || base[i + 1] == UInt8(ascii: "U") {
                        let digits = base[i + 1] == UInt8(ascii: "u") ? 4 : 8
                        if i + 1 + digits < n, (i + 2...i + 1 + digits).allSatisfy({ isxdigit(Int32(base[$0])) != 0 }) {
                            unreadable = unreadable ?? "\(origin) holds a universal character name"
                        }
                    }
                }
                if byte == UInt8(ascii: "?"), i + 2 < n, base[i + 1] == UInt8(ascii: "?"), base[i + 2] == UInt8(ascii: "/") {
                    unreadable = unreadable ?? "\(origin) holds a trigraph"
                }
                switch region {
                case .blockComment:
                    if byte == UInt8(ascii: "*"), i + 1 < n, base[i + 1] == UInt8(ascii: "/") {
                        region = .code
                        i += 2
                    } else {
                        i += 1
                    }
                    continue
                case .lineComment:
                    if byte == 0x0a {
                        region = .code
                        place = .start
                    }
                    i += 1
                    continue
                case .string, .character:
                    if byte == 0x0a || byte == (region == .string ? UInt8(ascii: "\"") : UInt8(ascii: "'")) {
                        endRun()
                        region = .code
                        if byte == 0x0a { place = .start }
                        i += 1
                        continue
                    }
                    if byte == UInt8(ascii: "\\") {
                        // An escape: the next byte never ends the literal.
                        endRun()
                        i += 2
                        continue
                    }
                case .code:
                    if skipsComments, byte == UInt8(ascii: "/"), i + 1 < n,
                       base[i + 1] == UInt8(ascii: "*") || base[i + 1] == UInt8(ascii: "/") {
                        endRun()
                        region = base[i + 1] == UInt8(ascii: "*") ? .blockComment : .lineComment
                        i += 2
                        continue
                    }
                    if separatesDefinitions {
                        if byte == 0x0a {
                            endRun()
                            place = .start
                            i += 1
                            continue
                        }
                        let opensDirective = byte == UInt8(ascii: "#")
                            || byte == UInt8(ascii: "%") && i + 1 < n && base[i + 1] == UInt8(ascii: ":")
                        if place == .start, opensDirective {
                            place = .afterHash
                            i += byte == UInt8(ascii: "#") ? 1 : 2
                            continue
                        }
                        if place == .start, byte != 0x20, byte != 0x09, byte != 0x0c, byte != 0x0b, byte != 0x0d {
                            place = .code
                        }
                    }
                    if byte == UInt8(ascii: "\"") || byte == UInt8(ascii: "'") {
                        // After a name that is no literal prefix, `'` is a digit separator (`1'000`).
                        let opens = byte == UInt8(ascii: "\"") || !inRun || Self.literalPrefixes.contains(hash)
                        endRun()
                        if opens { region = byte == UInt8(ascii: "\"") ? .string : .character }
                        i += 1
                        continue
                    }
                }
                if MacroNameRules.isIdentifierByte(byte) {
                    hash = Self.step(hash, byte)
                    inRun = true
                } else {
                    endRun()
                }
                i += 1
            }
            endRun()
        }
    }

    /// `R"delimiter(`: a raw string literal may hold quotes and comment openers on many lines.
    static func holdsRawString(_ base: UnsafePointer<UInt8>, _ n: Int) -> Bool {
        var i = 0
        while i + 2 < n, let hit = memchr(base + i, Int32(UInt8(ascii: "R")), n - i - 2) {
            i = base.distance(to: hit.assumingMemoryBound(to: UInt8.self))
            if base[i + 1] == UInt8(ascii: "\"") {
                var j = i + 2
                while j < n, j - i - 2 <= 16, base[j] != UInt8(ascii: "("), base[j] != 0x20, base[j] != 0x0a,
                      base[j] != UInt8(ascii: "\""), base[j] != UInt8(ascii: ")"), base[j] != UInt8(ascii: "\\") { j += 1 }
                if j < n, base[j] == UInt8(ascii: "(") { return true }
            }
            i += 1
        }
        return false
    }

    /// The runs a compile can reach: every run outside `#define` bodies, and the bodies of the macros
    /// among them, until none is added. A name written only in the body of a macro nothing names is never
    /// expanded.
    func live() -> MentionedIdentifiers { live(from: self) }

    /// The runs reached from the runs `roots` holds outside its `#define` bodies, through the bodies kept
    /// here: what the code of one text can expand.
    func live(from roots: MentionedIdentifiers) -> MentionedIdentifiers {
        var reached = MentionedIdentifiers()
        reached.unreadable = unreadable ?? roots.unreadable
        reached.hashes = roots.hashes
        var pending = Array(roots.hashes)
        while let next = pending.popLast() {
            guard let body = bodies[next] else { continue }
            for run in body where reached.hashes.insert(run).inserted { pending.append(run) }
        }
        return reached
    }

    /// Whether `name` is written anywhere but as the name of its own `#define`/`#undef` lines, or could be
    /// pasted together from runs that are.
    func mentionedOutsideDefinitions(_ name: String) -> Bool {
        var all = MentionedIdentifiers()
        all.unreadable = unreadable
        all.hashes = hashes
        for body in bodies.values { all.hashes.formUnion(body) }
        for (defined, _) in definitionLines where defined != Self.hash(name.utf8) { all.hashes.insert(defined) }
        return all.mentions(name)
    }

    /// How many `#define`/`#undef` lines name `name`.
    func definitionCount(_ name: String) -> Int { definitionLines[Self.hash(name.utf8)] ?? 0 }

    /// Whether `name` is written out somewhere.
    public func contains(_ name: String) -> Bool { hashes.contains(Self.hash(name.utf8)) }

    /// Whether `name` is written somewhere, or could be pasted together from runs that are.
    public func mentions(_ name: String) -> Bool {
        if unreadable != nil { return true }
        let bytes = Array(name.utf8)
        if hashes.contains(Self.hash(bytes)) { return true }
        // reachable[i]: the first i bytes split into runs that occur.
        var reachable = [Bool](repeating: false, count: bytes.count + 1)
        reachable[0] = true
        for start in 0..<bytes.count where reachable[start] {
            var hash = Self.offset
            for end in start..<bytes.count {
                hash = Self.step(hash, bytes[end])
                if start == 0 && end == bytes.count - 1 { continue }
                if hashes.contains(hash) { reachable[end + 1] = true }
            }
        }
        return reachable[bytes.count]
    }
}

import Glibc

/// Every run of identifier characters in a set of texts, as 64-bit hashes: what "a file mentions a macro"
/// is decided against. It over-reports on purpose — comments, string literals (`#pragma push_macro("X")`,
/// `_Pragma`), dead branches and numbers all count — since a mention missed would be a wrong hit and an extra
/// one only a miss. Lines joined by a backslash are joined first, as the compiler's second phase does.
///
/// A name can also be built without being written: `CAT(VE,R)` pastes `VER`. So a name counts as mentioned
/// too when it splits into two or more pieces that are each a run somewhere (`mentions`).
public struct MentionedIdentifiers {
    private var hashes: Set<UInt64> = []
    /// Set when a text holds something this reading does not follow (a universal character name, which can
    /// spell an identifier's letters, or a trigraph line join): then every name counts as mentioned.
    public private(set) var unreadable: String?

    public init() {}

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

    /// Adds the runs of `text`, which is named `origin` in a refusal.
    public mutating func add(_ text: [UInt8], origin: String) {
        text.withUnsafeBufferPointer { buffer in
            guard let base = buffer.baseAddress else { return }
            let n = buffer.count
            var i = 0
            var hash = Self.offset
            var inRun = false
            while i < n {
                let byte = base[i]
                if MacroNameRules.isIdentifierByte(byte) {
                    hash = Self.step(hash, byte)
                    inRun = true
                    i += 1
                    continue
                }
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
                if inRun { hashes.insert(hash) }
                hash = Self.offset
                inRun = false
                i += 1
            }
            if inRun { hashes.insert(hash) }
        }
    }

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

/// A header's tokens without their places: its comment-free text (`CommentFreeText.blanked`) with lines
/// joined by a backslash spliced, each logical line trimmed, every run of white space outside literals one
/// space, and line breaks kept only where a directive begins or ends. Two texts with the same token text
/// preprocess to the same tokens, each with the same "white space before it" (what `#` stringizing and
/// macro redefinition compare); only lines and columns may differ. Whether those reach the object is the
/// caller's to decide (`CachedCompile.placesReachNothing`).
///
/// `#define` and `#undef` lines are left out of the digest and listed apart, in order, so that an edit of a
/// macro nothing else names can be told from an edit of code.
struct TokenText: Equatable {
    var digest: Digest
    var definitions: [Definition]

    /// One `#define` or `#undef` line: the macro it names and the digest of the line as normalized.
    struct Definition: Equatable {
        var name: String
        var line: Digest
    }

    init(digest: Digest, definitions: [Definition]) {
        self.digest = digest
        self.definitions = definitions
    }

    /// Nil where the text holds what this reading does not follow: a raw string literal, a literal left
    /// open on its line.
    init?(blanked text: [UInt8]) {
        var spliced: [UInt8] = []
        spliced.reserveCapacity(text.count)
        var index = 0
        while index < text.count {
            if text[index] == UInt8(ascii: "\\"), index + 1 < text.count, text[index + 1] == 0x0a {
                index += 2
                continue
            }
            spliced.append(text[index])
            index += 1
        }
        var hasher = StreamingHasher()
        hasher.update("token text 1")
        var definitions: [Definition] = []
        var previousWasDirective = true
        var first = true
        // One stream of raw bytes, so a line split or joined hashes alike.
        func feed(_ bytes: [UInt8]) { bytes.withUnsafeBytes { hasher.update(raw: $0) } }
        for rawLine in spliced.split(separator: 0x0a, omittingEmptySubsequences: true) {
            guard let line = Self.normalized(rawLine) else { return nil }
            guard !line.isEmpty else { continue }
            let directive = line[0] == UInt8(ascii: "#") || line.starts(with: "%:".utf8)
            // 0x01 (refused in lines) stands for a definition.
            guard !line.contains(0x01) else { return nil }
            if !first { feed(directive || previousWasDirective ? [0x0a] : [0x20]) }
            first = false
            previousWasDirective = directive
            if directive, let name = Self.definedName(line) {
                definitions.append(Definition(name: name, line: Digest.of(line)))
                feed([0x01])
                continue
            }
            feed(line)
        }
        digest = hasher.finalize()
        self.definitions = definitions
    }

    static func isBlank(_ byte: UInt8) -> Bool { byte == 0x20 || byte == 0x09 || byte == 0x0b || byte == 0x0c || byte == 0x0d }

    /// A logical line trimmed, with white space outside literals made one space; a line that names a
    /// header (`#include <a  b.h>`, `__has_include`) is kept as written, since white space there is part of
    /// a name. Nil for a literal left open or a raw string.
    static func normalized(_ line: ArraySlice<UInt8>) -> [UInt8]? {
        let bytes = Array(line.drop(while: isBlank).reversed().drop(while: isBlank).reversed())
        if ByteSearch.find(Array("include".utf8), in: bytes) != nil || ByteSearch.find(Array("import".utf8), in: bytes) != nil
            || ByteSearch.find(Array("embed".utf8), in: bytes) != nil { return bytes }
        var out: [UInt8] = []
        out.reserveCapacity(bytes.count)
        var index = 0
        while index < bytes.count {
            let byte = bytes[index]
            if isBlank(byte) {
                while index < bytes.count, isBlank(bytes[index]) { index += 1 }
                out.append(0x20)
                continue
            }
            if byte == UInt8(ascii: "\"") || byte == UInt8(ascii: "'") {
                if byte == UInt8(ascii: "\""), index > 0, bytes[index - 1] == UInt8(ascii: "R") { return nil }
                var end = index + 1
                while end < bytes.count, bytes[end] != byte { end += bytes[end] == UInt8(ascii: "\\") ? 2 : 1 }
                guard end < bytes.count else { return nil }
                out.append(contentsOf: bytes[index...end])
                index = end + 1
                continue
            }
            out.append(byte)
            index += 1
        }
        return out
    }

    /// The macro a `#define`/`#undef` line names; nil for any other line.
    static func definedName(_ line: [UInt8]) -> String? {
        var index = line[0] == UInt8(ascii: "#") ? 1 : 2
        while index < line.count, line[index] == 0x20 { index += 1 }
        let word = line[index...].prefix(while: MacroNameRules.isIdentifierByte)
        guard word.elementsEqual("define".utf8) || word.elementsEqual("undef".utf8) else { return nil }
        index += word.count
        while index < line.count, line[index] == 0x20 { index += 1 }
        let name = line[index...].prefix(while: MacroNameRules.isIdentifierByte)
        guard let first = name.first, !(first >= 0x30 && first <= 0x39) else { return nil }
        return String(decoding: name, as: UTF8.self)
    }

    /// The macros whose definitions differ when everything else is the same token text; nil when more
    /// than definitions differ (or lines were added or removed).
    func changedDefinitions(from old: TokenText) -> [String]? {
        guard digest == old.digest, definitions.count == old.definitions.count else { return nil }
        var names: [String] = []
        for (mine, theirs) in zip(definitions, old.definitions) where mine != theirs {
            names.append(mine.name)
            if theirs.name != mine.name { names.append(theirs.name) }
        }
        return names
    }
}

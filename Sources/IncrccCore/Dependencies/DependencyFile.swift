/// Reads and rewrites make-style dependency files as gcc and clang write them.
public enum DependencyFile {
    /// The prerequisites of the first rule, unescaped (`\ ` → space, `$$` → `$`, `\#` → `#`).
    public static func prerequisites(_ text: [UInt8]) -> [String] {
        var words: [String] = []
        var current: [UInt8] = []
        var seenColon = false
        var i = 0
        func finishWord() {
            if !current.isEmpty {
                if seenColon { words.append(String(decoding: current, as: UTF8.self)) }
                current.removeAll(keepingCapacity: true)
            }
        }
        while i < text.count {
            let byte = text[i]
            switch byte {
            case UInt8(ascii: "\\"):
                if i + 1 < text.count {
                    let next = text[i + 1]
                    if next == UInt8(ascii: "\n") { finishWord(); i += 2; continue }
                    if next == UInt8(ascii: "\r"), i + 2 < text.count, text[i + 2] == UInt8(ascii: "\n") {
                        finishWord(); i += 3; continue
                    }
                    if next == UInt8(ascii: " ") || next == UInt8(ascii: "#") || next == UInt8(ascii: "\\") {
                        current.append(next); i += 2; continue
                    }
                }
                current.append(byte)
            case UInt8(ascii: "$"):
                current.append(byte)
                if i + 1 < text.count, text[i + 1] == UInt8(ascii: "$") { i += 1 }
            case UInt8(ascii: " "), UInt8(ascii: "\t"):
                finishWord()
            case UInt8(ascii: "\n"):
                finishWord()
                if seenColon { return words }
            case UInt8(ascii: ":") where !seenColon:
                // A colon ends the target list when followed by white space or the end of the line.
                let atEnd = i + 1 >= text.count || [UInt8(ascii: " "), UInt8(ascii: "\t"), UInt8(ascii: "\n"),
                                                     UInt8(ascii: "\r")].contains(text[i + 1])
                if atEnd {
                    current.removeAll()
                    seenColon = true
                } else {
                    current.append(byte)
                }
            default:
                current.append(byte)
            }
            i += 1
        }
        finishWord()
        return words
    }

    /// Make's escaping of a target name, as the compiler writes a default target.
    public static func escapeTarget(_ path: String) -> [UInt8] {
        var out: [UInt8] = []
        for byte in path.utf8 {
            switch byte {
            case UInt8(ascii: " "), UInt8(ascii: "\t"), UInt8(ascii: "#"):
                out.append(UInt8(ascii: "\\"))
                out.append(byte)
            case UInt8(ascii: "$"):
                out.append(byte)
                out.append(byte)
            default:
                out.append(byte)
            }
        }
        return out
    }

    /// Splits a dependency file into its target prefix and the rest, when it starts with exactly `target:`;
    /// `nil` otherwise (then the file is not cached with a rewritten target).
    public static func splitTarget(_ text: [UInt8], target: [UInt8]) -> ArraySlice<UInt8>? {
        guard text.count > target.count, text.starts(with: target), text[target.count] == UInt8(ascii: ":") else {
            return nil
        }
        return text[target.count...]
    }
}

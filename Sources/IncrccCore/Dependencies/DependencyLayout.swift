/// How gcc and clang wrap the first rule of a dependency file. When a cached `.d` file is written for
/// another checkout, its paths change length and the compiler would have broken its lines elsewhere:
/// re-laying the rule out with the compiler's own column rule gives the bytes a fresh compile writes.
public enum DependencyLayout: Sendable {
    /// libcpp's `make_write`: a name goes on a new line (` \` newline, then one space) when the column
    /// before it plus its escaped length passes 72.
    case gcc
    /// clang's `DependencyFileGenerator`: 75 columns, room kept for a trailing ` \`; targets continue after
    /// two spaces, prerequisites after one, and a prerequisite's unescaped length is what counts.
    case clang

    public init?(_ family: CompilerFamily) {
        switch family {
        case .gcc: self = .gcc
        case .clang: self = .clang
        default: return nil
        }
    }

    /// `text` with its first rule laid out again; nil when the first rule cannot be read.
    public func rewrap(_ text: [UInt8]) -> [UInt8]? {
        guard let rule = DependencyRule(text) else { return nil }
        var out: [UInt8] = []
        out.reserveCapacity(text.count + 16)
        switch self {
        case .gcc:
            var column = 0
            func write(_ name: [UInt8]) {
                if column > 0 {
                    if column + name.count > 72 {
                        out += Array(" \\\n".utf8)
                        column = 0
                    }
                    column += 1
                    out.append(UInt8(ascii: " "))
                }
                column += name.count
                out += name
            }
            for target in rule.targets { write(target) }
            out.append(UInt8(ascii: ":"))
            column += 1
            for prerequisite in rule.prerequisites { write(prerequisite) }
        case .clang:
            var columns = 0
            for target in rule.targets {
                if columns == 0 {
                    columns = target.count
                } else if columns + target.count + 2 > 75 {
                    columns = target.count + 2
                    out += Array(" \\\n  ".utf8)
                } else {
                    columns += target.count + 1
                    out.append(UInt8(ascii: " "))
                }
                out += target
            }
            out.append(UInt8(ascii: ":"))
            columns += 1
            for prerequisite in rule.prerequisites {
                let length = DependencyRule.unescapedLength(prerequisite)
                if columns + length + 1 + 2 > 75 {
                    out += Array(" \\\n ".utf8)
                    columns = 2
                }
                out.append(UInt8(ascii: " "))
                out += prerequisite
                columns += length + 1
            }
        }
        out.append(UInt8(ascii: "\n"))
        out += rule.rest
        return out
    }
}

/// The first rule of a dependency file as escaped words, and what follows it.
struct DependencyRule {
    var targets: [[UInt8]] = []
    var prerequisites: [[UInt8]] = []
    var rest: ArraySlice<UInt8> = []

    init?(_ text: [UInt8]) {
        var word: [UInt8] = []
        var seenColon = false
        var i = 0
        func finishWord() {
            guard !word.isEmpty else { return }
            if seenColon { prerequisites.append(word) } else { targets.append(word) }
            word.removeAll(keepingCapacity: true)
        }
        while i < text.count {
            let byte = text[i]
            if byte == UInt8(ascii: "\\"), i + 1 < text.count {
                if text[i + 1] == UInt8(ascii: "\n") {
                    finishWord()
                    i += 2
                    continue
                }
                word += [byte, text[i + 1]]
                i += 2
                continue
            }
            switch byte {
            case UInt8(ascii: " "), UInt8(ascii: "\t"):
                finishWord()
            case UInt8(ascii: "\n"):
                finishWord()
                guard seenColon else { return nil }
                rest = text[(i + 1)...]
                return
            case UInt8(ascii: ":") where !seenColon && (i + 1 == text.count || [UInt8(ascii: " "), UInt8(ascii: "\n")].contains(text[i + 1])):
                finishWord()
                seenColon = true
            default:
                word.append(byte)
            }
            i += 1
        }
        return nil
    }

    /// A name's length as the compiler had it before escaping (`\ `, `\#`, `$$` are one byte each).
    static func unescapedLength(_ word: [UInt8]) -> Int {
        var length = 0
        var i = 0
        while i < word.count {
            let escaped = i + 1 < word.count && (word[i] == UInt8(ascii: "$")
                ? word[i + 1] == UInt8(ascii: "$")
                : word[i] == UInt8(ascii: "\\") && (word[i + 1] == UInt8(ascii: " ") || word[i + 1] == UInt8(ascii: "#")))
            if escaped {
                i += 2
            } else {
                i += 1
            }
            length += 1
        }
        return length
    }
}

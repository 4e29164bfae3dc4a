import Glibc

/// `@file` arguments, expanded as gcc (libiberty's `expandargv`/`buildargv`) and clang (LLVM's GNU
/// tokenizer) read them: white space separates arguments; single and double quotes group, also in the
/// middle of an argument; a backslash takes the next character as it is, inside quotes too; `""` is an
/// empty argument. A compile is keyed by, and runs with, the expanded arguments.
///
/// A response file may name another: gcc resolves its name against the working directory, clang against
/// the including file's directory, so it is followed where the two agree (an absolute name, or an
/// including file named without a directory) up to `maximumDepth`.
///
/// Whatever the two might read differently runs uncached, with the original command line: a file that
/// cannot be read (gcc then takes `@name` as an argument), an unterminated quote or a trailing backslash,
/// a nested name the two would resolve apart, and a cycle.
public enum ResponseFiles {
    /// The largest response file read: CMake's and Ninja's are a few kilobytes.
    static let maximumSize = 1 << 20

    /// How deep response files may name one another.
    static let maximumDepth = 8

    public static func expand(_ arguments: [String]) -> [String]? {
        guard arguments.contains(where: { $0.hasPrefix("@") }) else { return arguments }
        return expand(arguments, including: nil, depth: 0)
    }

    /// `including`: the response file these arguments come from (nil: the command line).
    static func expand(_ arguments: [String], including: String?, depth: Int) -> [String]? {
        var expanded: [String] = []
        for argument in arguments {
            guard argument.hasPrefix("@") else {
                expanded.append(argument)
                continue
            }
            let path = String(argument.dropFirst())
            guard !path.isEmpty, depth < maximumDepth else { return nil }
            if let including, !path.hasPrefix("/"), including.contains("/") { return nil }
            guard let status = try? FileSystem.status(path), status.isRegularFile,
                  status.size <= Int64(maximumSize), let bytes = try? FileSystem.readFile(path),
                  let tokens = tokenize(bytes), let inner = expand(tokens, including: path, depth: depth + 1)
            else { return nil }
            expanded += inner
        }
        return expanded
    }

    /// The arguments of a response file's text; nil where it does not parse exactly.
    static func tokenize(_ bytes: [UInt8]) -> [String]? {
        var tokens: [String] = []
        var current: [UInt8] = []
        var inToken = false
        var quote: UInt8? = nil
        var index = 0
        while index < bytes.count {
            let byte = bytes[index]
            index += 1
            if byte == UInt8(ascii: "\\") {
                guard index < bytes.count else { return nil }
                current.append(bytes[index])
                index += 1
                inToken = true
            } else if let open = quote {
                if byte == open { quote = nil } else { current.append(byte) }
            } else if byte == UInt8(ascii: "'") || byte == UInt8(ascii: "\"") {
                quote = byte
                inToken = true
            } else if isSpace(byte) {
                if inToken {
                    guard let token = text(current) else { return nil }
                    tokens.append(token)
                    current = []
                    inToken = false
                }
            } else {
                current.append(byte)
                inToken = true
            }
        }
        guard quote == nil else { return nil }
        if inToken {
            guard let token = text(current) else { return nil }
            tokens.append(token)
        }
        return tokens
    }

    /// An argument's bytes as a string, when they survive the trip to the compiler's argv unchanged: no
    /// NUL, valid UTF-8.
    static func text(_ bytes: [UInt8]) -> String? {
        let text = String(decoding: bytes, as: UTF8.self)
        return !bytes.contains(0) && Array(text.utf8) == bytes ? text : nil
    }

    static func isSpace(_ byte: UInt8) -> Bool {
        byte == 0x20 || (0x09...0x0d).contains(byte)
    }
}

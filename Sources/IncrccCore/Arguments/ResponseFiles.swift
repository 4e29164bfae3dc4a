import Glibc

/// `@file` arguments, expanded as gcc (libiberty's `expandargv`/`buildargv`) and clang (LLVM's GNU
/// tokenizer) read them: white space separates arguments; single and double quotes group, also in the
/// middle of an argument; a backslash takes the next character as it is, inside quotes too; `""` is an
/// empty argument. A compile is keyed by, and runs with, the expanded arguments.
///
/// Whatever the two might read differently runs uncached, with the original command line: a file that
/// cannot be read (gcc then takes `@name` as an argument), an unterminated quote or a trailing backslash,
/// and a response file named inside another (gcc resolves it against the working directory, clang
/// against the including file's).
public enum ResponseFiles {
    /// The largest response file read: CMake's and Ninja's are a few kilobytes.
    static let maximumSize = 1 << 20

    public static func expand(_ arguments: [String]) -> [String]? {
        guard arguments.contains(where: { $0.hasPrefix("@") }) else { return arguments }
        var expanded: [String] = []
        for argument in arguments {
            guard argument.hasPrefix("@") else {
                expanded.append(argument)
                continue
            }
            let path = String(argument.dropFirst())
            guard !path.isEmpty, let status = try? FileSystem.status(path), status.isRegularFile,
                  status.size <= Int64(maximumSize), let bytes = try? FileSystem.readFile(path),
                  let tokens = tokenize(bytes), !tokens.contains(where: { $0.hasPrefix("@") }) else { return nil }
            expanded += tokens
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

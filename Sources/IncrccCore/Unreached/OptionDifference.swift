/// What differs between the preprocessor options a stored result was compiled with and a call's, once each
/// difference has been found harmless on its face; whether it reaches a file is checked against the files
/// (`MentionedIdentifiers`, and the include spellings for directories).
public struct OptionDifference: Equatable, Sendable {
    /// Macros whose `-D`/`-U` operations differ.
    public var macroNames: [String] = []
    /// Directories in one search and not the other (or in another list): each must hold none of the
    /// headers the files name, so every include resolves as before.
    public var directories: [String] = []
    /// The options as the call has them, for messages.
    public var described: [String] = []

    public var isEmpty: Bool { macroNames.isEmpty && directories.isEmpty }

    /// The differences in one line, for messages.
    public var summary: String { described.joined(separator: ", ") }

    /// The differences, or why they cannot be let through whatever the files say.
    public static func between(stored: PreprocessorOptions, current: PreprocessorOptions)
        -> Result<OptionDifference, Refusal> {
        var difference = OptionDifference()
        var names: [String] = []
        for macro in stored.macros + current.macros where !names.contains(macro.name) { names.append(macro.name) }
        for name in names {
            let before = stored.macros.filter { $0.name == name }
            let after = current.macros.filter { $0.name == name }
            guard before != after else { continue }
            func shown(_ operations: [MacroOperation]) -> String {
                operations.isEmpty ? "nothing" : operations.map { ($0.isDefinition ? "-D" : "-U") + $0.text }.joined(separator: " ")
            }
            let described = after.isEmpty ? "\(shown(before)) dropped" : "\(shown(after)) (was \(shown(before)))"
            difference.described.append(described)
            if let reason = MacroNameRules.refusal(name: name, operations: before, after) {
                return .failure(Refusal(option: described, reason: reason))
            }
            difference.macroNames.append(name)
        }
        let storedSet = Set(stored.directories)
        let currentSet = Set(current.directories)
        var moved: [String] = []
        for directory in stored.directories + current.directories
        where storedSet.contains(directory) != currentSet.contains(directory) && !moved.contains(directory.path) {
            moved.append(directory.path)
        }
        let keptBefore = stored.directories.filter { !moved.contains($0.path) }
        let keptAfter = current.directories.filter { !moved.contains($0.path) }
        if keptBefore != keptAfter {
            return .failure(Refusal(option: "the include directories", reason: "their order changed"))
        }
        for path in moved {
            let lists = current.directories.filter { $0.path == path }.map(\.list)
            difference.described.append(lists.isEmpty ? "\(path) left the include search"
                                        : lists.map { "\($0) \(path)" }.joined(separator: " "))
        }
        difference.directories = moved
        return .success(difference)
    }

    /// An option difference that must stay a different key.
    public struct Refusal: Error, Equatable, Sendable {
        public var option: String
        public var reason: String
    }
}

/// Which macro differences can be let through at all. A command-line definition the compiler complains
/// about (a bad name, a redefinition, a body that does not lex, a builtin or keyword) prints a diagnostic
/// that no file mentions, so only plain object-like macros with clean bodies are.
enum MacroNameRules {
    /// Keywords of C and C++ (and C++'s alternative operator names, which cannot be macros there).
    static let keywords: Set<String> = [
        "auto", "break", "case", "char", "const", "continue", "default", "do", "double", "else", "enum", "extern",
        "float", "for", "goto", "if", "inline", "int", "long", "register", "restrict", "return", "short", "signed",
        "sizeof", "static", "struct", "switch", "typedef", "union", "unsigned", "void", "volatile", "while", "bool",
        "true", "false", "alignas", "alignof", "asm", "catch", "class", "constexpr", "consteval", "constinit",
        "const_cast", "decltype", "delete", "dynamic_cast", "explicit", "export", "friend", "mutable", "namespace",
        "new", "noexcept", "nullptr", "operator", "private", "protected", "public", "reinterpret_cast", "requires",
        "static_assert", "static_cast", "template", "this", "thread_local", "throw", "try", "typeid", "typename",
        "using", "virtual", "wchar_t", "char8_t", "char16_t", "char32_t", "concept", "co_await", "co_return",
        "co_yield", "typeof", "typeof_unqual", "and", "and_eq", "bitand", "bitor", "compl", "not", "not_eq", "or",
        "or_eq", "xor", "xor_eq", "override", "final", "import", "module", "defined",
    ]

    static func refusal(name: String, operations before: [MacroOperation], _ after: [MacroOperation]) -> String? {
        let bytes = Array(name.utf8)
        guard let first = bytes.first, (first | 0x20) >= UInt8(ascii: "a"), (first | 0x20) <= UInt8(ascii: "z"),
              bytes.allSatisfy({ isIdentifierByte($0) && $0 < 0x80 && $0 != UInt8(ascii: "$") }) else {
            return "\(name) is not a plain identifier"
        }
        if keywords.contains(name) { return "\(name) is a keyword" }
        if before.count > 1 || after.count > 1 { return "\(name) is defined or undefined more than once" }
        for operation in before + after where operation.isDefinition {
            if operation.isFunctionLike { return "\(name) is a function-like macro" }
            if !bodyLexesCleanly(operation.body) { return "the definition of \(name) may not lex cleanly" }
        }
        return nil
    }

    @inline(__always)
    static func isIdentifierByte(_ byte: UInt8) -> Bool {
        (byte >= UInt8(ascii: "a") && byte <= UInt8(ascii: "z")) || (byte >= UInt8(ascii: "A") && byte <= UInt8(ascii: "Z"))
            || (byte >= UInt8(ascii: "0") && byte <= UInt8(ascii: "9")) || byte == UInt8(ascii: "_")
            || byte == UInt8(ascii: "$") || byte >= 0x80
    }

    /// No control characters, no `#` (a misplaced `##` is an error at the definition), no comment
    /// openers, every string and character literal closed, no trailing backslash.
    static func bodyLexesCleanly(_ body: Substring) -> Bool {
        let bytes = Array(body.utf8)
        var index = 0
        while index < bytes.count {
            let byte = bytes[index]
            if byte < 0x20 || byte == 0x7f || byte == UInt8(ascii: "#") || byte == UInt8(ascii: "\\") { return false }
            if byte == UInt8(ascii: "/"), index + 1 < bytes.count,
               bytes[index + 1] == UInt8(ascii: "*") || bytes[index + 1] == UInt8(ascii: "/") {
                return false
            }
            if byte == UInt8(ascii: "\"") || byte == UInt8(ascii: "'") {
                index += 1
                while index < bytes.count, bytes[index] != byte {
                    if bytes[index] < 0x20 { return false }
                    index += bytes[index] == UInt8(ascii: "\\") ? 2 : 1
                }
                if index >= bytes.count { return false }
            }
            index += 1
        }
        return true
    }
}

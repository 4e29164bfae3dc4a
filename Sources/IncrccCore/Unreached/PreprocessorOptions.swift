/// One `-D` or `-U` of a command line, in order.
public struct MacroOperation: Equatable, Sendable {
    public var isDefinition: Bool
    /// The name, up to `=` or `(`.
    public var name: String
    /// The whole text after `-D`/`-U` (normalized): what decides the definition.
    public var text: String
    /// `-DF(x)=…`: a function-like macro.
    public var isFunctionLike: Bool { text.utf8.dropFirst(name.utf8.count).first == UInt8(ascii: "(") }
    /// The replacement text: after `=`, or `1` when none is given.
    public var body: Substring {
        guard isDefinition, let equals = text.firstIndex(of: "=") else { return isDefinition ? "1" : "" }
        return text[text.index(after: equals)...]
    }
}

/// One directory of the include search, with the list it sits in (`-I`, `-iquote`, `CPATH`, …): the list
/// decides where it is searched and whether its headers are system headers.
public struct SearchDirectory: Hashable, Sendable {
    public var list: String
    public var path: String
}

/// The options that only steer the preprocessor — macros and include directories, from the command line and
/// from `CPATH` and friends — taken out of a call, and what is left of its key. Two calls that differ only
/// here compile the same bytes when the differences reach nothing the compiler reads
/// (`UnreachedOptions`).
public struct PreprocessorOptions: Equatable, Sendable {
    public var macros: [MacroOperation] = []
    public var directories: [SearchDirectory] = []
    /// The keyed arguments without the options above.
    public var remaining: [String] = []
    /// Why differences in these options can never be let through for this call (an option that records
    /// them in the output, or reads them in a way not modelled here); nil when they can.
    public var blocker: String?

    /// Variables whose directories join the search: keyed as directories, not as text.
    public static let searchVariables = ["CPATH", "C_INCLUDE_PATH", "CPLUS_INCLUDE_PATH", "OBJC_INCLUDE_PATH",
                                         "OBJCPLUS_INCLUDE_PATH"]

    static let directoryOptions = ["-isystem", "-iquote", "-idirafter", "-I"]

    public init() {}

    /// Takes the call's keyed arguments and variables apart; paths and values normalized by `normalize`.
    public init(arguments: [String], environment: [Environment.Variable], language: SourceLanguage,
                normalize: (String) -> String) {
        if !language.isPreprocessed || language.isHeader {
            // A precompiled header holds the macros themselves.
            blocker = "the call writes a precompiled header or reads no headers"
        }
        var index = 0
        while index < arguments.count {
            let argument = arguments[index]
            let separate = index + 1 < arguments.count && ArgumentClassifier.takesValue(argument)
            let value = separate ? arguments[index + 1] : nil
            if let reason = Self.blockingReason(argument) { blocker = blocker ?? reason }
            if argument.hasPrefix("-D") || argument.hasPrefix("-U"), argument.count > 2 || value != nil {
                let text = argument.count > 2 ? String(argument.dropFirst(2)) : value ?? ""
                let name = String(text.prefix { $0 != "=" && $0 != "(" })
                macros.append(MacroOperation(isDefinition: argument.hasPrefix("-D"), name: name, text: normalize(text)))
                index += argument.count > 2 ? 1 : 2
                continue
            }
            if argument != "-I-", let option = Self.directoryOptions.first(where: { argument.hasPrefix($0) }),
               argument.count > option.count || value != nil {
                let path = argument.count > option.count ? String(argument.dropFirst(option.count)) : value ?? ""
                // `=dir` and `$SYSROOT/dir` are found under the sysroot: not where this reads them.
                if path.hasPrefix("=") || path.hasPrefix("$") { blocker = blocker ?? "\(option)\(path) is under the sysroot" }
                directories.append(SearchDirectory(list: option, path: normalize(path)))
                index += argument.count > option.count ? 1 : 2
                continue
            }
            remaining.append(argument)
            if let value { remaining.append(value) }
            index += separate ? 2 : 1
        }
        for variable in environment where Self.searchVariables.contains(variable.name) {
            for part in variable.value.split(separator: ":", omittingEmptySubsequences: false) {
                directories.append(SearchDirectory(list: variable.name, path: part.isEmpty ? "." : normalize(String(part))))
            }
        }
    }

    /// Options under which a changed macro or directory shows in the output although no file mentions it, or
    /// which define macros and directories in a way this model does not follow.
    static func blockingReason(_ argument: String) -> String? {
        let exact: Set<String> = [
            "-fdebug-macro", "-grecord-command-line", "-grecord-gcc-switches",
            "-frecord-command-line", "-frecord-gcc-switches", "-I-", "-v", "-dD", "-dM", "-dN", "-dI", "-dU",
            "-traditional", "-traditional-cpp", "-fpreprocessed", "-Wmissing-include-dirs", "-Weverything",
            "-Werror=missing-include-dirs", "-Xpreprocessor", "-Xclang", "-trigraphs",
        ]
        if exact.contains(argument) { return "\(argument) is on" }
        for prefix in ["-Wp,", "--define-macro", "--undefine-macro", "--include-directory", "-fmodule", "-fembed-bitcode",
                       "-imultilib", "-iprefix", "-iwithprefix", "--sysroot", "-isysroot", "@"]
        where argument.hasPrefix(prefix) {
            return "\(argument) is on"
        }
        // Macro information: `-g3`, `-ggdb3`, `-gstabs3` and the like (`-gdwarf-3` is a DWARF version).
        if argument.hasPrefix("-g"), argument.hasSuffix("3"), !argument.hasPrefix("-gdwarf") { return "\(argument) is on" }
        return nil
    }

    /// The stored form of the macros and directories (the remaining arguments are in the key).
    func writeDefinition(to writer: inout ByteWriter) {
        writer.write(UInt64(macros.count))
        for macro in macros {
            writer.write(macro.isDefinition ? 1 as UInt8 : 0)
            writer.write(macro.name)
            writer.write(macro.text)
        }
        writer.write(UInt64(directories.count))
        for directory in directories {
            writer.write(directory.list)
            writer.write(directory.path)
        }
    }

    static func readDefinition(from reader: inout ByteReader) throws(MalformedEntry) -> PreprocessorOptions {
        var options = PreprocessorOptions()
        let macroCount = try reader.readCount(minimumItemSize: 1 + 16)
        for _ in 0..<macroCount {
            let kind = try reader.readUInt8()
            guard kind <= 1 else { throw MalformedEntry("macro kind") }
            options.macros.append(MacroOperation(isDefinition: kind == 1, name: try reader.readString(),
                                                 text: try reader.readString()))
        }
        let directoryCount = try reader.readCount(minimumItemSize: 16)
        for _ in 0..<directoryCount {
            options.directories.append(SearchDirectory(list: try reader.readString(), path: try reader.readString()))
        }
        return options
    }
}

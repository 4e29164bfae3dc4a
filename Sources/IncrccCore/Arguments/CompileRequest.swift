/// The language a source is compiled as, named as `-x` names it.
public enum SourceLanguage: String, Sendable {
    case c = "c"
    case cxx = "c++"
    case objc = "objective-c"
    case objcxx = "objective-c++"
    case preprocessedC = "cpp-output"
    case preprocessedCxx = "c++-cpp-output"
    case assembler = "assembler"
    case assemblerWithCpp = "assembler-with-cpp"
    /// A header compiled into a precompiled header (gcc's `.gch`).
    case cHeader = "c-header"
    case cxxHeader = "c++-header"
    /// A C++20 module unit (clang's `-x c++-module`, `.cppm`): besides its object, `-fmodule-output` writes
    /// its compiled interface (BMI).
    case cxxModule = "c++-module"
    /// Objects and libraries linked into a program (`cc a.o b.o -lm -o prog`): no compile, only the link.
    /// Never a `-x` language: the first input stands as the call's source.
    case objectCode = "object"

    /// The language gcc infers from a file's extension; `nil` for headers, objects and unknown files.
    public static func forExtension(_ ext: String) -> SourceLanguage? {
        switch ext {
        case "c": return .c
        case "i": return .preprocessedC
        case "cc", "cp", "cxx", "cpp", "CPP", "c++", "C": return .cxx
        case "ii": return .preprocessedCxx
        case "m": return .objc
        case "mm", "M": return .objcxx
        case "s": return .assembler
        case "S", "sx": return .assemblerWithCpp
        case "h": return .cHeader
        case "hh", "hp", "hxx", "hpp", "HPP", "h++", "H", "tcc": return .cxxHeader
        // clang 16 takes `.cppm` alone as a module unit (`.ixx` and `.mpp` are linker inputs to it).
        case "cppm": return .cxxModule
        default: return nil
        }
    }

    /// Whether the preprocessor runs, so headers (and a dependency file) are involved.
    public var isHeader: Bool { self == .cHeader || self == .cxxHeader }

    public var isPreprocessed: Bool {
        switch self {
        case .preprocessedC, .preprocessedCxx, .assembler, .objectCode: return false
        default: return true
        }
    }
}

/// Dependency-file output the user asked for (`-MD`/`-MMD`).
public struct DependencyFileRequest: Equatable, Sendable {
    /// `-MMD`: only non-system headers are listed, so the cache needs its own complete list too.
    public var omitsSystemHeaders: Bool
    /// Where the file goes (`-MF`, or derived from the output name as the compiler does).
    public var path: String
    /// Whether `-MT`/`-MQ` named the target; otherwise it is the object path and is rewritten on a hit.
    public var hasExplicitTarget: Bool
    /// `-MF /dev/null`: nothing to store or write; the cache's own list comes from a dependency pass.
    public var isDiscarded: Bool { path == "/dev/null" }
}

/// Include search options given on the command line, in the order the compiler searches them.
public struct IncludeSearchOptions: Equatable, Sendable {
    public var quoteDirectories: [String] = []
    public var bracketDirectories: [String] = []
    public var systemDirectories: [String] = []
    public var afterDirectories: [String] = []
    /// Options that change the compiler's built-in directories (-nostdinc, --sysroot, -m32, -target, …).
    public var builtinAffectingArguments: [String] = []
    public var noStandardIncludes = false
}

/// One `old=new` path prefix rewrite for debug info.
public struct PrefixMap: Equatable, Sendable {
    public var old: String
    public var new: String
}

extension CompileRequest {
    /// The current directory as it ends up in the output: rewritten by the one prefix map that matches it;
    /// as it is when none or several match (which one wins differs between compilers: keep the raw path).
    public func directoryAsWritten(_ cwd: String) -> String {
        guard directoryIsOnlyInDebugInfo else { return cwd }
        let matching = prefixMaps.filter { cwd == $0.old || cwd.hasPrefix($0.old.hasSuffix("/") ? $0.old : $0.old + "/") }
        guard matching.count == 1, let map = matching.first else { return cwd }
        return map.new + cwd.dropFirst(map.old.count)
    }
}

/// One cacheable compile, as classified from the command line.
public struct CompileRequest: Sendable {
    /// The arguments after the compiler name, exactly as given.
    public var arguments: [String]
    public var source: String
    public var language: SourceLanguage
    public var output: String
    public var producesAssembly: Bool
    /// No object is kept: `-o /dev/null`, or `-fsyntax-only`, which writes none.
    public var discardsObject = false
    /// `-fprofile-use`: the profile it reads is an input (`ProfileUse.path`).
    public var profileUse: ProfileUse?
    /// Debug information is on (it may hold the working directory).
    public var debugInfo = false
    /// `-fprofile-arcs` and the like: the object names its data file by absolute path.
    public var profileArcs = false
    /// `-Wp,-MD,FILE`: the compilers name the dependency target differently (`adapted(to:)`).
    public var dependencyFileNamesOutput: Bool { preprocessorDependency != nil }
    /// `-MT`/`-MQ` targets in command-line order; empty: the target is the object path.
    public var dependencyTargets: [DependencyTarget] = []

    public struct DependencyTarget: Sendable {
        public var name: String
        /// `-MQ`: quoted for Make.
        public var quoted: Bool
    }

    /// The dependency file's target as the compiler writes it: the `-MT`/`-MQ` targets joined by a space,
    /// `-MQ`'s quoted for Make (gcc's documented rule), else the object path quoted. A miss whose file does
    /// not start with exactly this is not stored.
    public var dependencyTargetText: [UInt8] {
        guard !dependencyTargets.isEmpty else { return DependencyFile.escapeTarget(output) }
        var text: [UInt8] = []
        for (index, target) in dependencyTargets.enumerated() {
            if index > 0 { text.append(UInt8(ascii: " ")) }
            text += target.quoted ? DependencyFile.escapeTarget(target.name) : Array(target.name.utf8)
        }
        return text
    }

    /// How a `-Wp,-MD,FILE` call was written, for `adapted(to:)`.
    public var preprocessorDependency: PreprocessorDependency?

    public struct PreprocessorDependency: Sendable {
        /// `-MD`/`-MMD` given to the driver as well.
        public var driverOption: Bool
        /// Nothing else keys the output path (no split DWARF, coverage or profile data).
        public var onlyReasonForOutputPath: Bool
    }
    /// The arguments that decide the output, in order: everything but the output and dependency-file paths.
    public var keyedArguments: [String]
    public var dependencyFile: DependencyFileRequest?
    public var splitDwarfOutput: String?
    /// Whether every compiler writes the `.dwo` for these options (otherwise: only when it did).
    public var splitDwarfIsCertain = true
    public var coverageNotesOutput: String?
    public var stackUsageOutput: String?
    public var callgraphInfoOutput: String?
    /// `-Wa,-a…=FILE`: the assembler's listing, written where the option names it.
    public var assemblerListingOutput: String?
    /// `-Wl,-Map=FILE` of a link of objects: the linker's map.
    public var linkMapOutput: String?
    public var includeSearch = IncludeSearchOptions()
    /// The current directory can reach the output (debug info, coverage notes, profile data paths).
    public var outputDependsOnDirectory: Bool
    /// Only debug info carries it, so a prefix map rewrites it there.
    public var directoryIsOnlyInDebugInfo: Bool
    /// `-fdebug-prefix-map=` / `-ffile-prefix-map=` in command-line order.
    public var prefixMaps: [PrefixMap]
    /// The output path itself is written into the object (`-gsplit-dwarf`, coverage data paths).
    public var outputDependsOnOutputPath: Bool
    /// Diagnostics colors were chosen on the command line; otherwise incrcc decides from its stderr.
    public var hasExplicitColorOption: Bool
    /// What gcc's spelling of the colour options (which clang takes too) last asked for: for gcc and clang it
    /// is left out of the key, the result stored coloured and shown as asked, as ccache does. nil: none.
    public var colorChoice: ColorChoice? = nil
    /// One source compiled and linked into the program `output` (`LinkOptions` says which).
    public var links = false
    /// C++20 modules: the compiled interfaces this call writes and reads (`ModuleOptions`).
    public var modules = ModuleOptions()

    /// Whether the call reads files no dependency list names in full (a link's inputs, compiled module
    /// interfaces): only the strategies whose entries record those serve it.
    public var readsBeyondHeaders: Bool { links || modules.isUsed }

    public enum ColorChoice: Sendable { case always, never, auto }

    /// Whether `argument` is gcc's spelling of a colour option.
    static func isGCCColorOption(_ argument: String) -> Bool {
        argument.hasPrefix("-fdiagnostics-color") || argument == "-fno-diagnostics-color"
    }
    /// `-march=native` and the like: the host CPU decides the output.
    public var dependsOnHostCPU: Bool
}

extension CompileRequest {
    /// The keyed arguments as options with their separate value, where the classifier says they take one.
    func forEachKeyedOption(_ body: (_ option: String, _ value: String?) -> Void) {
        var index = keyedArguments.startIndex
        while index < keyedArguments.endIndex {
            let argument = keyedArguments[index]
            if ArgumentClassifier.takesValue(argument), index + 1 < keyedArguments.endIndex {
                body(argument, keyedArguments[index + 1])
                index += 2
            } else {
                body(argument, nil)
                index += 1
            }
        }
    }

    /// `-include` and `-imacros` files, in command-line order: read before the source.
    public var forcedIncludes: [String] {
        var files: [String] = []
        forEachKeyedOption { option, value in
            if let value, option == "-include" || option == "-imacros" {
                files.append(value)
            } else if value == nil, option.count > 8,
                      (option.hasPrefix("-include") && !option.hasPrefix("-include-")) || option.hasPrefix("-imacros") {
                files.append(String(option.dropFirst(8)))
            }
        }
        return files
    }

    static let preprocessorOptions: Set<String> = ["-I", "-iquote", "-isystem", "-idirafter", "-D", "-U", "-include", "-imacros"]

    /// The options that decide what the preprocessor finds and defines, for a scan outside the compiler.
    public var preprocessorArguments: [String] {
        var kept: [String] = []
        forEachKeyedOption { option, value in
            if let value {
                if Self.preprocessorOptions.contains(option) { kept += [option, value] }
            } else if option.hasPrefix("-std=") || option == "-undef"
                        || ["-I", "-D", "-U", "-iquote", "-isystem", "-idirafter"].contains(where: { option.hasPrefix($0) }) {
                kept.append(option)
            }
        }
        return kept
    }

    /// The arguments to ask the compiler for its predefined macros with: everything keyed but what names
    /// files to read or write (forced includes are scanned as files, not remembered as macros).
    public var macroAffectingArguments: [String] {
        var kept: [String] = []
        forEachKeyedOption { option, value in
            if let value {
                if !["-include", "-imacros", "-x", "-MF", "-MT", "-MQ", "-o"].contains(option) { kept += [option, value] }
            } else if !(option == "-c" || option == "-S" || option == "-E" || option.hasPrefix("-M")
                        || option.hasPrefix("-include") || option.hasPrefix("-imacros") || option == source) {
                kept.append(option)
            }
        }
        return kept
    }
}

/// Where a command line lands: one cacheable compile, or the reason it runs uncached.
public enum Classification: Sendable {
    case cacheable(CompileRequest)
    case uncacheable(Counter)
}

extension CompileRequest {
    /// The request once the compiler's family is known. `-Wp,-MD,FILE` writes a dependency file whose
    /// target the compilers name differently (checked with gcc 12 and clang 16): clang after the object
    /// path; gcc after the source (`test.o` for `dir/test.c`), or after the object path when the driver
    /// has `-MD`/`-MMD` too; `-MT`/`-MQ` name it for both. Where the family says which, the output path
    /// leaves the key: a target named after the object is written for the call's object, as with `-MD`.
    /// For another compiler the file is stored as written and the output path keyed. gcc writes the `-MT`
    /// targets before the `-MQ` ones (`-MQ a -MT b` gives `b a:`), clang in command-line order.
    public func adapted(to family: CompilerFamily) -> CompileRequest {
        var copy = self
        if family == .gcc && dependencyTargets.contains(where: \.quoted) {
            copy.dependencyTargets = dependencyTargets.filter { !$0.quoted } + dependencyTargets.filter(\.quoted)
        }
        guard let written = preprocessorDependency, var dependency = dependencyFile else { return copy }
        if dependencyTargets.isEmpty {
            switch family {
            case .clang: dependency.hasExplicitTarget = false
            case .gcc: if written.driverOption { dependency.hasExplicitTarget = false }
            default: return copy
            }
        } else if family != .gcc && family != .clang {
            return copy
        }
        copy.dependencyFile = dependency
        if written.onlyReasonForOutputPath { copy.outputDependsOnOutputPath = false }
        return copy
    }
}

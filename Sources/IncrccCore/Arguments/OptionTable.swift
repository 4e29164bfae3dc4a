/// The option table: what each gcc/clang option takes, reads and writes, as the classifier consults it.
extension ArgumentClassifier {
    /// Options whose value is the next argument (they also accept a joined value where gcc does).
    /// A switch rather than a Set: building a Set of strings costs more than this compare on a hit.
    static func takesValue(_ option: String) -> Bool {
        switch option {
        case "-o", "-x", "-I", "-isystem", "-iquote", "-idirafter", "-include", "-imacros", "-D", "-U", "-MF", "-MT",
             "-MQ", "-L", "-l", "-Xlinker", "-Xassembler", "-Xpreprocessor", "-target", "-arch", "-aux-info",
             "-iprefix", "-iwithprefix", "-iwithprefixbefore", "-isysroot", "--sysroot", "-imultilib", "-u", "-T",
             "-z", "--param", "-mllvm", "-dumpdir", "-dumpbase", "-dumpbase-ext", "-B", "-iframework", "-F",
             "-Xclang", "-include-pch", "-ivfsoverlay", "--gcc-toolchain":
            return true
        default:
            return false
        }
    }

    /// Options with a joined value whose name is a prefix (`-Ifoo`, `-DX=1`).
    static let joinablePrefixes = ["-I", "-D", "-U", "-o", "-x", "-L", "-l", "-MF", "-MT", "-MQ", "-B", "-F"]

    /// Prefixes of options that read or write files incrcc does not track, or that produce outputs it does
    /// not store; such a compile runs uncached.
    static let unsupportedPrefixes = [
        "-save-temps", "-fdump-", "-include-pch", "-emit-pch",
        "-fprofile-instr-use", "-fprofile-sample-use", "-fauto-profile", "-fsanitize-blacklist",
        // Moves where `-fprofile-use` looks for its data by a map (`-fprofile-dir` and `-fprofile-prefix-path`
        // are followed: `ProfileUse`).
        "-fprofile-prefix-map",
        "-fsanitize-ignorelist", "-specs", "--specs", "-fplugin", "-Xclang", "-fmodules", "-fcxx-modules",
        "-fmodule-", "-fprebuilt-module", "-MG", "-ivfsoverlay", "-fstack-usage-file",
        "-ftime-report", "-fmem-report", "-frepo", "-iframework", "-fprofile-remapping-file", "-fdebug-types-section-file",
        "-fcreate-profile", "-fprofile-list", "-fxray-attr-list", "-fxray-always-instrument", "-fxray-never-instrument",
        "-fsave-optimization-record", "-foptimization-record-file", "-fopt-info", "-fcoverage-compilation-dir",
        "--serialize-diagnostics", "-serialize-diagnostics", "-gen-reproducer", "-ftime-trace", "-fdiagnostics-format=sarif",
        "-fsanitize-coverage-allowlist", "-fsanitize-coverage-ignorelist", "-fembed-bitcode",
        "-fprofile-note=", "-fauto-profile",
        // Write files beside the object that a hit would not restore.
        "-aux-info", "-MJ", "-save-stats", "-fproc-stat-report=",
        // Loads a pass plugin whose code shapes the object and is no input the key holds.
        "-fpass-plugin",
        // Move the names of the derived outputs (`.dwo`, `.gcno`, `.su`) away from the object's.
        "-dumpdir", "-dumpbase",
    ]

    /// Whether an assembler option (one item of `-Wa,` or `-Xassembler`) names a file the assembler reads or
    /// writes besides its input and output: listings into a file (`-a…=FILE`, `--MD FILE`), include
    /// directories for `.include`/`.incbin`, other outputs and option files. Listings without a file go to
    /// stdout, which a hit replays.
    static func assemblerOptionNamesFile(_ item: Substring) -> Bool {
        if item.hasPrefix("-a") { return item.contains("=") }
        return item.hasPrefix("--MD") || item.hasPrefix("-o") || item.hasPrefix("-I") || item.hasPrefix("@")
    }

    /// Whether an LLVM option (the value of `-mllvm`) may read or write a file: statistics and remarks into
    /// files (`-info-output-file=`, `-pass-remarks-output=`), profiles and lists read from them. Options
    /// that only tune passes or print to stderr stay cacheable.
    static func llvmOptionNamesFile(_ value: String) -> Bool {
        let name = (value.split(separator: "=", maxSplits: 1).first ?? "").lowercased()
        return value.hasPrefix("@") || ["file", "output", "dir", "path", "profile", "remarks", "list"].contains(where: name.holds)
    }

    /// Options that change which built-in include directories the compiler searches.
    static let builtinAffectingPrefixes = [
        "-nostdinc", "--sysroot", "-isysroot", "-m32", "-m64", "-mx32", "-target", "--target", "-stdlib=",
        "--gcc-toolchain", "-B", "-nostdlibinc", "-nobuiltininc", "-imultilib",
    ]

    /// `true` for options that turn debug info on, `false` for -g0, `nil` for modifiers (-gz, -gno-…,
    /// -gsplit-dwarf, which alone does not enable debug info).
    static func debugLevelChange(_ arg: String) -> Bool? {
        guard arg.hasPrefix("-g") else { return nil }
        if arg == "-g0" || arg == "-ggdb0" || arg == "-gline-tables-only0" { return false }
        let enabling = ["-g", "-ggdb", "-gdwarf", "-gstabs", "-gxcoff", "-gvms", "-gbtf", "-gctf", "-gline-tables-only",
                        "-gline-directives-only", "-gfull", "-gused", "-glldb", "-gsce", "-gcodeview"]
        if arg.count == 3, let level = arg.last, level.isNumber { return true }
        for name in enabling where arg == name || (arg.hasPrefix(name) && name != "-g") { return true }
        return nil
    }

    /// Splits `-Ifoo` / `-I foo` / `--sysroot=x` into name and value; `nil` for options without a value.
    func splitOption(_ arg: String, next: String?) -> (String, String, Int)? {
        if Self.takesValue(arg) {
            guard let next else { return nil }
            return (arg, next, 2)
        }
        if arg.hasPrefix("--sysroot=") { return ("--sysroot", String(arg.dropFirst(10)), 1) }
        if arg.hasPrefix("-isystem") && arg.count > 8 { return ("-isystem", String(arg.dropFirst(8)), 1) }
        if arg.hasPrefix("-iquote") && arg.count > 7 { return ("-iquote", String(arg.dropFirst(7)), 1) }
        if arg.hasPrefix("-idirafter") && arg.count > 10 { return ("-idirafter", String(arg.dropFirst(10)), 1) }
        for prefix in Self.joinablePrefixes where arg.hasPrefix(prefix) && arg.count > prefix.count {
            // -MD/-MMD/-MP are flags, not -M with a value; -I- is obsolete but a flag too.
            if prefix == "-MF" || prefix == "-MT" || prefix == "-MQ" || !arg.hasPrefix("-M") {
                return (prefix, String(arg.dropFirst(prefix.count)), 1)
            }
        }
        return nil
    }
}

/// Hits across header edits that change no token (`TokenText`): white space, comments that move lines,
/// lines joined or split, and `#define`/`#undef` lines of macros nothing else names. ccache's
/// preprocessed text changes with every moved line (its line markers), so it misses these.
///
/// What the compilers make of a token's line and column, from gcc's and clang's manuals, and why each is
/// excluded here:
/// - debug information (every `-g` form, and the assembler's own `-Wa,-g`/`--gdwarf`): refused, with all
///   `-Wa,`/`-Xassembler` options;
/// - `__LINE__`, the one predefined macro that expands to a line: refused when the changed header's code
///   can expand it (directly, or through the bodies of macros it names, transitively); an expansion
///   elsewhere gets the line of its own file, which did not move;
/// - `__builtin_LINE`, `__builtin_COLUMN`, `__builtin_source_location` (`std::source_location`): as a
///   default argument they take the caller's place, which may be in the changed header: refused when any
///   file of the unit names them;
/// - locations the compiler records itself: sanitizers (`-fsanitize=`, their reports hold file, line and
///   column), OpenMP/OpenACC (clang's `ident_t` strings), LTO (gcc streams locations into its IR),
///   coverage and profiles (refused by `skeletonsApply`), `-fstack-usage`/`-fcallgraph-info` files,
///   `-fverbose-asm`, optimization records and dumps;
/// - diagnostics: the stored result must have printed nothing (checked by the caller), so no warning's
///   line or column could differ.
///
/// `#line` only sets the lines that follow it, which the rule treats as any other line. A changed
/// definition is harmless when its macro is named nowhere else in the unit (no file, no `-D` value, not
/// pasteable from runs that are), is not predefined (a redefinition warns) and has one definition line.
extension CachedCompile {
    /// Names whose value is a token's line or column.
    static let placeNames = ["__builtin_LINE", "__builtin_COLUMN", "__builtin_source_location"]

    /// Why this call's object may depend on where tokens stand; nil when it cannot.
    func placesReachObject(_ call: Call) -> String? {
        if request.debugInfo { return "debug information records lines" }
        let refused = ["-fsanitize", "-flto", "-fopenmp", "-fopenacc", "-fverbose-asm", "-Wa,", "-Xassembler", "-fstack-usage",
                       "-fcallgraph-info", "-fdump-", "-fopt-info", "-fsave-optimization-record", "-ftime-trace",
                       "-fprofile", "-fcoverage", "--coverage", "-ftest-coverage", "-fdebug", "-gsplit", "-gline",
                       "-gcolumn", "-gdwarf", "-ggdb", "-gz", "-Xclang"]
        if let option = request.keyedArguments.first(where: { argument in refused.contains { argument.hasPrefix($0) } }) {
            return "\(option) records where tokens stand"
        }
        if request.keyedArguments.contains(where: { $0.hasPrefix("-g") && $0 != "-g0" }) {
            return "debug information records lines"
        }
        return nil
    }

    /// Why the header at `index` of `entry`, now `bytes` with the same tokens as the entry's version (and
    /// `changed` definitions), may not compile alike; nil when it compiles alike.
    func tokenEditRefusal(_ entry: ManifestEntry, _ index: Int, _ bytes: [UInt8], changed: [String], _ call: Call) -> String? {
        if let reason = placesReachObject(call) { return reason }
        var all = MentionedIdentifiers(separatingDefinitions: true)
        var own = MentionedIdentifiers(separatingDefinitions: true)
        own.add(bytes, origin: request.source)
        all.add(bytes, origin: "the header")
        all.add(call.source, origin: request.source)
        for (other, file) in entry.files.enumerated() where other != index && !file.isVariable {
            let path = call.mapping.restore(file.path)
            guard let text = try? FileSystem.readFile(path) else { return "\(path) cannot be read" }
            all.add(text, origin: path)
        }
        if let unreadable = all.unreadable { return unreadable }
        if all.live(from: own).mentions("__LINE__") { return "its code may expand __LINE__" }
        let everywhere = all.live()
        if let name = Self.placeNames.first(where: everywhere.mentions) { return "the unit may use \(name)" }
        guard !changed.isEmpty else { return nil }
        let flags = PreprocessorOptions(arguments: request.macroAffectingArguments, environment: [],
                                        language: request.language, normalize: { $0 }).remaining
        guard let predefined = CompilerMacros.names(compiler: call.compiler, language: request.language, flags: flags,
                                                    cacheDirectory: store.directory) else {
            return "the compiler's predefined macros are unknown"
        }
        let arguments = request.keyedArguments + call.key.environment.map(\.value)
        for name in changed {
            if name.hasPrefix("_") || MacroNameRules.keywords.contains(name) || predefined.contains(name) {
                return "the definition of \(name), a reserved or predefined name, changed"
            }
            if arguments.contains(where: { $0.holds(name) }) { return "the definition of \(name), named by an option, changed" }
            if all.definitionCount(name) > 1 { return "\(name) is defined more than once" }
            if all.mentionedOutsideDefinitions(name) { return "the definition of \(name), which the unit names, changed" }
        }
        return nil
    }
}

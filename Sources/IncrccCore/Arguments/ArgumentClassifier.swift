/// Reads a gcc/clang command line (without the compiler itself) and decides whether it is one cacheable
/// compile. Anything it is not sure about runs uncached: a miss costs time, a wrong object costs trust.
public struct ArgumentClassifier {
    public init() {}

    public func classify(_ arguments: [String]) -> Classification {
        var compileOnly = false
        var assembly = false
        var preprocessOnly = false
        var dependencyOnly = false
        var explicitLanguage: SourceLanguage?
        var sources: [String] = []
        var languages: [SourceLanguage] = []
        var output: String?
        var mdKind: Bool?  // true: -MMD, false: -MD
        var depFile: String?
        var colorChoice: CompileRequest.ColorChoice?
        var colorKeyed = false
        var keyed: [String] = []
        var search = IncludeSearchOptions()
        var debugInfo = false
        var prefixMaps: [PrefixMap] = []
        var splitDwarf = false
        var coverageNotes = false
        var profileArcs = false
        var stackUsage = false
        var callgraphInfo = false
        /// `-Wa,-a…=FILE`: the assembler's listing file.
        var listing: String?
        var lto = false
        var explicitColor = false
        var hostCPU = false
        var preprocessorDependencyFile = false
        var explicitDependencyFile = false
        var targets: [CompileRequest.DependencyTarget] = []
        var driverDependencyOption = false
        var syntaxOnly = false
        /// Where gcc and clang look for profile data; used when `readsProfile`.
        var profileUse = ProfileUse(value: nil)
        var readsProfile = false
        var otherInputs = 0
        var otherInputPaths: [String] = []
        var modules = ModuleOptions()
        var moduleOutputAsked = false
        var index = 0

        func value(at i: Int) -> String? { i + 1 < arguments.count ? arguments[i + 1] : nil }

        while index < arguments.count {
            let arg = arguments[index]
            if arg.hasPrefix("@") { return .uncacheable(.responseFile) }
            if arg == "-" { return .uncacheable(.stdinInput) }
            guard arg.hasPrefix("-") else {
                if let language = explicitLanguage ?? SourceLanguage.forExtension(Path.fileExtension(arg)) {
                    sources.append(arg)
                    languages.append(language)
                } else {
                    otherInputs += 1
                    otherInputPaths.append(arg)
                }
                index += 1
                continue
            }
            if ModuleOptions.mayBeOption(arg), let option = ModuleOptions.Option(arg) {
                switch option {
                case .output(let path):
                    moduleOutputAsked = true
                    modules.interfaceOutput = path
                    // The interface's name decides nothing in it: only the flag's presence is keyed.
                    keyed.append("-fmodule-output")
                case .precompile:
                    modules.precompiles = true
                    keyed.append(arg)
                case .file(let file):
                    modules.files.append(file)
                    keyed.append(arg)
                case .keyedOnly:
                    keyed.append(arg)
                case .gccModules:
                    return .uncacheable(.gccModules)
                }
                index += 1
                continue
            }
            for prefix in Self.unsupportedPrefixes where arg.hasPrefix(prefix) {
                return .uncacheable(.unsupportedCompilerOption)
            }
            if arg.hasPrefix("-Wp,") {
                // Kbuild's `-Wp,-MMD,dir/.x.o.d`, and defines passed straight to the preprocessor.
                let items = arg.dropFirst(4).split(separator: ",", omittingEmptySubsequences: false)
                if items.count == 2, items[0] == "-MD" || items[0] == "-MMD", !items[1].isEmpty {
                    mdKind = items[0] == "-MMD"
                    depFile = String(items[1])
                    // gcc names the target after the source, clang after the output: the file is stored as
                    // written, and the output path keyed.
                    preprocessorDependencyFile = true
                    keyed.append(String(items[0]))
                    index += 1
                    continue
                }
                guard !items.isEmpty, items.allSatisfy({ ($0.hasPrefix("-D") || $0.hasPrefix("-U")) && $0.count > 2 })
                else { return .uncacheable(.unsupportedCompilerOption) }
                keyed.append(arg)
                index += 1
                continue
            }
            if arg.hasPrefix("-Wa,"), arg.dropFirst(4).split(separator: ",").contains(where: Self.assemblerOptionNamesFile) {
                // One listing into a file (`-a…=FILE`) is an output of the call, restored by a hit; its name is
                // no input (keyed as a placeholder). Anything else naming a file, or a second listing, is not
                // followed.
                var items = arg.dropFirst(4).split(separator: ",", omittingEmptySubsequences: false).map(String.init)
                for (position, item) in items.enumerated() where Self.assemblerOptionNamesFile(Substring(item)) {
                    guard item.hasPrefix("-a"), let equals = item.firstIndex(of: "="), listing == nil,
                          item.index(after: equals) < item.endIndex else {
                        return .uncacheable(.unsupportedCompilerOption)
                    }
                    listing = String(item[item.index(after: equals)...])
                    items[position] = String(item[...equals]) + "(listing)"
                }
                keyed.append("-Wa," + items.joined(separator: ","))
                index += 1
                continue
            }
            if arg == "-mllvm" || arg.hasPrefix("-mllvm="),
               Self.llvmOptionNamesFile(arg == "-mllvm" ? value(at: index) ?? "@" : String(arg.dropFirst(7))) {
                return .uncacheable(.unsupportedCompilerOption)
            }
            if arg == "-Xassembler", let v = value(at: index), Self.assemblerOptionNamesFile(Substring(v)) {
                return .uncacheable(.unsupportedCompilerOption)
            }
            if arg.hasSuffix("=native") { hostCPU = true }
            for prefix in Self.builtinAffectingPrefixes where arg.hasPrefix(prefix) {
                search.builtinAffectingArguments.append(arg)
                if Self.takesValue(arg), let v = value(at: index) {
                    search.builtinAffectingArguments.append(v)
                }
                if arg == "-nostdinc" { search.noStandardIncludes = true }
            }

            // Options taking a value, separate or joined.
            if let (name, optionValue, width) = splitOption(arg, next: value(at: index)) {
                switch name {
                case "-o":
                    output = optionValue
                case "-MF":
                    depFile = optionValue
                    explicitDependencyFile = true
                case "-x":
                    explicitLanguage = optionValue == "none" ? nil : SourceLanguage(rawValue: optionValue)
                    if optionValue != "none" && explicitLanguage == nil { return .uncacheable(.unsupportedSourceLanguage) }
                    keyed.append(name)
                    keyed.append(optionValue)
                case "-MT", "-MQ":
                    // The targets are written into the dependency file only: left out of the key, and the
                    // file is stored without them and written with this call's (as ccache does).
                    targets.append(CompileRequest.DependencyTarget(name: optionValue, quoted: name == "-MQ"))
                    keyed.append(name + "(target)")
                default:
                    switch name {
                    case "-I": search.bracketDirectories.append(optionValue)
                    case "-isystem": search.systemDirectories.append(optionValue)
                    case "-iquote": search.quoteDirectories.append(optionValue)
                    case "-idirafter": search.afterDirectories.append(optionValue)
                    default: break
                    }
                    keyed.append(name)
                    keyed.append(optionValue)
                }
                index += width
                continue
            }
            if Self.takesValue(arg) {
                // A value option at the end of the line: let the compiler report it.
                return .uncacheable(.badCompilerArguments)
            }

            switch arg {
            case "-c": compileOnly = true
            case "-fsyntax-only": syntaxOnly = true
            case "-S": assembly = true
            case "-E": preprocessOnly = true
            case "-M", "-MM": dependencyOnly = true
            case "-MD": mdKind = false; driverDependencyOption = true
            case "-MMD": mdKind = true; driverDependencyOption = true
            case "-gsplit-dwarf": splitDwarf = true
            case "--coverage": coverageNotes = true; profileArcs = true
            case "-ftest-coverage": coverageNotes = true
            case "-fprofile-arcs", "-fprofile-generate", "-fprofile-instr-generate", "-fcoverage-mapping": profileArcs = true
            case "-fstack-usage": stackUsage = true
            case "-fcallgraph-info": callgraphInfo = true
            case "-fno-lto": lto = false
            default: break
            }
            if arg.hasPrefix("-fcallgraph-info=") { callgraphInfo = true }
            if arg == "-flto" || arg.hasPrefix("-flto=") { lto = true }
            if arg.hasPrefix("-fprofile-generate=") || arg.hasPrefix("-fprofile-instr-generate=") { profileArcs = true }
            if arg == "-fprofile-use" || arg == "-fbranch-probabilities" { readsProfile = true }
            if arg.hasPrefix("-fprofile-use=") {
                readsProfile = true
                profileUse.value = String(arg.dropFirst(14))
                profileUse.dataDirectory = profileUse.value
            }
            for option in ["-fprofile-dir=", "-fprofile-generate="] where arg.hasPrefix(option) {
                profileUse.dataDirectory = String(arg.dropFirst(option.count))
                profileUse.directoryFromOtherOption = true
            }
            if arg.hasPrefix("-fprofile-prefix-path=") { profileUse.prefixPath = String(arg.dropFirst(22)) }
            if let enables = Self.debugLevelChange(arg) { debugInfo = enables }
            for option in ["-fdebug-prefix-map=", "-ffile-prefix-map="] where arg.hasPrefix(option) {
                let mapping = arg.dropFirst(option.count)
                if let eq = mapping.firstIndex(of: "=") {
                    prefixMaps.append(PrefixMap(old: String(mapping[..<eq]), new: String(mapping[mapping.index(after: eq)...])))
                }
            }
            if arg.hasPrefix("-fdiagnostics-color") || arg.hasPrefix("-fno-diagnostics-color")
                || arg == "-fcolor-diagnostics" || arg == "-fno-color-diagnostics" {
                explicitColor = true
            }
            switch arg {
            case "-fdiagnostics-color", "-fdiagnostics-color=always": colorChoice = .always
            case "-fno-diagnostics-color", "-fdiagnostics-color=never": colorChoice = .never
            case "-fdiagnostics-color=auto": colorChoice = .auto
            case "-fcolor-diagnostics", "-fno-color-diagnostics": colorKeyed = true
            default: if arg.hasPrefix("-fdiagnostics-color=") { colorKeyed = true }
            }
            keyed.append(arg)
            index += 1
        }

        if preprocessOnly { return .uncacheable(.calledForPreprocessing) }
        if modules.precompiles {
            // `--precompile` writes the interface alone; with `-c` or `-S` as well, which one wins is the
            // driver's business: not followed.
            if compileOnly || assembly || syntaxOnly || moduleOutputAsked { return .uncacheable(.unsupportedCompilerOption) }
            compileOnly = true
        }
        // `-M`/`-MM` (a dependency list instead of an object): an option ccache counts as unsupported.
        if dependencyOnly && mdKind == nil { return .uncacheable(.unsupportedCompilerOption) }
        // A header is compiled, never linked: `gcc pch.h` writes `pch.h.gch` as `gcc -c pch.h` does.
        if (syntaxOnly || languages.contains(where: \.isHeader)) && !compileOnly && !assembly { compileOnly = true }
        // One source compiled and linked (a configure probe), or objects and libraries linked: cached when
        // `LinkOptions` follows every option.
        // Asked only of calls that link (never on a compile's path).
        let linkFollowed = !compileOnly && !assembly && !syntaxOnly && mdKind == nil && depFile == nil
            && LinkOptions.refusal(arguments) == nil
        let linksObjects = linkFollowed && sources.isEmpty && !otherInputPaths.isEmpty
            && otherInputPaths.allSatisfy(LinkOptions.isLinkInput)
        if linksObjects {
            // The first input stands as the source; every input is keyed by its place on the command line,
            // since the order decides the program.
            sources = [otherInputPaths[0]]
            languages = [.objectCode]
            keyed += otherInputPaths.dropFirst()
            otherInputs = 0
        }
        let links = linksObjects || linkFollowed && sources.count == 1 && otherInputs == 0
            && !languages.contains(where: \.isHeader)
        if !compileOnly && !assembly && !links {
            return .uncacheable(sources.isEmpty && otherInputs == 0 ? .noInputFile : .calledForLink)
        }
        // Objects, libraries, headers or unknown files handed to a compile.
        if otherInputs > 0 { return .uncacheable(.unsupportedSourceLanguage) }
        if sources.count > 1 { return .uncacheable(.multipleSourceFiles) }
        guard let source = sources.first, let language = languages.first else { return .uncacheable(.noInputFile) }
        if output == "-" { return .uncacheable(.outputToStdout) }
        if dependencyOnly { return .uncacheable(.unsupportedCompilerOption) }

        if language.isHeader && assembly { return .uncacheable(.unsupportedSourceLanguage) }
        let objectPath = output ?? (links ? "a.out" : language.isHeader ? source + ".gch"
            : Path.replacingExtension(Path.baseName(source), with: modules.precompiles ? "pcm" : assembly ? "s" : "o"))
        if modules.isUsed || moduleOutputAsked {
            // A module unit's interface comes with its object; clang writes none for another language, and
            // an interface of an assembly or syntax-only run is not followed.
            if moduleOutputAsked {
                guard language == .cxxModule, compileOnly, !assembly, !syntaxOnly, objectPath != "/dev/null" else {
                    return .uncacheable(.unsupportedCompilerOption)
                }
                if modules.interfaceOutput == nil { modules.interfaceOutput = Path.replacingExtension(objectPath, with: "pcm") }
            }
            if links || language != .cxx && language != .cxxModule { return .uncacheable(.unsupportedCompilerOption) }
        }
        var request = CompileRequest(
            arguments: arguments, source: source, language: language, output: objectPath,
            producesAssembly: assembly, keyedArguments: keyed, dependencyFile: nil,
            includeSearch: search,
            outputDependsOnDirectory: debugInfo || coverageNotes || profileArcs,
            directoryIsOnlyInDebugInfo: debugInfo && !coverageNotes && !profileArcs, prefixMaps: prefixMaps,
            outputDependsOnOutputPath: splitDwarf || coverageNotes || profileArcs || preprocessorDependencyFile,
            hasExplicitColorOption: explicitColor && (colorKeyed || colorChoice == nil), dependsOnHostCPU: hostCPU)
        request.colorChoice = colorKeyed ? nil : colorChoice
        request.links = links
        request.modules = modules
        if modules.precompiles {
            // The interface records the working directory (bit-packed, so it cannot be patched).
            request.outputDependsOnDirectory = true
            request.directoryIsOnlyInDebugInfo = false
        }
        // The link leaves no place for a split or coverage output's derived name: kept simple.
        if links && (splitDwarf || coverageNotes || profileArcs || stackUsage || callgraphInfo || readsProfile || listing != nil) {
            return .uncacheable(.calledForLink)
        }
        if links, let map = LinkOptions.mapFile(arguments) {
            // The map names the program and every input as given, and for a compile-and-link call the
            // driver's temporary object, another each run: followed for links of objects only, keyed with
            // the program's path.
            guard linksObjects else { return .uncacheable(.calledForLink) }
            request.linkMapOutput = map
            request.outputDependsOnOutputPath = true
        }
        // Without a preprocessor run (assembly, `.i`), `-MD` writes nothing (gcc and clang).
        if !language.isPreprocessed { mdKind = nil; depFile = nil; preprocessorDependencyFile = false }
        if let omits = mdKind {
            let path = depFile ?? Path.replacingExtension(output ?? Path.baseName(source), with: "d")
            request.dependencyFile = DependencyFileRequest(omitsSystemHeaders: omits, path: path,
                                                           hasExplicitTarget: preprocessorDependencyFile && targets.isEmpty)
            request.dependencyTargets = targets
        } else if depFile != nil {
            // -MF without -MD/-MMD does nothing for a compile; keep it simple and let the compiler run.
            return .uncacheable(.unsupportedCompilerOption)
        }
        request.profileUse = readsProfile ? profileUse : nil
        request.debugInfo = debugInfo
        request.profileArcs = profileArcs
        if preprocessorDependencyFile {
            // Which file `-MF` and `-Wp,-MD,FILE` together write differs between the compilers.
            if explicitDependencyFile { return .uncacheable(.unsupportedCompilerOption) }
            request.preprocessorDependency = CompileRequest.PreprocessorDependency(
                driverOption: driverDependencyOption, onlyReasonForOutputPath: !(splitDwarf || coverageNotes || profileArcs))
        }
        request.discardsObject = syntaxOnly || objectPath == "/dev/null"
        if request.discardsObject && (splitDwarf || coverageNotes || stackUsage || callgraphInfo) {
            return .uncacheable(.unsupportedCompilerOption)
        }
        if let listing {
            // Without the assembler (`-S`, `-fsyntax-only`) no listing is written: not followed.
            if assembly || syntaxOnly { return .uncacheable(.unsupportedCompilerOption) }
            request.assemblerListingOutput = listing
        }
        if splitDwarf && !assembly {
            // gcc writes it only with debug info; clang also for a bare -gsplit-dwarf, so without -g it is
            // taken when the compile wrote it.
            request.splitDwarfOutput = Path.replacingExtension(objectPath, with: "dwo")
            request.splitDwarfIsCertain = debugInfo
        }
        if coverageNotes && !assembly { request.coverageNotesOutput = Path.replacingExtension(objectPath, with: "gcno") }
        // With `-flto` the object holds the compiler's intermediate code: stack usage and the call graph are
        // written at link time, not by this compile (gcc 12).
        if stackUsage && !assembly && !lto { request.stackUsageOutput = Path.replacingExtension(objectPath, with: "su") }
        if callgraphInfo && !assembly && !lto {
            request.callgraphInfoOutput = Path.replacingExtension(objectPath, with: "ci")
        }
        return .cacheable(request)
    }
}

extension CompileRequest {
    /// The command line for a dependency-only pass (`-M -MF path`): the same preprocessing, no object, no
    /// user dependency options. Used when the user's `-MMD` file leaves out system headers.
    public func dependencyScanArguments(writingTo path: String) -> [String] {
        argumentsWithoutOutputs() + ["-M", "-MF", path]
    }
}

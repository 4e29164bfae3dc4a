import Glibc

/// `incrcc explain [--format json] COMPILER ARGS…`: whether the call would hit, and if not, what stands in
/// the way — the reason it is uncacheable, a key nothing was stored under, for each stored way this call
/// went the first thing that differs now (a header's content, a header gone, a candidate header that
/// appeared, a variable the result read), and for compiles of the same call under other macros or include
/// directories the option that differs and whether a file reads it. Nothing is compiled.
struct Explanation {
    var compile: CachedCompile

    /// What `explain` says: a verdict and the lines that lead to it.
    struct Report {
        enum Verdict: String { case hit, compile, uncacheable }
        var verdict: Verdict = .compile
        var directKey: String?
        var lines: [String] = []

        func json() -> String {
            func quoted(_ text: String) -> String {
                var out = "\""
                for scalar in text.unicodeScalars {
                    switch scalar {
                    case "\"": out += "\\\""
                    case "\\": out += "\\\\"
                    case "\n": out += "\\n"
                    default:
                        if scalar.value < 0x20 {
                            let hex = String(scalar.value, radix: 16)
                            out += "\\u" + String(repeating: "0", count: 4 - hex.count) + hex
                        } else {
                            out.unicodeScalars.append(scalar)
                        }
                    }
                }
                return out + "\""
            }
            var fields = ["  \"verdict\": " + quoted(verdict.rawValue)]
            if let directKey { fields.append("  \"direct_key\": " + quoted(directKey)) }
            fields.append("  \"reasons\": [" + lines.map { "\n    " + quoted($0) }.joined(separator: ",")
                          + (lines.isEmpty ? "]" : "\n  ]"))
            return "{\n" + fields.joined(separator: ",\n") + "\n}\n"
        }
    }

    func report() -> Report {
        var report = Report()
        let call: CachedCompile.Call
        switch compile.prepareCall() {
        case .success(let value): call = value
        case .failure(let reason):
            report.verdict = .uncacheable
            report.lines = ["uncacheable: \(reason.key) (\(reason.label))"]
            return report
        }
        report.directKey = call.directKey.hex
        if !call.mapping.isEmpty { report.lines.append("paths normalized: \(call.mapping.pairs.count) ephemeral part(s)") }
        let store = compile.store
        var manifestFound = false
        let keyed: [(String, CachedCompile.Call)] = [("", call)]
            + (call.boundToCheckout.map { [("keyed by this checkout: ", $0)] } ?? [])
            + (call.realPaths.map { [("keyed by these real paths: ", $0)] } ?? [])
        for (prefix, candidate) in keyed {
            guard let payload = store.read(candidate.directKey, kind: .manifest), let manifest = try? Manifest.decode(payload)
            else { continue }
            manifestFound = true
            let matcher = ManifestMatcher(mapping: candidate.mapping, variable: compile.lookup)
            for (index, entry) in manifest.entries.enumerated() {
                let label = prefix + "entry \(index + 1) of \(manifest.entries.count) (result \(entry.result.hex))"
                if let difference = matcher.firstDifference(entry) {
                    switch compile.acrossSkippedGroups(entry, matcher, candidate) {
                    case .success(let proof) where proof.commentsOnly && !compile.printedNothing(entry.result):
                        report.lines.append("\(label): \(difference), only in comments, but its result printed "
                                            + "diagnostics, which quote the edited lines")
                    case .success(let proof) where store.holds(entry.result, kind: .result):
                        let rule = proof.commentsOnly ? "in comments and trailing blanks"
                            : "in conditional groups the preprocessor skips"
                        report.lines.append("\(label): \(difference), but only \(rule): the call would hit")
                        report.verdict = .hit
                        return report
                    case .failure(let refusal):
                        report.lines.append("\(label): \(refusal.reason ?? difference)")
                    case .success:
                        report.lines.append("\(label): \(difference)")
                    }
                } else if let stored = store.read(entry.result, kind: .result).flatMap({ try? CachedResult.decode($0) }) {
                    if let obstacle = compile.moveObstacle(stored, entry.result, candidate) {
                        report.lines.append("\(label): matches, but \(obstacle)")
                        continue
                    }
                    report.lines.append("\(label): matches: the call would hit")
                    report.verdict = .hit
                    return report
                } else {
                    report.lines.append("\(label): matches, but its result is gone (evicted)")
                }
            }
        }
        if !manifestFound {
            report.lines.append("no manifest under this key: the compiler, options, variables and source content of "
                                + "this call were not compiled together before (or the entry was evicted)")
            if store.holds(call.directKey, kind: .scanIndex) { report.lines.append("a scan index exists for this key") }
        }
        if otherOptions(call, &report) { return report }
        report.lines.append("the call would compile")
        return report
    }

    /// Compiles of this call under other macros or include directories: what differs, and whether it
    /// reaches a file. True when one would serve the call.
    func otherOptions(_ call: CachedCompile.Call, _ report: inout Report) -> Bool {
        let options = compile.preprocessorOptions(call)
        guard let payload = compile.store.read(compile.looseKey(call, options), kind: .looseManifest),
              let loose = try? LooseManifest.decode(payload) else { return false }
        if let blocker = options.blocker {
            report.lines.append("compiled before under other macros or include directories, but \(blocker): "
                                + "they are keyed as written")
            return false
        }
        for candidate in loose.entries {
            switch compile.judge(candidate, options, call) {
            case .failure(let refusal):
                report.lines.append("compiled before with other options; differs in \(refusal.option): \(refusal.reason)")
            case .success(let proven) where compile.store.holds(candidate.entry.result, kind: .result):
                let what = proven.difference.summary
                if let stored = compile.store.read(candidate.entry.result, kind: .result).flatMap({ try? CachedResult.decode($0) }),
                   let obstacle = compile.moveObstacle(stored, candidate.entry.result, call) {
                    report.lines.append("compiled before with options no file reads, but \(obstacle)")
                    continue
                }
                report.lines.append("compiled before with other options; differs only in \(what), which no file reads: "
                                    + "the call would hit")
                report.verdict = .hit
                return true
            case .success:
                report.lines.append("compiled before with options no file reads, but its result is gone (evicted)")
            }
        }
        return false
    }
}

extension ManifestMatcher {
    /// What no longer holds for an entry, first found; nil when it matches.
    func firstDifference(_ entry: ManifestEntry) -> String? {
        for path in entry.absentPaths {
            let real = mapping.restore(path)
            if !isAbsent(real) { return "\(real) exists now and would be included instead" }
        }
        for file in entry.files {
            let single = ManifestEntry(files: [file], absentPaths: [], result: entry.result)
            guard !matches(single) else { continue }
            if file.path.utf8.first == 0 { return "variable \(file.path.dropFirst()) changed" }
            let real = mapping.restore(file.path)
            return FileSystem.exists(real) ? "\(real) changed" : "\(real) is gone"
        }
        return nil
    }
}

extension IncrccMain {
    /// Runs `incrcc explain`: `arguments` start with `--format json|text` or the compiler.
    static func explain(_ arguments: [String], configuration: Configuration, locator: CompilerLocator) -> Int32 {
        var arguments = arguments
        var json = false
        if let first = arguments.first, first == "--format" || first.hasPrefix("--format=") {
            let value = first == "--format" ? (arguments.count > 1 ? arguments[1] : "") : String(first.dropFirst(9))
            guard value == "json" || value == "text" else {
                Console.error(value.isEmpty ? "incrcc explain: --format needs json or text"
                                            : "incrcc explain: --format takes json or text, not '\(value)'")
                return 2
            }
            json = value == "json"
            arguments.removeFirst(first == "--format" ? min(2, arguments.count) : 1)
        }
        // A command line pasted whole: `incrcc gcc -c a.c` explains `gcc -c a.c`.
        while let first = arguments.first, Path.baseName(first) == "incrcc" || Path.baseName(first) == "incrcc++" {
            arguments.removeFirst()
        }
        guard let name = arguments.first else {
            Console.error("usage: incrcc explain [--format json|text] COMPILER [COMPILER OPTIONS]")
            return 2
        }
        guard let compilerPath = locator.locate(name) else {
            Console.error("incrcc explain: no compiler '\(name)' in PATH")
            return 2
        }
        var report = Explanation.Report()
        let classified = ResponseFiles.expand(Array(arguments.dropFirst())).map { ArgumentClassifier().classify($0) }
            ?? .uncacheable(.responseFile)
        switch classified {
        case .uncacheable(let reason):
            report.verdict = .uncacheable
            report.lines = ["uncacheable: \(reason.key) (\(reason.label))"]
        case .cacheable(let request):
            guard let cwd = FileSystem.logicalCurrentDirectory(pwd: Environment.value("PWD")) else { return 1 }
            let store = CacheStore(directory: configuration.cacheDirectory, compressionLevel: configuration.compressionLevel)
            var compile = CachedCompile(request: request, compilerPath: compilerPath, configuration: configuration,
                                        store: store, log: LogFile(path: ""), currentDirectory: cwd)
            // Only its name reaches a key (`DirectKeyInput.compiledThrough`).
            compile.prefix = configuration.compatibility.prefixCommand
            report = Explanation(compile: compile).report()
        }
        if json {
            print(report.json(), terminator: "")
        } else {
            if let key = report.directKey { print("direct key \(key)") }
            for line in report.lines { print(line) }
        }
        // As grep and diff do: 0 when the call would hit, 1 when it would compile or run uncached.
        return report.verdict == .hit ? 0 : 1
    }
}

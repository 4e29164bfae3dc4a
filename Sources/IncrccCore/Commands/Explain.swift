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
        if !call.mapping.pairs.isEmpty { report.lines.append("paths normalized: \(call.mapping.pairs.count) ephemeral part(s)") }
        if call.mapping.checkout != nil { report.lines.append("paths normalized: the checkout root under base_dir") }
        let configuration = compile.configuration
        if configuration.recache {
            report.lines.append("recache is set: the call would compile and store")
            return report
        }
        let calls = [call] + (call.boundToCheckout.map { [$0] } ?? [])
        // The strategies a call tries, in its order, each through the same find face the call uses.
        for strategy in LookupStrategy.order {
            if strategy != .shared && configuration.remote.remoteOnly {
                report.lines.append("\(strategy.name): not tried: remote_only is set")
                continue
            }
            if let disabled = compile.disabledReason(strategy) {
                report.lines.append("\(strategy.name): not tried: \(disabled)")
                continue
            }
            let notes = LookupNotes()
            let served = compile.find(strategy, calls, notes: notes) { _, candidate in
                if let obstacle = obstacle(candidate) {
                    notes.add("\(notes.subject): \(obstacle)")
                    return false
                }
                notes.add("\(notes.subject): the call would hit")
                return true
            }
            report.lines += notes.lines.map { "\(strategy.name): " + $0 }
            if served {
                report.verdict = .hit
                return report
            }
        }
        report.lines.append("the call would compile")
        return report
    }

    /// Why a found result would not be served as it is; nil when it would.
    func obstacle(_ candidate: LookupCandidate) -> String? {
        let payload = candidate.preloaded ?? compile.store.read(candidate.result, kind: .result)
        guard let payload, let stored = try? CachedResult.decode(payload) else {
            return "matches, but its result is gone (evicted)"
        }
        return compile.moveObstacle(stored, candidate.result, candidate.call).map { "matches, but " + $0 }
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

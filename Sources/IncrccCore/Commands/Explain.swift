import Glibc

/// `incrcc explain COMPILER ARGS…`: whether the call would hit, and if not, what stands in the way — the
/// reason it is uncacheable, a key nothing was stored under, or for each stored way this call went, the
/// first thing that differs now (a header's content, a header gone, a candidate header that appeared, a
/// variable the result read). Nothing is compiled.
struct Explanation {
    var compile: CachedCompile

    /// The lines to print.
    func lines() -> [String] {
        let call: CachedCompile.Call
        switch compile.prepareCall() {
        case .success(let value): call = value
        case .failure(let reason): return ["uncacheable: \(reason.key) (\(reason.label))"]
        }
        var lines = ["direct key \(call.directKey.hex)"]
        if !call.mapping.isEmpty { lines.append("paths normalized: \(call.mapping.pairs.count) ephemeral part(s)") }
        let store = compile.store
        guard let payload = store.read(call.directKey, kind: .manifest), let manifest = try? Manifest.decode(payload)
        else {
            lines.append("no manifest under this key: the compiler, options, variables and source content of this "
                         + "call were not compiled together before (or the entry was evicted)")
            if store.holds(call.directKey, kind: .scanIndex) { lines.append("a scan index exists for this key") }
            return lines
        }
        let matcher = ManifestMatcher(mapping: call.mapping, variable: compile.lookup)
        for (index, entry) in manifest.entries.enumerated() {
            let label = "entry \(index + 1) of \(manifest.entries.count) (result \(entry.result.hex))"
            if let difference = firstDifference(entry, matcher) {
                lines.append("\(label): \(difference)")
            } else if store.holds(entry.result, kind: .result) {
                lines.append("\(label): matches: the call would hit")
                return lines
            } else {
                lines.append("\(label): matches, but its result is gone (evicted): the call would compile")
            }
        }
        lines.append("no entry matches: the call would compile")
        return lines
    }

    /// What no longer holds for an entry, first found; nil when it matches.
    func firstDifference(_ entry: ManifestEntry, _ matcher: ManifestMatcher) -> String? {
        for path in entry.absentPaths {
            let real = matcher.mapping.restore(path)
            if !matcher.isAbsent(real) { return "\(real) exists now and would be included instead" }
        }
        for file in entry.files {
            let single = ManifestEntry(files: [file], absentPaths: [], result: entry.result)
            guard !matcher.matches(single) else { continue }
            if file.path.utf8.first == 0 { return "variable \(file.path.dropFirst()) changed" }
            let real = matcher.mapping.restore(file.path)
            return FileSystem.exists(real) ? "\(real) changed" : "\(real) is gone"
        }
        return nil
    }
}

extension IncrccMain {
    /// Runs `incrcc explain`: `arguments` start with the compiler.
    static func explain(_ arguments: [String], configuration: Configuration, locator: CompilerLocator) -> Int32 {
        guard let name = arguments.first, let compilerPath = locator.locate(name) else {
            Console.error("usage: incrcc explain COMPILER [COMPILER OPTIONS]; no compiler '\(arguments.first ?? "")' in PATH")
            return 2
        }
        let rest = Array(arguments.dropFirst())
        switch ArgumentClassifier().classify(rest) {
        case .uncacheable(let reason):
            print("uncacheable: \(reason.key) (\(reason.label))")
            return 0
        case .cacheable(let request):
            guard let cwd = FileSystem.logicalCurrentDirectory(pwd: Environment.value("PWD")) else { return 1 }
            let store = CacheStore(directory: configuration.cacheDirectory, compressionLevel: configuration.compressionLevel)
            let compile = CachedCompile(request: request, compilerPath: compilerPath, configuration: configuration,
                                        store: store, log: LogFile(path: ""), currentDirectory: cwd)
            for line in Explanation(compile: compile).lines() { print(line) }
            return 0
        }
    }
}

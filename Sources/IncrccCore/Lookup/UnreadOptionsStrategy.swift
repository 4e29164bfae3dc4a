import Glibc

/// Hits across preprocessor options that reach nothing the compiler reads: a version `-D` only one file
/// uses, an include directory that holds none of the included names. A miss records, beside the manifest,
/// a `LooseManifest` entry under the key without those options; a call whose own key misses compares
/// its options with each entry's and is served the entry's result when every difference is harmless:
///
/// - a macro that is defined or undefined differently is an object-like macro with a clean body, no
///   keyword, builtin or predefined name, and no file read, no `-D` value, mentions it or can paste it;
/// - a directory that entered or left the search holds none of the names any file includes (and no file
///   computes an include name), and the directories that stay keep their lists and order, so every
///   include resolves to the same file; the entry's headers must still match as in a plain lookup.
///
/// Options that put the macros or the command line in the output (`-g3`, `-grecord-command-line`, …)
/// block all of it (`PreprocessorOptions.blockingReason`).
extension CachedCompile {
    /// The call's preprocessor options, normalized as its key is.
    func preprocessorOptions(_ call: Call) -> PreprocessorOptions {
        PreprocessorOptions(arguments: call.key.request.keyedArguments, environment: call.key.environment,
                            language: request.language, normalize: call.mapping.normalize)
    }

    /// The call's key without its macros and include directories.
    func looseKey(_ call: Call, _ options: PreprocessorOptions) -> Digest {
        var key = call.key
        key.request.keyedArguments = options.remaining
        key.environment.removeAll { PreprocessorOptions.searchVariables.contains($0.name) }
        return key.digest(label: "incrcc loose key 1")
    }

    /// The find face: results compiled under other preprocessor options, where the difference reaches no file.
    func findAcrossUnreadOptions(_ call: Call, notes: LookupNotes?, consider: Consider) -> Bool {
        let options = preprocessorOptions(call)
        if let blocker = options.blocker {
            notes?.add("not tried: \(blocker), so macros and include directories are keyed as written")
            return false
        }
        guard let payload = store.read(looseKey(call, options), kind: .looseManifest),
              let loose = try? LooseManifest.decode(payload) else {
            notes?.add("no compile of this call under other macros or include directories")
            return false
        }
        for candidate in loose.entries {
            switch judge(candidate, options, call) {
            case .failure(let refusal):
                log.write("options differ from a stored compile's: \(refusal.option): \(refusal.reason)")
                notes?.add("compiled before with other options; differs in \(refusal.option): \(refusal.reason)")
            case .success(let proven):
                // Counted once, under what made the difference harmless: the options, or (same options) an
                // edit in skipped groups or comments.
                let counter = proven.difference.isEmpty ? proven.skipped?.kind.counter ?? .unreachedOptionHit : .unreachedOptionHit
                if let skipped = proven.skipped, proven.difference.isEmpty {
                    notes?.subject = "compiled before with these options; " + skipped.summary(call.mapping)
                } else {
                    notes?.subject = "compiled before with other options; differs only in \(proven.difference.summary), "
                        + "which no file reads" + (proven.skipped.map { "; " + $0.summary(call.mapping) } ?? "")
                }
                let found = LookupCandidate(
                    strategy: .unreadOptions, call: call, result: candidate.entry.result, counter: counter,
                    settlement: .directEntry(files: proven.skipped?.entry.files ?? candidate.entry.files,
                                             absentPaths: proven.absentPaths, skeleton: proven.skipped))
                if consider(self, found) {
                    log.write("served across options no file reads: " + proven.difference.summary)
                    return true
                }
            }
        }
        return false
    }

    /// What a harmless difference leaves for the call's own manifest entry: the absent paths of the
    /// directories it searches now, with those of directories it no longer searches left out.
    struct ProvenDifference {
        var difference: OptionDifference
        var absentPaths: [String]
        /// When a header of the entry changed, but only in groups the preprocessor skips.
        var skipped: SkippedGroupsProof?
    }

    /// Whether `candidate`'s result is what this call's compile would write; why not otherwise.
    func judge(_ candidate: LooseManifest.Entry, _ options: PreprocessorOptions, _ call: Call)
        -> Result<ProvenDifference, OptionDifference.Refusal> {
        let difference: OptionDifference
        switch OptionDifference.between(stored: candidate.options, current: options) {
        case .success(let value): difference = value
        case .failure(let refusal): return .failure(refusal)
        }
        let mapping = call.mapping
        let matcher = ManifestMatcher(mapping: mapping, variable: lookup)
        var absent = candidate.entry.absentPaths
        if !difference.directories.isEmpty {
            guard candidate.spellingsComplete else {
                return .failure(.init(option: difference.summary,
                                      reason: "a file computes the name it includes"))
            }
            let described = difference.summary
            let moved = Set(difference.directories)
            let names = candidate.spellings.filter { !$0.hasPrefix("/") && !$0.hasPrefix("\u{0}") }
            let nextNames = Set(candidate.spellings.filter { $0.hasPrefix("\u{0}") }.map { String($0.dropFirst()) })
            // Candidates in directories both searches share stay absent paths; those only in a directory
            // that left the search are dropped, those in one that joined it are added.
            func candidates(_ directories: Set<String>) -> Set<String> {
                var paths: Set<String> = []
                for directory in directories {
                    for name in names {
                        let path = Path.join(directory, name)
                        paths.formUnion([path, path + ".gch", path + ".pch"])
                    }
                }
                return paths
            }
            let dropped = candidates(moved).subtracting(candidates(Set(options.directories.map(\.path)).subtracting(moved)))
            absent.removeAll(where: dropped.contains)
            for directory in difference.directories {
                let searched = options.directories.contains { $0.path == directory }
                let search = searched ? options.directories : candidate.options.directories
                let real = mapping.restore(directory)
                for name in names {
                    let path = Path.join(real, name)
                    let present = [path, path + ".gch", path + ".pch"].filter { !matcher.isAbsent($0) }
                    if present.isEmpty {
                        if searched { absent += [mapping.normalize(path), mapping.normalize(path + ".gch")] }
                        continue
                    }
                    if nextNames.contains(name) || !foundEarlier(name, before: directory, in: search, moved: moved,
                                                                 mapping: mapping) {
                        return .failure(.init(option: described, reason: "\(present[0]) exists and could be included"))
                    }
                }
            }
        }
        let entry = ManifestEntry(files: candidate.entry.files, absentPaths: absent, result: candidate.entry.result)
        var skipped: SkippedGroupsProof?
        if !matcher.matches(entry) {
            // A header edited only where the preprocessor skips: as good as unchanged (the macros that
            // differ are checked against its new text below, and skipped text reads none of them).
            switch acrossSkippedGroups(entry, matcher, call) {
            case .success(let proof):
                if proof.kind != .skippedGroups, !printedNothing(entry.result) {
                    return .failure(.init(option: difference.summary,
                                          reason: "a header's comments changed and the result printed diagnostics"))
                }
                skipped = proof
            case .failure(let refusal):
                return .failure(.init(option: difference.summary,
                                      reason: refusal.reason ?? matcher.firstDifference(entry) ?? "a header changed"))
            }
        }
        if !difference.macroNames.isEmpty, let refusal = macrosUnmentioned(difference, candidate, options, call) {
            return .failure(refusal)
        }
        return .success(ProvenDifference(difference: difference, absentPaths: absent, skipped: skipped))
    }

    /// Whether a directory searched before `directory` by every include that reaches it, and in both
    /// searches, holds `name`: then the search stops there and never sees `directory`'s copy. gcc's order:
    /// `-iquote` (quoted includes only), `-I`, `CPATH`, `-isystem`, the `*_INCLUDE_PATH` variables, its own
    /// directories, `-idirafter`.
    func foundEarlier(_ name: String, before directory: String, in search: [SearchDirectory], moved: Set<String>,
                      mapping: PathMapping) -> Bool {
        func rank(_ list: String) -> Int {
            switch list {
            case "-iquote": return 0
            case "-I": return 1
            case "CPATH": return 2
            case "-isystem": return 3
            case "-idirafter": return 6
            default: return 4
            }
        }
        guard let target = search.firstIndex(where: { $0.path == directory }) else { return false }
        let targetRank = rank(search[target].list)
        for (index, earlier) in search.enumerated() where !moved.contains(earlier.path) {
            let earlierRank = rank(earlier.list)
            guard earlierRank < targetRank || (earlierRank == targetRank && index < target) else { continue }
            // A quote-only directory stops only quoted includes, unless the target is quote-only too.
            if earlierRank == 0 && targetRank != 0 { continue }
            if let status = try? FileSystem.statusIfExists(Path.join(mapping.restore(earlier.path), name)),
               status.isRegularFile {
                return true
            }
        }
        return false
    }

    /// Nil when no macro of `difference` is predefined by the compiler or mentioned by a file read.
    func macrosUnmentioned(_ difference: OptionDifference, _ candidate: LooseManifest.Entry,
                           _ options: PreprocessorOptions, _ call: Call) -> OptionDifference.Refusal? {
        let described = difference.summary
        let flags = PreprocessorOptions(arguments: request.macroAffectingArguments, environment: [],
                                        language: request.language, normalize: { $0 }).remaining
        guard let predefined = CompilerMacros.names(compiler: call.compiler, language: request.language, flags: flags,
                                                    cacheDirectory: store.directory) else {
            return .init(option: described, reason: "the compiler's predefined macros are unknown")
        }
        if let name = difference.macroNames.first(where: predefined.contains) {
            return .init(option: described, reason: "\(name) is predefined by the compiler")
        }
        var mentioned = MentionedIdentifiers()
        var texts: [(String, [UInt8])] = [(request.source, call.source)]
        for file in candidate.entry.files where !file.isVariable {
            let path = call.mapping.restore(file.path)
            if path.hasSuffix(".gch") || path.hasSuffix(".pch") {
                return .init(option: described, reason: "a precompiled header holds macros of its own")
            }
            guard let bytes = try? FileSystem.readFile(path) else {
                return .init(option: described, reason: "\(path) cannot be read")
            }
            texts.append((path, bytes))
        }
        for (path, bytes) in texts { mentioned.add(bytes, origin: path) }
        for macro in candidate.options.macros + options.macros { mentioned.add(Array(macro.body.utf8), origin: "-D") }
        if let unreadable = mentioned.unreadable { return .init(option: described, reason: unreadable) }
        if let name = difference.macroNames.first(where: mentioned.contains) {
            // Name the file for the message: the first that writes it out.
            for (path, bytes) in texts {
                var single = MentionedIdentifiers()
                single.add(bytes, origin: path)
                if single.contains(name) { return .init(option: described, reason: "\(name) is used by \(path)") }
            }
            return .init(option: described, reason: "\(name) is used by a -D value")
        }
        let pasteable = difference.macroNames.filter(mentioned.mentions)
        guard !pasteable.isEmpty else { return nil }
        // Written nowhere, but the files' names could paste it together (`CAT(VE,R)`; glibc's headers alone
        // hold pieces of most short names): gcc's own account of the macros it expands or tests decides.
        if let used = macrosUsedByPreprocessor(pasteable, options, family: call.compiler.family) {
            return used.isEmpty ? nil : .init(option: described, reason: "the preprocessor uses \(used.joined(separator: ", "))")
        }
        return .init(option: described, reason: "\(pasteable.joined(separator: ", ")) could be pasted together from names the files use")
    }

    /// Which of `names` the preprocessor expands or tests for this call; nil when that cannot be told.
    /// gcc says it with `-dU` (each name defined for the run, so one pasted together is expanded and
    /// shows); for another compiler, the output with every name undefined is compared with the output with
    /// each defined to a number no text holds: any expansion or test of one makes them differ.
    func macrosUsedByPreprocessor(_ names: [String], _ options: PreprocessorOptions,
                                  family: CompilerFamily) -> [String]? {
        let base = [compilerPath] + request.argumentsWithoutOutputs()
        if family == .gcc {
            let undefined = names.filter { name in options.macros.last { $0.name == name }?.isDefinition != true }
            guard let text = preprocessed(base + undefined.map { "-D" + $0 } + ["-dU"]) else { return nil }
            var used: Set<String> = []
            for line in text.split(separator: UInt8(ascii: "\n")) {
                let rest: ArraySlice<UInt8>
                if line.starts(with: "#define ".utf8) { rest = line.dropFirst(8) }
                else if line.starts(with: "#undef ".utf8) { rest = line.dropFirst(7) }
                else { continue }
                let name = String(decoding: rest.prefix { $0 != UInt8(ascii: " ") && $0 != UInt8(ascii: "(") }, as: UTF8.self)
                if names.contains(name) { used.insert(name) }
            }
            return names.filter(used.contains)
        }
        guard let without = preprocessed(base + names.map { "-U" + $0 }),
              let with = preprocessed(base + names.enumerated().map { "-D\($0.element)=0x7ed1c\($0.offset)" })
        else { return nil }
        return without == with ? [] : names
    }

    /// The preprocessor's output for `arguments`; nil when it fails.
    func preprocessed(_ arguments: [String]) -> [UInt8]? {
        let output = FileSystem.temporaryName(beside: store.temporaryDirectory + "/macros")
        let sink = output + ".log"
        defer {
            FileSystem.remove(output)
            FileSystem.remove(sink)
        }
        guard let status = try? ChildProcess.run(compilerPath, arguments + ["-E", "-o", output], stdoutPath: sink,
                                                 stderrPath: sink), status.succeeded else { return nil }
        return try? FileSystem.readFile(output)
    }

    /// Records a fresh compile under the key without its preprocessor options (a miss, after its manifest).
    func recordLooseEntry(_ call: Call, _ recorded: DependencyRecorder.Recording, entry: ManifestEntry) {
        let options = preprocessorOptions(call)
        guard options.blocker == nil else { return }
        var spellings: [String] = []
        var seen: Set<String> = []
        var complete = true
        for facts in recorded.read.values {
            if facts.references.fallback == .computedInclude { complete = false }
            for directive in facts.references.includes + facts.references.existenceTests {
                if seen.insert(directive.name).inserted { spellings.append(directive.name) }
                // `#include_next` continues after the directory its includer came from: marked, since a
                // directory earlier in the search does not stop it.
                if directive.isNext, seen.insert("\u{0}" + directive.name).inserted { spellings.append("\u{0}" + directive.name) }
            }
        }
        spellings += request.forcedIncludes.filter { seen.insert($0).inserted }
        let key = looseKey(call, options)
        var loose = store.read(key, kind: .looseManifest).flatMap { try? LooseManifest.decode($0) } ?? LooseManifest()
        loose.add(LooseManifest.Entry(options: options, spellings: spellings, spellingsComplete: complete, entry: entry))
        do {
            try store.write(key, kind: .looseManifest, payload: loose.encode())
        } catch {
            log.write("cannot record the entry without preprocessor options: \(error)")
        }
    }
}

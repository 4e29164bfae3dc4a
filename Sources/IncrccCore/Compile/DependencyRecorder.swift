import Glibc

/// Turns the compiler's dependency list into a manifest entry's facts: each file's digest and stat, and
/// the absent include candidates that would shadow them.
struct DependencyRecorder {
    var request: CompileRequest
    var compilerPath: String
    var compiler: CompilerIdentity
    var store: CacheStore
    var facts: FileFactsStore
    var temporaryDirectory: String
    var lookup: (String) -> String?
    var compatibility = CompatibilitySettings()
    /// The call's ephemeral path parts: a header that holds one is keyed by its normalized text.
    var mapping = PathMapping()
    /// The compiled module interfaces the compile read (as named and absolute), recorded apart (`ModuleInputs`): the
    /// dependency list's mention of one is left to that record. A BMI it names that is not among them
    /// means the list of BMIs is incomplete, and nothing is stored.
    var moduleFiles: Set<String> = []
    /// The call's working directory, for `ignore_headers_in_manifest` entries named relative to it.
    var currentDirectory = ""

    struct Recording {
        var files: [RecordedFile]
        var absentPaths: [String]
        /// What was read of every file, the source included: the scan that indexes the result reuses it.
        var read: [String: FileFacts] = [:]
        /// The compiler's own include directories the probes were searched with.
        var builtin: [String] = []
        /// `__DATE__`/`__TIME__` was read: the result holds `SOURCE_DATE_EPOCH`'s value or today's date.
        var readsEpoch = false
    }

    /// A file's digest as the manifest records it: over its text with this call's ephemeral path parts
    /// replaced by their placeholders when it holds any (a generated `config.h` with `#define DATADIR
    /// "/nix/store/<hash>-foo/share"` keys alike after the store path moves; any other difference is still
    /// a difference), else over its bytes. Parts the mapping does not know stay raw, and so does a file
    /// whose text cannot be normalized reversibly (it holds a placeholder's letters already). Nil when the
    /// file cannot be read as it was hashed.
    func keyedDigest(of path: String, raw: Digest) -> Digest? {
        guard !mapping.pairs.isEmpty else { return raw }
        guard let bytes = try? FileSystem.readFile(path), Digest.of(bytes) == raw else { return nil }
        guard let normalized = mapping.normalizeReversibly(bytes) else { return raw }
        return normalized == bytes ? raw : Digest.of(normalized)
    }

    /// What a manifest records of a variable's value (absent and empty differ).
    static func variableDigest(_ value: String?) -> Digest {
        value.map { Digest.of(Array(("=" + $0).utf8)) } ?? Digest(high: 0, low: 0)
    }

    /// The time macros a file may use, against the clock the call compiles under; nil when acceptable.
    func timeMacroProblem(_ macros: FileFacts.TimeMacros, epoch: String?) -> Counter? {
        if macros.isEmpty || compatibility.sloppiness.contains(.timeMacros) { return nil }
        if macros.contains(.timestamp) || epoch == nil && !macros.readsDateOnly { return .unsupportedCodeDirective }
        return nil
    }

    /// Whether the result holds today's date (`__DATE__` without `SOURCE_DATE_EPOCH`): recorded then.
    func readsDate(_ macros: FileFacts.TimeMacros, epoch: String?) -> Bool {
        epoch == nil && macros.readsDateOnly && !compatibility.sloppiness.contains(.timeMacros)
    }

    /// Runs the preprocessor once more for a complete list (the user's `-MMD` file lacks system headers).
    func runDependencyPass(writingTo path: String) -> [UInt8]? {
        let arguments = request.dependencyScanArguments(writingTo: path)
        let sink = FileSystem.temporaryName(beside: temporaryDirectory + "/scan")
        defer { FileSystem.remove(sink) }
        guard let status = try? ChildProcess.run(compilerPath, [compilerPath] + arguments, stdoutPath: sink,
                                                 stderrPath: sink), status.succeeded else { return nil }
        return try? FileSystem.readFile(path)
    }

    /// `precompiledHeaders` are the call's precompiled-header candidates as they were around the compile
    /// (nil: one changed while it ran). The store may run after the call has returned, when the build may
    /// have removed a `.gch` the compiler read: recorded absent, that would serve its object without it.
    /// `builtin` are the compiler's own include directories, as the candidates were searched with.
    func record(dependencyText: [UInt8]?, source: [UInt8], compileStart: Int64,
                precompiledHeaders: [(path: String, status: FileStatus?)]?, builtin: [String]) -> Result<Recording, Counter> {
        // A link of objects reads no text: what it read is the link's (`LinkInputs`).
        if request.language == .objectCode { return .success(Recording(files: [], absentPaths: [])) }
        let epoch = lookup("SOURCE_DATE_EPOCH")
        let sourceFacts = FileFacts(reading: source)
        if let problem = timeMacroProblem(sourceFacts.timeMacros, epoch: epoch) { return .failure(problem) }
        var readsEpoch = sourceFacts.timeMacros.contains(.clock)
        var readsDate = self.readsDate(sourceFacts.timeMacros, epoch: epoch)
        // `.incbin`, `.include` and `#embed` read files no dependency list names.
        if sourceFacts.references.fallback == .embeddedFile { return .failure(.unsupportedCodeDirective) }
        guard request.language.isPreprocessed else { return .success(Recording(files: [], absentPaths: [])) }
        guard let dependencyText else { return .failure(.internalError) }
        var seen: Set<String> = [request.source]
        var files: [RecordedFile] = []
        var read: [String: FileFacts] = [request.source: sourceFacts]
        var directives: [(path: String, directives: [IncludeDirective])] = [(request.source, sourceFacts.references.includes)]
        let now = Clock.nowNanoseconds()
        // `/dev/null` (`-include /dev/null`, a CMake probe's source) reads empty whatever happens: nothing
        // to record.
        for path in DependencyFile.prerequisites(dependencyText) where path != "/dev/null" && seen.insert(path).inserted {
            if request.modules.isUsed && path.hasSuffix(".pcm") {
                if moduleFiles.contains(path) { continue }
                return .failure(.moduleInputsUnknown)
            }
            guard let (fileFacts, status) = facts.facts(of: path) else { return .failure(.internalError) }
            // Changed while the compiler ran: what it read may not be what was hashed.
            if !compatibility.acceptsNewDependency(status, compileStart: compileStart) {
                return .failure(.tooNewDependency)
            }
            if let problem = timeMacroProblem(fileFacts.timeMacros, epoch: epoch) { return .failure(problem) }
            if fileFacts.timeMacros.contains(.clock) { readsEpoch = true }
            if self.readsDate(fileFacts.timeMacros, epoch: epoch) { readsDate = true }
            if fileFacts.references.fallback == .embeddedFile { return .failure(.unsupportedCodeDirective) }
            let settled = StatTrust.isSettled(status, now: now)
            read[path] = fileFacts
            guard let digest = keyedDigest(of: path, raw: fileFacts.digest) else { return .failure(.internalError) }
            files.append(RecordedFile(path: path, digest: digest, status: status, statTrusted: settled))
            directives.append((path, fileFacts.references.includes))
        }
        let finder = probeFinder(builtin: builtin)
        // A candidate that appeared after the compile began (the store runs after the call returned) may
        // shadow a header the compiler read: recording it as present-and-unused would let it be ignored.
        var appearedLate = false
        var unlisted: [(path: String, size: Int64)] = []
        var absent = finder.probes(files: directives, dependencies: seen) { path in
            guard let status = (try? FileSystem.statusIfExists(path)) ?? nil else { return false }
            if !compatibility.acceptsNewDependency(status, compileStart: compileStart) { appearedLate = true }
            if status.isRegularFile { unlisted.append((path, status.size)) }
            return true
        }
        if appearedLate { return .failure(.tooNewDependency) }
        // gcc's `#pragma once` skips a file with the same size, time and bytes as one it read, and `-MD` then
        // does not name it (checked with gcc 12); an edit of it would make gcc read it. An included name's
        // file left unlisted with the size of a file read is recorded as read.
        let readSizes = Set(files.map(\.status.size) + [Int64(source.count)])
        for (path, size) in unlisted where readSizes.contains(size) && seen.insert(path).inserted {
            guard let (fileFacts, status) = facts.facts(of: path),
                  let digest = keyedDigest(of: path, raw: fileFacts.digest) else { return .failure(.internalError) }
            if !compatibility.acceptsNewDependency(status, compileStart: compileStart) { return .failure(.tooNewDependency) }
            files.append(RecordedFile(path: path, digest: digest, status: status,
                                      statTrusted: StatTrust.isSettled(status, now: now)))
        }
        guard let precompiledHeaders else { return .failure(.tooNewDependency) }
        for (path, seenAtCompile) in precompiledHeaders where !seen.contains(path) {
            guard let status = seenAtCompile else {
                absent.append(path)
                continue
            }
            // A `.gch` directory holds several headers, of which the compiler picks one: not followed.
            guard status.isRegularFile, let current = try? FileSystem.status(path), current.sameContentAs(status),
                  let bytes = try? FileSystem.readFile(path),
                  let after = try? FileSystem.status(path), after.sameContentAs(status) else {
                return .failure(status.isRegularFile ? .tooNewDependency : .unsupportedPrecompiledHeader)
            }
            if status.modifiedNanoseconds >= compileStart || status.changedNanoseconds >= compileStart {
                return .failure(.tooNewDependency)
            }
            seen.insert(path)
            files.append(RecordedFile(path: path, digest: Digest.of(bytes), status: status,
                                      statTrusted: StatTrust.isSettled(status, now: now)))
        }
        if readsDate {
            // The date the compile began on, which must still be the date now: a compile across midnight may
            // hold either.
            let date = CompileDate.text(atNanoseconds: compileStart)
            guard date == CompileDate.text(atNanoseconds: Clock.nowNanoseconds()), !date.isEmpty else {
                return .failure(.tooNewDependency)
            }
            files.append(.variable(CompileDate.variableName, digest: Self.variableDigest(date)))
        }
        readsEpoch = readsEpoch && epoch != nil
        if readsEpoch {
            // Recorded only for results that read it, so a release's new epoch misses only the units that
            // use a time macro.
            files.append(.variable("SOURCE_DATE_EPOCH", digest: Self.variableDigest(epoch)))
        }
        readsEpoch = readsEpoch || readsDate
        if !compatibility.ignoredHeaders.isEmpty {
            files.removeAll { !$0.isVariable && compatibility.ignoresHeader($0.path, cwd: currentDirectory) }
            absent.removeAll { compatibility.ignoresHeader($0, cwd: currentDirectory) }
        }
        return .success(Recording(files: files, absentPaths: absent, read: read, builtin: builtin,
                                  readsEpoch: readsEpoch))
    }

    /// Where a precompiled header could stand in for a header of `source`: stat'ed before and after the
    /// compile, in the call itself.
    func precompiledHeaderCandidates(source: [UInt8], builtin: [String]) -> [String] {
        guard request.language.isPreprocessed else { return [] }
        let finder = probeFinder(builtin: builtin)
        let probe = PrecompiledHeaderProbe(quoteChain: finder.quoteChain, bracketChain: finder.bracketChain)
        let candidates = probe.candidates(forcedIncludes: request.forcedIncludes, source: request.source,
                                          leading: PrecompiledHeaderProbe.leadingIncludes(source), exists: FileSystem.exists)
        // A precompiled header being written by this very compile is its output, not an input (compared
        // by directory, since the output may not exist yet).
        func located(_ path: String) -> String {
            Path.join(FileSystem.realPath(Path.directory(of: path)) ?? Path.directory(of: path), Path.baseName(path))
        }
        let output = located(request.output)
        return candidates.filter { located($0) != output }
    }

    /// What is at each path (nil: nothing); nil when a path cannot be stat'ed.
    static func statuses(of paths: [String]) -> [(path: String, status: FileStatus?)]? {
        var out: [(path: String, status: FileStatus?)] = []
        for path in paths {
            do { out.append((path, try FileSystem.statusIfExists(path))) } catch { return nil }
        }
        return out
    }

    /// Whether two snapshots of the same paths saw the same files (or the same absences).
    static func sameFiles(_ before: [(path: String, status: FileStatus?)]?,
                          _ after: [(path: String, status: FileStatus?)]?) -> Bool {
        guard let before, let after, before.count == after.count else { return false }
        return zip(before, after).allSatisfy { pair in
            switch (pair.0.status, pair.1.status) {
            case (nil, nil): true
            case let (was?, now?): was.sameContentAs(now)
            default: false
            }
        }
    }

    /// The compiler's own include directories for this call (`-E -v`, remembered).
    func builtinDirectories() -> [String] {
        BuiltinIncludeDirectories.lookup(
            compiler: compiler, language: request.language, affecting: request.includeSearch.builtinAffectingArguments,
            cacheDirectory: store.directory)
    }

    /// The compiler's search chains: the command line's, CPATH and friends, its own directories.
    func probeFinder(builtin: [String]) -> NegativeProbeFinder {
        NegativeProbeFinder(
            options: request.includeSearch, builtin: builtin,
            environmentDirectories: OutputAffectingEnvironment.includeDirectories(for: request.language, lookup: lookup))
    }
}

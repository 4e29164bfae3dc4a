import Glibc

/// Turns the compiler's dependency list into a manifest entry's facts: each file's digest and stat, and
/// the absent include candidates that would shadow them.
struct DependencyRecorder {
    var request: CompileRequest
    var compilerPath: String
    var compiler: CompilerIdentity
    var store: CacheStore
    var temporaryDirectory: String
    var lookup: (String) -> String?

    struct Recording {
        var files: [RecordedFile]
        var absentPaths: [String]
        /// What was read of every file, the source included: the scan that indexes the result reuses it.
        var read: [String: FileFacts] = [:]
        /// The compiler's own include directories the probes were searched with.
        var builtin: [String] = []
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

    static let timeMacros: [StaticString] = ["__DATE__", "__TIME__", "__TIMESTAMP__"]

    func record(dependencyText: [UInt8]?, source: [UInt8], compileStart: Int64) -> Result<Recording, Counter> {
        let checksTimeMacros = lookup("SOURCE_DATE_EPOCH") == nil
        if checksTimeMacros && Self.mentionsTimeMacro(source) { return .failure(.unsupportedCodeDirective) }
        guard request.language.isPreprocessed else { return .success(Recording(files: [], absentPaths: [])) }
        guard let dependencyText else { return .failure(.internalError) }
        var seen: Set<String> = [request.source]
        var files: [RecordedFile] = []
        let sourceReferences = FileReferences.read(source)
        var read: [String: FileFacts] = [request.source: FileFacts(digest: Digest.of(source), references: sourceReferences)]
        var directives: [(path: String, directives: [IncludeDirective])] = [(request.source, sourceReferences.includes)]
        let now = Clock.nowNanoseconds()
        for path in DependencyFile.prerequisites(dependencyText) where seen.insert(path).inserted {
            guard let bytes = try? FileSystem.readFile(path), let status = try? FileSystem.status(path) else {
                return .failure(.internalError)
            }
            // Changed while the compiler ran: what it read may not be what was hashed.
            if status.modifiedNanoseconds >= compileStart || status.changedNanoseconds >= compileStart {
                return .failure(.tooNewDependency)
            }
            if checksTimeMacros && Self.mentionsTimeMacro(bytes) { return .failure(.unsupportedCodeDirective) }
            let settled = max(status.modifiedNanoseconds, status.changedNanoseconds) < now - StatTrust.settleNanoseconds
            let facts = FileFacts(digest: Digest.of(bytes), references: FileReferences.read(bytes))
            read[path] = facts
            files.append(RecordedFile(path: path, digest: facts.digest, status: status, statTrusted: settled))
            directives.append((path, facts.references.includes))
        }
        let builtin = builtinDirectories()
        let absent = probeFinder(builtin: builtin).probes(files: directives, dependencies: seen) { FileSystem.exists($0) }
        return .success(Recording(files: files, absentPaths: absent, read: read, builtin: builtin))
    }

    /// The compiler's own include directories for this call (`-E -v`, remembered).
    func builtinDirectories() -> [String] {
        BuiltinIncludeDirectories.lookup(
            compiler: compiler, language: request.language, affecting: request.includeSearch.builtinAffectingArguments,
            cacheDirectory: store.directory, temporaryDirectory: temporaryDirectory)
    }

    /// The compiler's search chains: the command line's, CPATH and friends, its own directories.
    func probeFinder(builtin: [String]) -> NegativeProbeFinder {
        NegativeProbeFinder(
            options: request.includeSearch, builtin: builtin,
            environmentDirectories: OutputAffectingEnvironment.includeDirectories(for: request.language, lookup: lookup))
    }

    /// Jumps from underscore to underscore with memchr instead of testing every byte: a miss scans every
    /// header the compiler read, and the byte loop was a quarter of a small miss's instructions.
    static func mentionsTimeMacro(_ bytes: [UInt8]) -> Bool {
        bytes.withUnsafeBufferPointer { buffer in
            guard let base = buffer.baseAddress else { return false }
            let n = buffer.count
            var i = 0
            while i + 8 <= n, let hit = memchr(base + i, 0x5f, n - i - 7) {
                i = base.distance(to: hit.assumingMemoryBound(to: UInt8.self))
                if base[i + 1] == 0x5f, base[i + 2] == 0x44 || base[i + 2] == 0x54 {
                    for name in timeMacros where n - i >= name.utf8CodeUnitCount {
                        if memcmp(base + i, name.utf8Start, name.utf8CodeUnitCount) == 0 { return true }
                    }
                }
                i += 1
            }
            return false
        }
    }
}

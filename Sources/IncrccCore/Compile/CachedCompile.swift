import Glibc

/// One cacheable compile from key to outputs: look up, serve a hit, or run the compiler and store.
public struct CachedCompile {
    public var request: CompileRequest
    public var compilerPath: String
    public var configuration: Configuration
    public var store: CacheStore
    public var log: LogFile
    public var currentDirectory: String
    public var lookup: (String) -> String? = Environment.value

    /// What happened, for the caller's stats and exit status.
    public enum Outcome: Equatable {
        case hit(ExitStatus)
        case miss(ExitStatus)
        case failed(ExitStatus)
        /// The cache could not be used; run the compiler uncached for this reason.
        case uncached(Counter)
    }

    public init(request: CompileRequest, compilerPath: String, configuration: Configuration, store: CacheStore,
                log: LogFile, currentDirectory: String) {
        self.request = request
        self.compilerPath = compilerPath
        self.configuration = configuration
        self.store = store
        self.log = log
        self.currentDirectory = currentDirectory
    }

    var colorDiagnostics: Bool {
        guard !request.hasExplicitColorOption, isatty(2) == 1 else { return false }
        return lookup("TERM").map { $0 != "dumb" } ?? false
    }

    /// Every path incrcc would write on a hit. Writing one means renaming a new file over it, so each must be
    /// a regular file or absent: `-o /dev/null` must never turn /dev/null into a file.
    var outputPaths: [String] {
        [request.output, request.dependencyFile?.path, request.splitDwarfOutput, request.coverageNotesOutput,
         request.stackUsageOutput].compactMap { $0 }
    }

    public func run() -> Outcome {
        let now = Clock.nowNanoseconds()
        for path in outputPaths {
            guard let status = try? FileSystem.statusIfExists(path) else { continue }
            if !status.isRegularFile { return .uncached(.badOutputFile) }
        }
        guard let sourceStatus = try? FileSystem.status(request.source) else { return .uncached(.noInputFile) }
        guard sourceStatus.isRegularFile else { return .uncached(.badOutputFile) }
        guard let source = try? FileSystem.readFile(request.source) else { return .uncached(.noInputFile) }
        let compiler: CompilerIdentity
        do {
            compiler = try CompilerIdentity.identify(compilerPath, cacheDirectory: store.directory, now: now)
        } catch {
            log.write("cannot identify compiler: \(error)")
            return .uncached(.couldNotFindCompiler)
        }
        let color = colorDiagnostics
        let directKey = DirectKeyInput(compiler: compiler.digest, request: request, sourceDigest: Digest.of(source),
                                       currentDirectory: currentDirectory, colorDiagnostics: color,
                                       lookup: lookup).digest()
        log.write("\(request.source): direct key \(directKey.hex)")
        if configuration.directMode && !configuration.recache, let status = lookupAndServe(directKey) {
            return .hit(status)
        }
        return compileAndStore(directKey: directKey, compiler: compiler, source: source, color: color)
    }

    /// Serves a hit from the manifest, or returns nil.
    func lookupAndServe(_ directKey: Digest) -> ExitStatus? {
        guard let payload = store.read(directKey, kind: .manifest),
              let manifest = try? Manifest.decode(payload) else { return nil }
        guard let entry = ManifestMatcher().match(manifest) else {
            log.write("no manifest entry matches")
            return nil
        }
        guard let data = store.read(entry.result, kind: .result), let result = try? CachedResult.decode(data) else {
            log.write("result \(entry.result.hex) missing")
            try? store.stats.update(shard: CacheStore.shard(of: entry.result), [(.missingCacheFile, 1)])
            return nil
        }
        do {
            try ResultWriter(request: request).write(result)
        } catch {
            log.write("cannot write outputs: \(error)")
            return nil
        }
        store.markUsed(entry.result, kind: .result)
        store.markUsed(directKey, kind: .manifest)
        log.write("direct hit \(entry.result.hex)")
        return .exited(0)
    }

    func compileAndStore(directKey: Digest, compiler: CompilerIdentity, source: [UInt8], color: Bool) -> Outcome {
        let temporary = store.directory + "/tmp"
        try? FileSystem.makeDirectories(temporary)
        let stdoutPath = FileSystem.temporaryName(beside: temporary + "/stdout")
        let stderrPath = FileSystem.temporaryName(beside: temporary + "/stderr")
        let ownDependencyPath = FileSystem.temporaryName(beside: temporary + "/deps") + ".d"
        defer {
            FileSystem.remove(stdoutPath)
            FileSystem.remove(stderrPath)
            FileSystem.remove(ownDependencyPath)
        }
        var arguments = request.arguments
        if color { arguments.append("-fdiagnostics-color") }
        let needsOwnDependencies = request.language.isPreprocessed && request.dependencyFile == nil
        if needsOwnDependencies { arguments += ["-MD", "-MF", ownDependencyPath] }

        let start = Clock.nowNanoseconds()
        let status: ExitStatus
        do {
            status = try ChildProcess.run(compilerPath, [compilerPath] + arguments, stdoutPath: stdoutPath,
                                          stderrPath: stderrPath)
        } catch {
            log.write("cannot run compiler: \(error)")
            return .uncached(.couldNotFindCompiler)
        }
        let stdout = (try? FileSystem.readFile(stdoutPath)) ?? []
        let stderr = (try? FileSystem.readFile(stderrPath)) ?? []
        Console.write(stdout, to: 1)
        Console.write(stderr, to: 2)
        guard status.succeeded else { return .failed(status) }

        let recorder = DependencyRecorder(request: request, compilerPath: compilerPath, compiler: compiler,
                                          store: store, temporaryDirectory: temporary, lookup: lookup)
        let dependencyText: [UInt8]?
        if !request.language.isPreprocessed {
            dependencyText = nil
        } else if let requested = request.dependencyFile, !requested.omitsSystemHeaders {
            dependencyText = try? FileSystem.readFile(requested.path)
        } else if needsOwnDependencies {
            dependencyText = try? FileSystem.readFile(ownDependencyPath)
        } else {
            dependencyText = recorder.runDependencyPass(writingTo: ownDependencyPath)
        }
        let recorded: DependencyRecorder.Recording
        switch recorder.record(dependencyText: dependencyText, source: source, compileStart: start) {
        case .success(let value): recorded = value
        case .failure(let reason):
            log.write("not stored: \(reason.key)")
            try? store.stats.update(shard: CacheStore.shard(of: directKey), [(reason, 1)])
            return .miss(status)
        }
        guard let result = collectOutputs(stdout: stdout, stderr: stderr) else {
            log.write("not stored: an expected output is missing")
            try? store.stats.update(shard: CacheStore.shard(of: directKey), [(.compilerProducedNoOutput, 1)])
            return .miss(status)
        }
        let resultKey = ResultKey.digest(directKey: directKey,
                                         dependencies: recorded.files.map { ($0.path, $0.digest) })
        do {
            try store.write(resultKey, kind: .result, payload: result.encode())
            var manifest = store.read(directKey, kind: .manifest).flatMap { try? Manifest.decode($0) } ?? Manifest()
            manifest.add(ManifestEntry(files: recorded.files, absentPaths: recorded.absentPaths, result: resultKey))
            try store.write(directKey, kind: .manifest, payload: manifest.encode())
        } catch {
            log.write("cannot store: \(error)")
            return .miss(status)
        }
        log.write("stored result \(resultKey.hex) with \(recorded.files.count) files, \(recorded.absentPaths.count) absent paths")
        let cleanup = Cleanup(store: store, maxSize: configuration.maxSize)
        cleanup.cleanIfNeeded(shard: CacheStore.shard(of: resultKey), now: Clock.nowNanoseconds())
        cleanup.cleanIfNeeded(shard: CacheStore.shard(of: directKey), now: Clock.nowNanoseconds())
        return .miss(status)
    }

    /// Reads what the compiler wrote; nil when an output the options promise is missing or unusable.
    func collectOutputs(stdout: [UInt8], stderr: [UInt8]) -> CachedResult? {
        var files: [OutputFile] = []
        guard let object = try? FileSystem.readFile(request.output) else { return nil }
        files.append(OutputFile(.object, object))
        if let dependency = request.dependencyFile {
            guard let text = try? FileSystem.readFile(dependency.path) else { return nil }
            if dependency.hasExplicitTarget {
                files.append(OutputFile(.dependencyVerbatim, text))
            } else {
                guard let rest = DependencyFile.splitTarget(text, target: DependencyFile.escapeTarget(request.output))
                else { return nil }
                files.append(OutputFile(.dependencyWithoutTarget, Array(rest)))
            }
        }
        let extras: [(OutputKind, String?)] = [
            (.splitDwarf, request.splitDwarfOutput), (.coverageNotes, request.coverageNotesOutput),
            (.stackUsage, request.stackUsageOutput),
        ]
        for case let (kind, path?) in extras {
            guard let bytes = try? FileSystem.readFile(path) else { return nil }
            files.append(OutputFile(kind, bytes))
        }
        return CachedResult(stdout: stdout, stderr: stderr, files: files)
    }
}

/// Writes a cached result's files where this call wants them, each atomically, then its console output.
struct ResultWriter {
    var request: CompileRequest

    func write(_ result: CachedResult) throws(SystemError) {
        for file in result.files {
            let bytes = file.bytes
            switch file.kind {
            case .object: try FileSystem.writeAtomically(request.output, bytes)
            case .dependencyWithoutTarget:
                guard let dependency = request.dependencyFile else { continue }
                try FileSystem.writeAtomically(dependency.path, DependencyFile.escapeTarget(request.output) + bytes)
            case .dependencyVerbatim:
                guard let dependency = request.dependencyFile else { continue }
                try FileSystem.writeAtomically(dependency.path, bytes)
            case .splitDwarf:
                if let path = request.splitDwarfOutput { try FileSystem.writeAtomically(path, bytes) }
            case .coverageNotes:
                if let path = request.coverageNotesOutput { try FileSystem.writeAtomically(path, bytes) }
            case .stackUsage:
                if let path = request.stackUsageOutput { try FileSystem.writeAtomically(path, bytes) }
            }
        }
        Console.write(result.stdout, to: 1)
        Console.write(result.stderr, to: 2)
    }
}

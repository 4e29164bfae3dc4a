import Glibc

/// A compile that ran for real: what the compiler printed and the dependency list the cache records.
struct FreshCompile {
    var status: ExitStatus
    var stdout: [UInt8]
    var stderr: [UInt8]
    var start: Int64
    /// The compiler's own dependency list (nil for languages without a preprocessor, or when it failed).
    var dependencyText: [UInt8]?
    /// The linker's list of the files it read (`-Wl,--dependency-file`), for a compile-and-link call.
    var linkDependencyText: [UInt8]? = nil
    /// Each file of that list as it was when the link ended, hashed before the call returned: a build may
    /// remove its objects at once (`make clean`), before the store after returning reads them.
    var linkRead: [String: (status: FileStatus, digest: Digest)] = [:]
    /// The compiled module interfaces the compile may have read, hashed before the call returned (nil: they
    /// cannot be told, and nothing is stored).
    var moduleRead: ModuleInputs? = nil
    /// The optional `.dwo` as it was before the compile (nil: absent), to tell a new one from a left-over.
    var splitDwarfBefore: FileStatus? = nil
    /// The precompiled-header candidates as the compiler found them; nil when one changed while it ran.
    var precompiledHeaders: [(path: String, status: FileStatus?)]? = []
    /// The compiler's own include directories (`-E -v`, remembered), read once for the call.
    var builtinDirectories: [String] = []
    /// The source (or another file the key hashed) changed between being read for the key and the compile's
    /// end (an editor saving during a build): the object may be of the new text, so it must not be stored
    /// under the old text's key.
    var sourceChanged = false
}

/// A fresh compile, or how the call ended without one to record (the compiler failed or could not run).
enum FreshCompileResult {
    case compiled(FreshCompile)
    case ended(CachedCompile.Outcome)
}

extension CachedCompile {
    /// Runs the real compiler as a miss does, adding dependency output when the call asked for none. Its
    /// outputs land where the call wants them and its console output is replayed. A failure comes back as the
    /// call's outcome.
    func compileFresh(_ call: Call) -> FreshCompileResult {
        let temporary = store.temporaryDirectory
        store.makeTemporaryDirectory()
        let ownDependencyPath = FileSystem.temporaryName(beside: temporary + "/deps") + ".d"
        let linkDependencyPath = FileSystem.temporaryName(beside: temporary + "/link") + ".d"
        defer {
            FileSystem.remove(ownDependencyPath)
            FileSystem.remove(linkDependencyPath)
        }
        var arguments = request.arguments
        let coloured = storesColoredDiagnostics(call.compiler)
        if call.key.colorDiagnostics || coloured { arguments.append("-fdiagnostics-color") }
        // Nothing is recorded in a read-only cache, so nothing is asked for it (nor written in its `tmp`).
        let needsOwnDependencies = request.language.isPreprocessed && request.dependencyFile == nil && !configuration.readOnly
        if needsOwnDependencies { arguments += ["-MD", "-MF", ownDependencyPath] }
        if request.links && !configuration.readOnly { arguments.append("-Wl,--dependency-file=" + linkDependencyPath) }

        let splitDwarfBefore = request.splitDwarfIsCertain ? nil
            : request.splitDwarfOutput.flatMap { (try? FileSystem.statusIfExists($0)) ?? nil }
        let builtin = request.language.isPreprocessed ? recorder(call).builtinDirectories() : []
        let precompiledCandidates = recorder(call).precompiledHeaderCandidates(source: call.source, builtin: builtin)
        let precompiledBefore = DependencyRecorder.statuses(of: precompiledCandidates)
        let start = Clock.nowNanoseconds()
        let captured: (status: ExitStatus, stdout: [UInt8], stderr: [UInt8])
        do {
            captured = try UserMask.asCaller { () throws(SystemError) in
                let command = prefix + [compilerPath] + arguments
                return try ChildProcess.runCapturing(command[0], command)
            }
        } catch {
            log.write("cannot run compiler: \(error)")
            return .ended(.uncached(.couldNotFindCompiler))
        }
        let (status, stdout, stderr) = captured
        // A compile that failed over the dependency file incrcc added (the cache's file system full, its
        // `tmp` removed meanwhile): nothing of it is shown, and the compiler runs again as the user called it,
        // so what it says and returns is its own.
        if !status.succeeded, needsOwnDependencies || request.links,
           ByteSearch.find(Array(ownDependencyPath.utf8), in: stderr) != nil || !FileSystem.exists(temporary)
            || request.links && ByteSearch.find(Array("dependency-file".utf8), in: stderr) != nil {
            log.write("the compile failed over incrcc's own dependency file: running it uncached")
            return .ended(.uncached(.internalError))
        }
        Console.write(stdout, to: 1)
        Console.write(coloured && !colorDiagnostics ? DiagnosticColors.strip(stderr) : stderr, to: 2)
        guard status.succeeded else { return .ended(.failed(status)) }

        let dependencyText: [UInt8]?
        if !request.language.isPreprocessed || configuration.readOnly {
            dependencyText = nil
        } else if let requested = request.dependencyFile, !requested.omitsSystemHeaders, !requested.isDiscarded {
            dependencyText = try? FileSystem.readFile(requested.path)
        } else if needsOwnDependencies {
            dependencyText = try? FileSystem.readFile(ownDependencyPath)
        } else {
            dependencyText = recorder(call).runDependencyPass(writingTo: ownDependencyPath)
        }
        let precompiledAfter = DependencyRecorder.statuses(of: precompiledCandidates)
        let precompiledHeaders = DependencyRecorder.sameFiles(precompiledBefore, precompiledAfter) ? precompiledAfter : nil
        let linkDependencyText = request.links ? try? FileSystem.readFile(linkDependencyPath) : nil
        var linkRead: [String: (status: FileStatus, digest: Digest)] = [:]
        for path in linkDependencyText.map(DependencyFile.prerequisites) ?? [] where linkRead[path] == nil {
            guard let status = try? FileSystem.status(path), let bytes = try? FileSystem.readFile(path) else { continue }
            linkRead[path] = (status, Digest.of(bytes))
        }
        var compiled = FreshCompile(status: status, stdout: stdout, stderr: stderr, start: start,
                                    dependencyText: dependencyText, linkDependencyText: linkDependencyText,
                                    linkRead: linkRead, splitDwarfBefore: splitDwarfBefore,
                                    precompiledHeaders: precompiledHeaders, builtinDirectories: builtin,
                                    sourceChanged: sourceChanged(call))
        if request.modules.isUsed { compiled.moduleRead = moduleInputs(compileStart: start) }
        return .compiled(compiled)
    }

    /// Whether the source differs from the text the key was computed over: by its stat (any write moves its
    /// change time) and, since file times advance in clock ticks, by its bytes. Other files the key hashed
    /// (profile data, `extra_files_to_hash`) are hashed again.
    func sourceChanged(_ call: Call) -> Bool {
        for (path, digest) in zip(call.extraInputPaths, call.key.extraInputs)
        where Self.extraInputDigest(try? FileSystem.readFile(path)) != digest {
            return true
        }
        guard let before = call.sourceStatus else { return false }
        guard let now = try? FileSystem.status(request.source), now.sameContentAs(before),
              let bytes = try? FileSystem.readFile(request.source) else { return true }
        return bytes != call.source
    }

    func recorder(_ call: Call) -> DependencyRecorder {
        var recorder = DependencyRecorder(request: request, compilerPath: compilerPath, compiler: call.compiler, store: store,
                                          facts: facts, temporaryDirectory: store.temporaryDirectory, lookup: lookup,
                                          compatibility: configuration.compatibility, mapping: call.mapping.withoutCheckout)
        recorder.currentDirectory = currentDirectory
        return recorder
    }

    /// Records a fresh compile's dependencies and outputs under the call's key, paths normalized.
    func store(_ fresh: FreshCompile, _ call: Call, notes: [Counter] = []) -> Outcome {
        store(fresh, collectOutputs(fresh), call, notes: notes)
    }

    /// Records a fresh compile whose outputs were read already (nil: one the options promise was missing).
    /// What goes to the shared tier is handed to `upload` once the local entries are written (by default
    /// sent at once; a background store sends it after it has released its lock).
    func store(_ fresh: FreshCompile, _ outputs: CachedResult?, _ call: Call, notes: [Counter] = [],
               upload: ((PendingUpload) -> Void)? = nil) -> Outcome {
        let outcome = Outcome.miss(fresh.status, notes: notes)
        guard let result = outputs else {
            log.write("not stored: an expected output is missing")
            counters.add(.compilerProducedNoOutput)
            return outcome
        }
        if !request.discardsObject, result.file(request.links ? .executable : .object)?.isEmpty == true {
            log.write("not stored: the object is empty")
            counters.add(.compilerProducedEmptyOutput)
            return outcome
        }
        if fresh.sourceChanged {
            log.write("not stored: the source changed while it was compiled")
            counters.add(.tooNewDependency)
            return outcome
        }
        var recorder = recorder(call)
        if request.modules.isUsed {
            guard let modules = fresh.moduleRead else {
                log.write("not stored: the compiled module interfaces it read cannot be told")
                counters.add(.moduleInputsUnknown)
                return outcome
            }
            recorder.moduleFiles = Set(modules.files.flatMap { [$0.path, Path.absolute($0.path, cwd: currentDirectory)] })
        }
        var recorded: DependencyRecorder.Recording
        switch recorder.record(dependencyText: fresh.dependencyText, source: call.source,
                                     compileStart: fresh.start, precompiledHeaders: fresh.precompiledHeaders,
                                     builtin: fresh.builtinDirectories) {
        case .success(let value): recorded = value
        case .failure(let reason):
            log.write("not stored: \(reason.key)")
            counters.add(reason)
            return outcome
        }
        if request.links, let refusal = recordLink(fresh, into: &recorded) {
            counters.add(refusal)
            return outcome
        }
        if let modules = fresh.moduleRead { recorded.files += moduleRecords(modules) }
        var call = call
        var dependence = pathDependence(call, recorded: recorded)
        if dependence.kind != .none { log.write("may read a moving path: \(dependence.reason)") }
        if let bound = call.boundToCheckout,
           dependence.kind != .none || result.files.contains(where: {
               $0.kind.isBinary && (call.mapping.holdsCheckout($0.bytes) || !ObjectTransparency.isTransparent($0.bytes))
           }) {
            // A checkout of another length cannot be patched into a binary output: keyed by the real root.
            log.write("the object names its checkout, or may: stored for this checkout only")
            call = bound
            if call.mapping.isEmpty { dependence = .independent }
        }
        let mapping = call.mapping
        let proof = AbsentDirectories.settled(for: recorded.absentPaths, now: Clock.nowNanoseconds())
        let paths = recorded.files.map(\.path) + proof.paths + proof.directories.map(\.path)
        guard let normalized = result.normalized(with: mapping, dependence: dependence), paths.allSatisfy(mapping.roundTrips) else {
            log.write("not stored: an output or dependency path already holds a placeholder")
            return outcome
        }
        var files = recorded.files
        for index in files.indices { files[index].path = mapping.normalize(files[index].path) }
        let absentPaths = proof.paths.map(mapping.normalize)
        let resultKey = ResultKey.digest(directKey: call.directKey, dependencies: files.map { ($0.path, $0.digest) })
        if normalized.movesOnlyWithProof, let raw = call.realPaths, trust.unitDisagreed(resultKey) {
            // Its patched result differed from a compile after a move: this unit is kept under its real paths.
            log.write("this unit's patched result differed after a move: stored under its real paths")
            return store(fresh, outputs, raw, notes: notes + [.movedPathDependent], upload: upload)
        }
        let payload = normalized.encode()
        let entry = ManifestEntry(
            files: files, absentPaths: absentPaths, result: resultKey,
            absentDirectories: proof.directories.map { RecordedDirectory(path: mapping.normalize($0.path), status: $0.status) },
            uncoveredAbsentPaths: proof.uncovered)
        var stored = notes
        // A local store that cannot be written stops the local strategies, never the shared tier's copy.
        var localFailure: SystemError?
        if !configuration.remote.remoteOnly {
            // A later shared hit proves the same candidates absent: remembered, it stats a directory instead
            // of each name.
            if configuration.remote.isEnabled { facts.rememberAbsent(proof.paths) }
            do {
                try store.write(resultKey, kind: .result, payload: payload)
                stored.append(.localStorageWrite)
                rememberInterface(result, resultKey: resultKey)
                log.write("stored result \(resultKey.hex) with \(files.count) files, \(absentPaths.count) absent paths")
            } catch {
                localFailure = error
            }
        }
        let miss = StoredMiss(call: call, recorded: recorded, entry: entry, payload: payload, upload: upload)
        for strategy in LookupStrategy.order where localFailure == nil || strategy == .shared {
            do throws(SystemError) {
                stored += try record(strategy, miss)
            } catch {
                localFailure = error
            }
        }
        if let localFailure {
            log.write("cannot store: \(localFailure)")
            return outcome
        }
        if configuration.remote.remoteOnly { return .miss(fresh.status, notes: stored) }
        // Every shard, not only the result's and the manifest's: the entries beside them (file facts, entries
        // without options, scan indexes) land in others, and each takes a block at least. One stats read each.
        let cleanup = Cleanup(store: store, maxSize: configuration.maxSize, maxFiles: configuration.maxFiles)
        for shard in 0..<StatsFiles.shardCount { cleanup.cleanIfNeeded(shard: shard, now: Clock.nowNanoseconds()) }
        return .miss(fresh.status, notes: stored)
    }

    /// Reads what the compiler wrote; nil when an output the options promise is missing or unusable.
    func collectOutputs(_ fresh: FreshCompile) -> CachedResult? {
        var files: [OutputFile] = []
        if !request.discardsObject {
            guard let object = try? FileSystem.readFile(request.output) else { return nil }
            files.append(OutputFile(request.links ? .executable : .object, object))
        }
        if let dependency = request.dependencyFile, !dependency.isDiscarded {
            guard let text = try? FileSystem.readFile(dependency.path) else { return nil }
            if dependency.hasExplicitTarget {
                files.append(OutputFile(.dependencyVerbatim, text))
            } else {
                guard let rest = DependencyFile.splitTarget(text, target: request.dependencyTargetText)
                else { return nil }
                files.append(OutputFile(.dependencyWithoutTarget, Array(rest)))
            }
        }
        let extras: [(OutputKind, String?)] = [
            (.splitDwarf, request.splitDwarfOutput), (.coverageNotes, request.coverageNotesOutput),
            (.stackUsage, request.stackUsageOutput), (.moduleInterface, request.modules.interfaceOutput),
            (.callgraphInfo, request.callgraphInfoOutput), (.assemblerListing, request.assemblerListingOutput),
            (.linkMap, request.linkMapOutput),
        ]
        for case let (kind, path?) in extras {
            if kind == .splitDwarf, !request.splitDwarfIsCertain {
                // Optional: taken only when this compile wrote it, never a file left from an earlier one.
                let found: FileStatus?
                do { found = try FileSystem.statusIfExists(path) } catch { return nil }
                guard let status = found else { continue }
                if let before = fresh.splitDwarfBefore, before.sameContentAs(status) { continue }
            }
            guard let bytes = try? FileSystem.readFile(path) else { return nil }
            files.append(OutputFile(kind, bytes))
        }
        if request.modules.interfaceOutput != nil { files.append(OutputFile(.moduleContext, Array(currentDirectory.utf8))) }
        return CachedResult(stdout: fresh.stdout, stderr: fresh.stderr, files: files)
    }
}

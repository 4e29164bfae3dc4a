/// The scan route: results found by scanning the include graph before compiling, for calls no manifest
/// answers (direct mode off, manifests evicted or lost). A result is reachable this way only after the
/// compiler's own dependency list was found inside the graph scanned when it was stored.
extension CachedCompile {
    /// The directive scanner with this call's search chains and forced includes; `builtin` when the
    /// compiler's own directories are already at hand.
    func graphScanner(_ call: Call, builtin: [String]? = nil) -> IncludeGraphScanner {
        let recorder = recorder(call)
        return IncludeGraphScanner(finder: recorder.probeFinder(builtin: builtin ?? recorder.builtinDirectories()),
                                   forcedIncludes: request.forcedIncludes,
                            implicitIncludes: request.includeSearch.noStandardIncludes ? [] : ["stdc-predef.h"])
    }

    /// The find face: scans the include graph now and offers what the scan index holds for it.
    func findByScan(_ call: Call, notes: LookupNotes?, consider: Consider) -> Bool {
        guard request.language.isPreprocessed else {
            notes?.add("not tried: the source is preprocessed already")
            return false
        }
        guard let payload = store.read(call.directKey, kind: .scanIndex), let index = try? ScanIndex.decode(payload) else {
            notes?.add("no scan index under this key")
            return false
        }
        // With a manifest at hand its miss is almost always the scan's miss too (a changed header): `auto`
        // leaves the scan to calls without one.
        if configuration.scan == .auto && configuration.directMode && store.holds(call.directKey, kind: .manifest) {
            notes?.add("not tried: a manifest answers this key, and scan = auto leaves the scan to calls without one")
            return false
        }
        var counted: [(Counter, Int64)] = [(.scanMiss, 1)]
        func offer(_ graph: IncludeGraph, _ engine: ScanEngine) -> Bool {
            let key = ScanKey.digest(directKey: call.directKey, graph: graph, engine: engine, normalize: call.mapping.normalize,
                                     content: { recorder(call).keyedDigest(of: $0, raw: $1) ?? $1 })
            guard let result = index.result(for: key) else {
                log.write("\(engine) scan of \(graph.files.count) files found no result")
                notes?.add("the \(engine) scan of \(graph.files.count) files found no result for the graph as it is now")
                return false
            }
            notes?.subject = "the \(engine) scan of \(graph.files.count) files found result \(result.hex)"
            return consider(self, LookupCandidate(strategy: .scan, call: call, result: result, counter: .scanHit,
                                            settlement: .scanned(graph)))
        }
        if index.holds(.directives) {
            let sourceFacts = FileFacts(digest: call.key.sourceDigest, references: FileReferences.read(call.source))
            let scanned = graphScanner(call).scan(
                source: request.source, read: { $0 == request.source ? sourceFacts : facts.facts(of: $0)?.facts },
                exists: FileSystem.exists)
            switch scanned {
            case .success(let graph):
                if offer(graph, .directives) { return true }
            case .failure(let failure):
                log.write("scan falls back to direct mode: \(failure.reason.counter.key) in \(failure.path)")
                notes?.add("the scan stopped at \(failure.path): \(failure.reason.counter.label)")
                counted = [(failure.reason.counter, 1)]
            }
        }
        if configuration.scan == .always, index.holds(.libclang) {
            switch libclangGraph(call) {
            case .success(let graph):
                if offer(graph, .libclang) { return true }
            case .failure(let reason):
                notes?.add("libclang's scan failed: \(reason.label)")
                counted.append((reason, 1))
            }
        }
        for (counter, amount) in counted { counters.add(counter, by: amount) }
        return false
    }

    /// After a scan hit in direct mode: the scanned files and the candidates searched before them become a
    /// manifest entry, so the next call is a direct hit and a header created earlier in the search path
    /// still turns it into a miss.
    func recordInManifest(_ graph: IncludeGraph, result: Digest, _ call: Call) {
        guard configuration.directMode else { return }
        let now = Clock.nowNanoseconds()
        var files: [RecordedFile] = []
        for file in graph.files.dropFirst() {
            guard let status = try? FileSystem.status(file.path) else { return }
            let settled = StatTrust.isSettled(status, now: now)
            files.append(RecordedFile(path: call.mapping.normalize(file.path), digest: file.digest, status: status,
                                      statTrusted: settled))
        }
        var manifest = store.read(call.directKey, kind: .manifest).flatMap { try? Manifest.decode($0) } ?? Manifest()
        manifest.add(ManifestEntry(files: files, absentPaths: graph.absentPaths.map(call.mapping.normalize), result: result))
        if (try? store.write(call.directKey, kind: .manifest, payload: manifest.encode())) != nil {
            counters.add(.localStorageWrite)
        }
    }

    /// Indexes a stored result under the graph a scan finds now, if the compiler's files are all in it.
    /// Returns the counters to note.
    func indexForScan(_ call: Call, recording: DependencyRecorder.Recording, result: Digest) -> [Counter] {
        // A result that read SOURCE_DATE_EPOCH is found through its manifest only (the scan key has no epoch).
        guard configuration.indexesForScans, request.language.isPreprocessed, !recording.readsEpoch else { return [] }
        let scanned = graphScanner(call, builtin: recording.builtin).scan(
            source: request.source, read: { recording.read[$0] ?? facts.facts(of: $0)?.facts },
            exists: FileSystem.exists)
        let graph: IncludeGraph
        let engine: ScanEngine
        switch scanned {
        case .success(let value):
            graph = value
            engine = .directives
        case .failure(let failure):
            let fallback = failure.reason
            guard configuration.scan == .always else {
                log.write("not indexed for scans: \(fallback.counter.key) in \(failure.path)")
                return [fallback.counter]
            }
            switch libclangGraph(call) {
            case .success(let value):
                graph = value
                engine = .libclang
            case .failure(let reason):
                log.write("not indexed for scans: \(reason.key)")
                return [fallback.counter, reason]
            }
        }
        let spelled = Set(graph.files.map { ScanKey.spelling($0.path) })
        let missed = recording.files.map(\.path).filter { !spelled.contains(ScanKey.spelling($0)) }
        guard missed.isEmpty else {
            log.write("not indexed for scans: the compiler read \(missed.joined(separator: ", ")), which the scan did not find")
            return [.scanUnsound]
        }
        guard graph.files.allSatisfy({ call.mapping.roundTrips($0.path) }) else { return [] }
        let key = ScanKey.digest(directKey: call.directKey, graph: graph, engine: engine, normalize: call.mapping.normalize,
                                 content: { recorder(call).keyedDigest(of: $0, raw: $1) ?? $1 })
        var index = store.read(call.directKey, kind: .scanIndex).flatMap { try? ScanIndex.decode($0) } ?? ScanIndex()
        index.add(ScanIndex.Entry(scanKey: key, result: result, engine: engine))
        do {
            try store.write(call.directKey, kind: .scanIndex, payload: index.encode())
        } catch {
            log.write("cannot store the scan index: \(error)")
            return []
        }
        log.write("indexed for scans (\(engine), \(graph.files.count) files)")
        return [.scanIndexed]
    }
}

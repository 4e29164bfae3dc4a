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
    /// `prefix_command`: misses and verifications run the compiler through it; the key never sees it.
    public var prefix: [String] = []
    /// Files' facts remembered across calls; written entries are counted when the call ends.
    let facts: FileFactsStore
    /// The counters of this call besides its outcome, written once when it ends (`IncrccMain`).
    public let counters: CallCounters

    /// What happened, for the caller's stats and exit status. `notes` are counted besides the outcome.
    public enum Outcome: Equatable {
        case hit(ExitStatus, notes: [Counter] = [])
        case miss(ExitStatus, notes: [Counter] = [])
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
        self.facts = FileFactsStore(store: store, now: Clock.nowNanoseconds())
        self.counters = CallCounters(enabled: configuration.compatibility.stats)
    }

    /// Whether diagnostics are stored coloured whatever the terminal: for gcc and clang without a colour
    /// option, so one entry serves a terminal and a log (the colours are stripped for the log; stripping
    /// gives gcc's and clang's plain text byte for byte, checked with both). Another compiler may not take
    /// `-fdiagnostics-color`, and is keyed by whether incrcc's stderr is a terminal instead.
    func storesColoredDiagnostics(_ compiler: CompilerIdentity) -> Bool {
        !request.hasExplicitColorOption && compiler.family != .unknown
    }

    /// Whether the caller's stderr shows colours.
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
        defer { facts.flush() }
        let call: Call
        switch prepareCall() {
        case .success(let value): call = value
        case .failure(let reason): return .uncached(reason)
        }
        let calls = [call] + (call.boundToCheckout.map { [$0] } ?? [])
        if !configuration.recache {
            if !configuration.remote.remoteOnly {
                if let outcome = lookUp(calls) { return outcome }
                // A call with the same key may be writing its entries after returning: wait for them, not compile.
                if BackgroundStore(store: store).waitForWriter(of: call.directKey) {
                    log.write("waited for the entries of a call with the same key")
                    if let outcome = lookUp(calls) { return outcome }
                }
            }
            if let outcome = remoteLookUp(calls) { return outcome }
        }
        switch compileFresh(call) {
        case .compiled(let fresh): return storeAfterReturning(fresh, call)
        case .ended(let outcome): return outcome
        }
    }

    /// A hit for one of the call's keys, through the manifest and then the include scan.
    func lookUp(_ calls: [Call]) -> Outcome? {
        if configuration.directMode {
            for candidate in calls { if let outcome = lookupAndServe(candidate) { return outcome } }
            // The call keyed by its real paths last (its key hashed only here): where a unit that reads its
            // moving path is stored once a patched result of it differed from a fresh compile.
            if let raw = calls.first?.realPaths, let outcome = lookupAndServe(raw) { return outcome }
            if let call = calls.first, let outcome = unreachedOptionsLookup(call) { return outcome }
            if let call = calls.first, let outcome = skippedGroupsLookup(call) { return outcome }
        }
        if configuration.scan != .never {
            for candidate in calls { if let outcome = scanAndServe(candidate) { return outcome } }
        }
        return nil
    }

    /// The call's ephemeral path parts and its checkout root (with `base_dir`); empty when there are none
    /// or some keyed input could not be normalized reversibly.
    func pathMapping(key: DirectKeyInput, family: CompilerFamily) -> PathMapping {
        let rules = EphemeralPathRule.rules(configuration: configuration, lookup: lookup)
        let mapping = rules.isEmpty ? PathMapping() : PathMappingBuilder(rules: rules).mapping(
            keyed: key.pathInputs, related: { lookup("out").map { [$0] } ?? [] },
            normalizeSeeds: !request.seedReachesDebugInfo(family))
        guard let root = CheckoutRoot.find(baseDirectory: configuration.baseDirectory,
                                           currentDirectory: currentDirectory, source: request.source),
              rules.allSatisfy({ $0.parts(in: Array(root.utf8)).isEmpty }) else { return mapping }
        var withRoot = mapping
        withRoot.setCheckout(root)
        return key.pathInputs.allSatisfy(withRoot.roundTrips) ? withRoot : mapping
    }

    /// What one call knows once its key is computed.
    struct Call {
        var source: [UInt8]
        var compiler: CompilerIdentity
        var key: DirectKeyInput
        var directKey: Digest
        /// Set when the call's paths have ephemeral parts, distrusted or not.
        var patchClass: Digest?
        /// The files whose digests are `key.extraInputs`, in order (the shared key hashes them again).
        var extraInputPaths: [String] = []
        /// The source's stat, taken before it was read for the key (nil for `/dev/null`).
        var sourceStatus: FileStatus? = nil

        var mapping: PathMapping { key.mapping }

        /// The same call keyed by all its real paths (nil when it has no moving parts).
        var realPaths: Call? {
            guard !key.mapping.isEmpty else { return nil }
            var raw = self
            raw.key.mapping = PathMapping()
            raw.directKey = raw.key.digest()
            return raw
        }

        /// The same call keyed with its checkout's real path: where results whose binary outputs name the
        /// checkout are stored, since those cannot be patched into a checkout of another length.
        var boundToCheckout: Call? {
            guard key.mapping.checkout != nil else { return nil }
            var bound = self
            bound.key.mapping = key.mapping.withoutCheckout
            bound.directKey = bound.key.digest()
            return bound
        }
    }

    var trust: PatchTrust {
        PatchTrust(cacheDirectory: store.directory, requiredAgreements: configuration.trustAfter)
    }

    /// Serves a hit from the manifest, verifies one, or returns nil for a miss.
    func lookupAndServe(_ call: Call) -> Outcome? {
        guard let payload = store.read(call.directKey, kind: .manifest),
              let manifest = try? Manifest.decode(payload) else { return nil }
        guard let (index, settled) = ManifestMatcher(mapping: call.mapping, variable: lookup).matchRefreshing(manifest)
        else {
            log.write("no manifest entry matches")
            return nil
        }
        let entry = manifest.entries[index]
        guard let outcome = serve(entry.result, call, via: .manifest) else { return nil }
        if settled.isEmpty {
            store.markUsed(call.directKey, kind: .manifest)
        } else {
            // Headers recorded too soon after a change were hashed on every hit; their stats stand for
            // them from now on (a generated tree of 5,000 headers: 5,000 reads per hit before).
            var refreshed = manifest
            for (file, status) in settled {
                refreshed.entries[index].files[file].status = status
                refreshed.entries[index].files[file].statTrusted = true
            }
            do {
                try store.write(call.directKey, kind: .manifest, payload: refreshed.encode())
                log.write("\(settled.count) header stat(s) trusted from now on")
            } catch {
                store.markUsed(call.directKey, kind: .manifest)
            }
        }
        switch outcome {
        case .hit: reshare(entry, call)
        case .miss(_, let notes) where notes.contains(.patchAgreed): shareAgreement(entry, call)
        default: break
        }
        return outcome
    }

    /// How a result was found.
    enum HitRoute { case manifest, scan }

    /// Serves the stored result `resultKey` (or `preloaded`, its payload read from elsewhere), verifies it,
    /// or returns nil when it cannot be served here.
    func serve(_ resultKey: Digest, _ call: Call, via route: HitRoute, preloaded: [UInt8]? = nil) -> Outcome? {
        // gcc's precompiled headers differ from run to run (byte 61016 of a stdio one, compiled twice), so a
        // comparison would only ever report a false mismatch: they are not sampled.
        let sampled = configuration.verifyRate > 0 && !request.language.isHeader
            && Double.random(in: 0..<1) < configuration.verifyRate
        // One open of the entry: a damaged one (thrown) is read again the ordinary way, which removes it.
        let opened = preloaded != nil ? nil : try? StreamedResult.open(
            store.path(for: resultKey, kind: .result), files: store.files, kind: .result, key: resultKey,
            streaming: !sampled && call.mapping.isEmpty)
        let data: [UInt8]?
        switch opened {
        case .streamed(let streamed):
            if let outcome = serveStreamed(streamed, resultKey, call, via: route) { return outcome }
            data = store.read(resultKey, kind: .result)
        case .whole(let header, let body):
            data = store.decode(resultKey, kind: .result, header: header, body: body)
        case nil:
            data = preloaded ?? store.read(resultKey, kind: .result)
        }
        guard let data, let stored = try? CachedResult.decode(data) else {
            log.write("result \(resultKey.hex) missing")
            counters.add(.missingCacheFile)
            return nil
        }
        let patched = stored.pathsDigest != call.mapping.realPartsDigest
        var unitTrusted = false
        switch moveDecision(stored, resultKey, call) {
        case .asStored: break
        case .unitAgreed:
            log.write("this unit agreed with fresh compiles after earlier moves")
            unitTrusted = true
        case .refused(let why):
            log.write("result \(resultKey.hex) \(why): compiling")
            return nil
        case .verify(let why):
            guard let served = restore(stored, call) else { return nil }
            log.write("result \(resultKey.hex) \(why): verifying")
            return verify(served, call, sampled: false, result: resultKey)
        }
        guard let result = restore(stored, call) else { return nil }
        if sampled && !verifiesAfterReturning {
            log.write("hit sampled for verification before returning")
            return verify(result, call, sampled: true, route: route == .scan ? [.scanHit] : [])
        }
        do {
            let writer = ResultWriter(request: request,
                                      plainDiagnostics: storesColoredDiagnostics(call.compiler) && !colorDiagnostics,
                                      family: call.compiler.family)
            try UserMask.asCaller { () throws(SystemError) in try writer.write(result) }
        } catch {
            // Nothing was put in place; the compiler runs as called and has the last word.
            log.write("cannot write outputs: \(error)")
            return .uncached(.internalError)
        }
        store.markUsed(resultKey, kind: .result)
        let kind = route == .scan ? "scan hit " : "direct hit "
        log.write((patched ? "patched " : "") + kind + resultKey.hex)
        var notes: [Counter] = route == .scan ? [.scanHit] : []
        if patched { notes.append(.patchedHit) }
        if unitTrusted { notes.append(.patchUnitTrustedHit) }
        if sampled, verifyAfterReturning(result, call, resultKey: resultKey) {
            log.write("hit sampled for verification after returning")
            notes.append(.verifySampled)
        }
        return .hit(.exited(0), notes: notes)
    }

    /// What serving a stored result to this call takes, decided once for the lookup and for `explain`.
    enum MoveDecision {
        /// Stored at these paths, or its compile read none of its moving paths: only its text outputs (the
        /// dependency file, diagnostics) name them, and same-length patching of text is exact.
        case asStored
        /// It reads a moving path and has agreed with fresh compiles after earlier moves.
        case unitAgreed
        /// It may read a moving path and has not yet agreed: compiled and compared first.
        case verify(String)
        /// Never served patched: its class is distrusted, or it differed after an earlier move.
        case refused(String)
    }

    func moveDecision(_ stored: CachedResult, _ resultKey: Digest, _ call: Call) -> MoveDecision {
        guard stored.pathsDigest != call.mapping.realPartsDigest, stored.movesOnlyWithProof else { return .asStored }
        let reason = stored.pathDependence.reason
        guard let patchClass = call.patchClass, !trust.isDistrusted(patchClass) else {
            return .refused("was stored at other paths and its class of compile is distrusted for patching (\(reason))")
        }
        if trust.unitDisagreed(resultKey) {
            return .refused("was stored at other paths and reads them (\(reason)); after an earlier move it differed "
                            + "from a fresh compile")
        }
        if trust.unitAgreed(resultKey) { return .unitAgreed }
        return .verify("was stored at other paths and may read them (\(reason))")
    }

    /// Why a stored result is not served to this call as it is (for `incrcc explain`); nil when it is.
    func moveObstacle(_ stored: CachedResult, _ resultKey: Digest, _ call: Call) -> String? {
        switch moveDecision(stored, resultKey, call) {
        case .asStored, .unitAgreed: return nil
        case .refused(let why): return "it " + why + ": the call would compile"
        case .verify(let why): return "it " + why + ": the call would compile to check that the patched result is exact"
        }
    }

    /// A stored result with this call's paths; nil when it cannot be written exactly for them.
    func restore(_ stored: CachedResult, _ call: Call) -> CachedResult? {
        let restored = stored.restored(with: call.mapping, layout: DependencyLayout(call.compiler.family),
                                       target: { DependencyFile.escapeTarget(request.output) })
        if restored == nil { log.write("the dependency file cannot be laid out for this checkout") }
        return restored
    }
}

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
    /// The preprocessor-text key, once computed (direct mode off only: nil otherwise, so a hit pays nothing).
    let preprocessedText: PreprocessedTextMemo?

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
        if request.preprocessorDependency != nil || !request.dependencyTargets.isEmpty,
           let compiler = try? CompilerIdentity.identify(compilerPath, cacheDirectory: store.directory, now: Clock.nowNanoseconds()) {
            self.request = request.adapted(to: compiler.family)
        }
        self.compilerPath = compilerPath
        self.configuration = configuration
        self.store = store
        self.log = log
        self.currentDirectory = currentDirectory
        self.facts = FileFactsStore(store: store, now: Clock.nowNanoseconds())
        self.counters = CallCounters(enabled: configuration.compatibility.stats)
        if !configuration.statsLog.isEmpty { counters.log = (configuration.statsLog, request.source) }
        self.preprocessedText = configuration.directMode ? nil : PreprocessedTextMemo()
    }

    /// Whether diagnostics are stored coloured whatever the terminal: for gcc and clang without a colour
    /// option, so one entry serves a terminal and a log (the colours are stripped for the log; stripping
    /// gives gcc's and clang's plain text byte for byte, checked with both). Another compiler may not take
    /// `-fdiagnostics-color`, and is keyed by whether incrcc's stderr is a terminal instead.
    ///
    /// A compiled module interface records whether diagnostics were coloured (clang 16: one bit of its
    /// diagnostic options), so a call that writes one is compiled with the colours its caller's terminal
    /// gives, and keyed by them.
    func storesColoredDiagnostics(_ compiler: CompilerIdentity) -> Bool {
        !request.hasExplicitColorOption && compiler.family != .unknown && !request.modules.writesInterface
    }

    /// Whether the caller's stderr shows colours.
    var colorDiagnostics: Bool {
        guard !request.hasExplicitColorOption else { return false }
        switch request.colorChoice {
        case .always?: return true
        case .never?: return false
        case .auto?, nil: break
        }
        guard isatty(2) == 1 else { return false }
        return lookup("TERM").map { $0 != "dumb" } ?? false
    }

    /// Every path incrcc would write on a hit. Writing one means renaming a new file over it, so each must be
    /// a regular file or absent: `-o /dev/null` must never turn /dev/null into a file.
    var outputPaths: [String] {
        [request.output, request.dependencyFile?.path, request.splitDwarfOutput, request.coverageNotesOutput,
         request.stackUsageOutput, request.modules.interfaceOutput, request.callgraphInfoOutput,
         request.assemblerListingOutput, request.linkMapOutput].compactMap { $0 }
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
                if let outcome = lookUp(calls, LookupStrategy.local) { return outcome }
                // A call with the same key may be writing its entries after returning: wait for them, not compile.
                if BackgroundStore(store: store).waitForWriter(of: call.directKey) {
                    log.write("waited for the entries of a call with the same key")
                    if let outcome = lookUp(calls, LookupStrategy.local) { return outcome }
                }
            }
            if let outcome = lookUp(calls, [.shared]) { return outcome }
        }
        // `.incbin` or `#embed` in the source itself: nothing could be stored, so the compiler runs as called
        // (counted as ccache counts it, without a miss). One in a header shows only after the compile.
        if FileReferences.read(call.source).fallback == .embeddedFile {
            log.write("the source embeds a file no dependency list names: compiled uncached")
            return .uncached(.unsupportedCodeDirective)
        }
        switch compileFresh(call) {
        case .compiled(let fresh):
            if configuration.readOnly {
                log.write("read_only: compiled, not stored")
                return .miss(fresh.status)
            }
            // Told before returning, so the call counts as ccache counts it: no miss, a modified input.
            if fresh.status.succeeded, fresh.sourceChanged || !inputsSettled(call, fresh) {
                log.write("not stored: the source changed during the compile, or an input is dated after its start")
                return .miss(fresh.status, notes: [.tooNewDependency])
            }
            return storeAfterReturning(fresh, call)
        case .ended(let outcome): return outcome
        }
    }

    /// Whether the source's and the headers' times are before the compile began (unless `sloppiness` waives
    /// them): a file dated later may still be being written, or its clock is not to be trusted. The store
    /// checks the headers again; asked here too, so the call is counted before it returns.
    func inputsSettled(_ call: Call, _ fresh: FreshCompile) -> Bool {
        let compatibility = configuration.compatibility
        if let status = call.sourceStatus, !compatibility.acceptsNewDependency(status, compileStart: fresh.start) {
            return false
        }
        guard let text = fresh.dependencyText else { return true }
        for path in DependencyFile.prerequisites(text) where path != request.source && path != "/dev/null" {
            if let status = try? FileSystem.status(path), !compatibility.acceptsNewDependency(status, compileStart: fresh.start) {
                return false
            }
        }
        return true
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
}

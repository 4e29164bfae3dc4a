/// The lookup stage: the strategies of `LookupStrategy.order`, their *find* and *record* faces, and the
/// one place a found candidate is served. `run()`, the miss (`FreshCompile.store`) and `incrcc explain`
/// all go through here, so they cannot disagree on the order or on what a strategy accepts.
extension CachedCompile {
    /// What a find face offers candidates to. The compile is handed in rather than captured: a closure
    /// capturing `self` copies the whole compile (measured: +18 k instructions on a small C hit).
    typealias Consider = (borrowing CachedCompile, LookupCandidate) -> Bool

    /// A hit (or a verifying compile) for one of the call's keys through `strategies`, tried in order.
    func lookUp(_ calls: [Call], _ strategies: [LookupStrategy]) -> Outcome? {
        var outcome: Outcome?
        for strategy in strategies where disabledReason(strategy) == nil {
            _ = find(strategy, calls, notes: nil) { compile, candidate in
                outcome = compile.serve(candidate)
                return outcome != nil
            }
            if let outcome { return outcome }
        }
        return nil
    }

    /// Why `strategy` is not tried for this call (nil: it is). With direct mode off, a source the
    /// preprocessor does not read (`.i`, `.s`) is still found by its own key, which holds all it reads, as
    /// ccache's preprocessor mode finds it by its text: counted as a preprocessed-mode hit.
    func disabledReason(_ strategy: LookupStrategy) -> String? {
        if strategy == .manifest && !configuration.directMode && !request.language.isPreprocessed { return nil }
        return strategy.disabledReason(configuration)
    }

    /// The find face: offers `consider` each result `strategy` would serve for `calls` (the call first,
    /// then the call bound to its checkout), best first, until it takes one. Serves nothing itself.
    /// Returns whether one was taken; `notes`, when given, hears why each was not offered.
    func find(_ strategy: LookupStrategy, _ calls: [Call], notes: LookupNotes?,
              consider: Consider) -> Bool {
        guard let first = calls.first else { return false }
        if request.readsBeyondHeaders && !strategy.servesOwnInputs {
            notes?.add(request.links ? "not tried for a compile-and-link call" : "not tried for a call that reads compiled module interfaces")
            return false
        }
        switch strategy {
        case .manifest:
            var anyManifest = false
            for (position, call) in calls.enumerated() {
                let prefix = position == 0 ? "" : "keyed by this checkout: "
                switch findInManifest(call, prefix: prefix, notes: notes, consider: consider) {
                case true?: return true
                case false?: anyManifest = true
                case nil: break
                }
            }
            if !anyManifest {
                notes?.add("no manifest under this key: the compiler, options, variables and source content of this "
                           + "call were not compiled together before (or the entry was evicted)")
            }
            return false
        case .realPaths:
            guard let raw = first.realPaths else {
                notes?.add("the call has no moving path parts")
                return false
            }
            if let found = findInManifest(raw, prefix: "keyed by these real paths: ", notes: notes, consider: consider) {
                return found
            }
            notes?.add("nothing was stored under the real paths")
            return false
        case .unreadOptions:
            return findAcrossUnreadOptions(first, notes: notes, consider: consider)
        case .skippedGroups:
            return findAcrossSkippedGroups(first, notes: notes, consider: consider)
        case .scan:
            for call in calls where findByScan(call, notes: notes, consider: consider) { return true }
            return false
        case .preprocessedText:
            return findByPreprocessedText(first, notes: notes, consider: consider)
        case .shared:
            return findShared(calls, notes: notes, consider: consider)
        }
    }

    /// The manifest's entries that match now: nil when there is no manifest under the key. On the hit path
    /// only the first match is looked for (refreshing stats that settled); `explain` hears every entry.
    func findInManifest(_ call: Call, prefix: String, notes: LookupNotes?,
                        consider: Consider) -> Bool? {
        guard let payload = store.read(call.directKey, kind: .manifest),
              let manifest = try? Manifest.decode(payload) else { return nil }
        var matcher = ManifestMatcher(mapping: call.mapping, variable: lookup)
        if request.modules.isUsed { matcher.moduleProvenance = ModuleProvenance(store: store) }
        if let notes {
            for (index, entry) in manifest.entries.enumerated() {
                let label = prefix + "entry \(index + 1) of \(manifest.entries.count) (result \(entry.result.hex))"
                if let difference = matcher.firstDifference(entry) {
                    notes.add("\(label): \(difference)")
                    continue
                }
                notes.subject = label
                if consider(self, LookupCandidate(strategy: .manifest, call: call, result: entry.result,
                                            settlement: .manifestEntry(manifest, index: index, settled: [:]))) {
                    return true
                }
            }
            return false
        }
        guard let (index, settled) = matcher.matchRefreshing(manifest) else {
            log.write("no manifest entry matches")
            return false
        }
        return consider(self, LookupCandidate(strategy: .manifest, call: call, result: manifest.entries[index].result,
                                        counter: configuration.directMode ? nil : .scanHit,
                                        settlement: .manifestEntry(manifest, index: index, settled: settled)))
    }

    /// Serves a candidate (or verifies it), then records what its strategy leaves for the next call; nil
    /// when it cannot be served here.
    func serve(_ candidate: LookupCandidate) -> Outcome? {
        if case .shared(let found) = candidate.settlement { adoptSharedAgreement(found, candidate.call) }
        guard let outcome = serve(candidate.result, candidate.call, counter: candidate.counter,
                                  preloaded: candidate.preloaded) else { return nil }
        settle(candidate, outcome)
        return outcome
    }

    /// What a served candidate records: its manifest marked used or refreshed, a new entry under the call's
    /// own key, the shared result copied locally; and what a hit or an agreement shares back.
    func settle(_ candidate: LookupCandidate, _ outcome: Outcome) {
        let call = candidate.call
        let hit: Bool
        if case .hit = outcome { hit = true } else { hit = false }
        switch candidate.settlement {
        case .manifestEntry(let manifest, let index, let settled):
            if settled.isEmpty {
                store.markUsed(call.directKey, kind: .manifest)
            } else {
                // Headers recorded too soon after a change were hashed on every hit; their stats stand for
                // them from now on.
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
            let entry = manifest.entries[index]
            switch outcome {
            case .hit: reshare(entry, call)
            case .miss(_, let notes) where notes.contains(.patchAgreed): shareAgreement(entry, call)
            default: break
            }
        case .directEntry(let files, let absentPaths, let skeleton):
            guard hit else { return }
            do {
                try addManifestEntry(call, files: files, absentPaths: absentPaths, result: candidate.result)
                if let skeleton { keepSkeleton(skeleton) }
            } catch {
                log.write("cannot record the entry under this call's key: \(error)")
            }
        case .scanned(let graph):
            guard hit else { return }
            store.markUsed(call.directKey, kind: .scanIndex)
            recordInManifest(graph, result: candidate.result, call)
        case .shared(let found):
            keepShared(found, call, outcome)
        case .preprocessedText:
            if hit { store.markUsed(call.directKey, kind: .preprocessedText) }
        }
    }

    /// The record face: what a miss stores for `strategy`, once its result is written. Returns the counters
    /// to note; throws when the manifest cannot be written (nothing then finds the result).
    func record(_ strategy: LookupStrategy, _ miss: StoredMiss) throws(SystemError) -> [Counter] {
        let local = !configuration.remote.remoteOnly && (configuration.directMode || disabledReason(strategy) == nil)
        if request.readsBeyondHeaders && !strategy.servesOwnInputs { return [] }
        switch strategy {
        case .manifest:
            guard local else { return [] }
            var manifest = store.read(miss.call.directKey, kind: .manifest).flatMap { try? Manifest.decode($0) } ?? Manifest()
            manifest.add(miss.entry)
            try store.write(miss.call.directKey, kind: .manifest, payload: manifest.encode())
            return [.localStorageWrite]
        case .realPaths:
            // Nothing of its own: `store` keys a unit that disagreed after a move by its real paths, and the
            // manifest strategy records it there.
            return []
        case .unreadOptions:
            if local { recordLooseEntry(miss.call, miss.recorded, entry: miss.entry) }
            return []
        case .skippedGroups:
            if local { recordSkeletons(miss.recorded) }
            return []
        case .scan:
            guard !configuration.remote.remoteOnly else { return [] }
            return indexForScan(miss.call, recording: miss.recorded, result: miss.entry.result)
        case .preprocessedText:
            guard local, !configuration.remote.remoteOnly else { return [] }
            return recordPreprocessedText(miss)
        case .shared:
            guard configuration.remote.isEnabled else { return [] }
            let pending = PendingUpload(call: miss.call, files: miss.entry.files, absentPaths: miss.entry.absentPaths,
                                        payload: miss.payload)
            if let upload = miss.upload { upload(pending) } else { self.upload(pending, warns: true) }
            return []
        }
    }

    /// A fresh compile as the record faces see it: its result is written (locally unless `remote_only`).
    struct StoredMiss {
        var call: Call
        var recorded: DependencyRecorder.Recording
        /// The manifest entry: normalized files, absent paths and the result's key.
        var entry: ManifestEntry
        var payload: [UInt8]
        /// Where the shared tier's upload goes (a background store sends it after releasing its lock).
        var upload: ((PendingUpload) -> Void)?
    }
}

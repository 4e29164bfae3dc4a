import Glibc

/// A compile's results as the shared tier keeps them: read on a local miss (and copied into the local
/// store), written after returning. Shared keys are SHA-256 over the same inputs as the local ones, with
/// every content digest anyone could influence (source, headers, extra files) SHA-256 as well.
extension CachedCompile {
    /// What a stored compile leaves to upload once the local entries are written.
    struct PendingUpload {
        var call: Call
        /// Normalized paths and local digests, as the local manifest records them.
        var files: [RecordedFile]
        var absentPaths: [String]
        var payload: [UInt8]
    }

    func remoteStorage(for call: Call, warns: Bool) -> RemoteStorage {
        let counters = self.counters
        let storage = RemoteStorage(specs: configuration.remote.storage, lookup: lookup, log: log,
                                    markerDirectory: store.directory + "/tmp", count: { counters.add($0) })
        storage.warns = warns
        return storage
    }

    /// The call's key in the shared tier; nil when a content changed since the local key was computed.
    func strongManifestKey(_ call: Call) -> StrongDigest? {
        var keyed = call.source
        if Digest.of(keyed) != call.key.sourceDigest {
            guard let normalized = call.mapping.withoutCheckout.normalizeReversibly(call.source),
                  Digest.of(normalized) == call.key.sourceDigest else { return nil }
            keyed = normalized
        }
        var extras: [StrongDigest] = []
        for (index, path) in call.extraInputPaths.enumerated() {
            let bytes = try? FileSystem.readFile(path)
            guard index < call.key.extraInputs.count,
                  Self.extraInputDigest(bytes) == call.key.extraInputs[index] else { return nil }
            extras.append(bytes.map(StrongDigest.of) ?? StrongDigest(unchecked: [UInt8](repeating: 0, count: 32)))
        }
        return call.key.strongDigest(source: StrongDigest.of(keyed), extraInputs: extras,
                                     namespace: configuration.remote.namespace)
    }

    /// What the shared tier records of a variable a result read.
    static func strongVariableDigest(_ value: String?) -> StrongDigest {
        value.map { StrongDigest.of(Array(("=" + $0).utf8)) } ?? StrongDigest(unchecked: [UInt8](repeating: 0, count: 32))
    }

    /// What the shared tier's find face found: enough to copy the entry into the local store once served.
    struct SharedFind {
        var remote: RemoteStorage
        var manifestKey: StrongDigest
        var entry: RemoteManifest.Entry
        /// The local files for the entry, as the local manifest records them.
        var files: [RecordedFile]
        /// The result's payload, and the framed entry it came in (copied as it is).
        var payload: [UInt8]
        var frame: [UInt8]
        var stored: CachedResult
    }

    /// The find face: the stored ways of compiling this call that match the files here (each compared by
    /// SHA-256), each result checked against its key and decoded before it is offered.
    func findShared(_ calls: [Call], notes: LookupNotes?, consider: Consider) -> Bool {
        guard let first = calls.first else { return false }
        let remote = remoteStorage(for: first, warns: true)
        for call in calls {
            guard let manifestKey = strongManifestKey(call) else { continue }
            guard let data = remote.get(manifestKey) else {
                notes?.add("no shared manifest under this key (or the shared tier did not answer)")
                continue
            }
            guard let payload = try? EntryCodec.decode(data, kind: .manifest, key: manifestKey.checksumKey),
                  let manifest = try? RemoteManifest.decode(payload) else {
                log.write("shared manifest \(manifestKey.hex) is damaged: not used")
                notes?.add("the shared manifest is damaged")
                remote.noteDamaged(manifestKey, what: "manifest")
                continue
            }
            for (index, entry) in manifest.entries.enumerated() {
                let label = "shared entry \(index + 1) of \(manifest.entries.count)"
                guard let files = matchShared(entry, call) else {
                    notes?.add("\(label): a file it read differs here, or a candidate header exists here")
                    continue
                }
                guard let resultData = manifest.inlinedBlob(for: entry.result) ?? remote.get(entry.result) else {
                    notes?.add("\(label): matches, but its result is not in the shared tier")
                    break
                }
                guard let result = try? EntryCodec.decode(resultData, kind: .result, key: entry.result.checksumKey),
                      let stored = try? CachedResult.decode(result) else {
                    log.write("shared result \(entry.result.hex) is damaged: not used")
                    notes?.add("\(label): matches, but its result is damaged")
                    remote.noteDamaged(entry.result, what: "result")
                    break
                }
                let localKey = ResultKey.digest(directKey: call.directKey, dependencies: files.map { ($0.path, $0.digest) })
                let found = SharedFind(remote: remote, manifestKey: manifestKey, entry: entry, files: files,
                                       payload: result, frame: resultData, stored: stored)
                notes?.subject = "\(label) (result \(entry.result.hex))"
                if consider(self, LookupCandidate(strategy: .shared, call: call, result: localKey, preloaded: result,
                                            counter: .remoteStorageReadHit, settlement: .shared(found))) {
                    return true
                }
            }
        }
        remote.count(.remoteStorageReadMiss)
        counters.add(.remoteStorageMiss)
        return false
    }

    /// Before a shared result is served: a patched binary another machine has seen agree with a fresh
    /// compile is served like one that agreed here.
    func adoptSharedAgreement(_ found: SharedFind, _ call: Call) {
        let localKey = ResultKey.digest(directKey: call.directKey, dependencies: found.files.map { ($0.path, $0.digest) })
        guard found.stored.movesOnlyWithProof, found.stored.pathsDigest != call.mapping.realPartsDigest,
              let patchClass = call.patchClass, !trust.isDistrusted(patchClass), !trust.unitAgreed(localKey),
              sharedAgreement(found.remote, manifestKey: found.manifestKey, result: localKey, shared: found.entry.result)
        else { return }
        log.write("the shared tier holds an agreement for \(found.entry.result.hex)")
        trust.recordUnitAgreement(localKey)
    }

    /// After a shared result was served: copied into the local store (unless `remote_only`) and, when a
    /// patched one agreed with a fresh compile, the agreement shared. Both after returning: creating the
    /// entries' files cost 4 ms of a 7 ms shared hit here.
    func keepShared(_ found: SharedFind, _ call: Call, _ outcome: Outcome) {
        log.write("shared hit \(found.entry.result.hex)")
        let agreed: Bool
        if case .miss(_, let notes) = outcome { agreed = notes.contains(.patchAgreed) } else { agreed = false }
        guard !configuration.remote.remoteOnly || agreed else { return }
        let localKey = ResultKey.digest(directKey: call.directKey, dependencies: found.files.map { ($0.path, $0.digest) })
        afterReturning {
            if !configuration.remote.remoteOnly {
                copyToLocalStore(call, files: found.files, absentPaths: found.entry.absentPaths, resultKey: localKey,
                                 payload: found.payload, frame: found.frame)
                facts.rememberAbsent(found.entry.absentPaths.map(call.mapping.restore))
            }
            if agreed {
                putAgreement(remoteStorage(for: call, warns: false), manifestKey: found.manifestKey,
                             result: localKey, shared: found.entry.result)
            }
        }
    }

    /// The local files for `entry` when every one has the content it records and every absent path is still
    /// absent; nil otherwise.
    func matchShared(_ entry: RemoteManifest.Entry, _ call: Call) -> [RecordedFile]? {
        // Names remembered missing from unchanged directories first, then a stat each but under directories
        // found missing: listing the system's include directories cost a C++ STL shared hit 2.1 M more
        // instructions than the 660 stats it saved (callgrind), and no wall time measurably.
        var probe = AbsenceProbe()
        for path in entry.absentPaths {
            let real = call.mapping.restore(path)
            if !facts.remembersAbsent(real) && !probe.isAbsent(real) { return nil }
        }
        let contents = call.mapping.withoutCheckout
        let now = Clock.nowNanoseconds()
        var files: [RecordedFile] = []
        for file in entry.files {
            if file.path.utf8.first == 0 {
                let value = lookup(String(file.path.dropFirst()))
                guard Self.strongVariableDigest(value) == file.digest else { return nil }
                files.append(.variable(String(file.path.dropFirst()), digest: DependencyRecorder.variableDigest(value)))
                continue
            }
            let path = call.mapping.restore(file.path)
            // Nothing to normalize: the remembered digests stand for the bytes.
            if contents.pairs.isEmpty {
                guard let known = facts.strongDigest(of: path), known.strong == file.digest else { return nil }
                files.append(RecordedFile(path: file.path, digest: known.digest, status: known.status,
                                          statTrusted: StatTrust.isSettled(known.status, now: now)))
                continue
            }
            guard let before = try? FileSystem.status(path), before.isRegularFile,
                  let bytes = try? FileSystem.readFile(path), let after = try? FileSystem.status(path),
                  after.sameContentAs(before) else { return nil }
            let keyed = contents.pairs.isEmpty ? bytes : contents.normalizeReversibly(bytes) ?? bytes
            guard StrongDigest.of(keyed) == file.digest else { return nil }
            files.append(RecordedFile(path: file.path, digest: Digest.of(keyed), status: before,
                                      statTrusted: StatTrust.isSettled(before, now: now)))
        }
        return files
    }

    func copyToLocalStore(_ call: Call, files: [RecordedFile], absentPaths: [String], resultKey: Digest, payload: [UInt8],
                          frame: [UInt8]? = nil) {
        do {
            try store.write(resultKey, kind: .result, payload: payload, frame: frame)
            counters.add(.localStorageWrite)
            try addManifestEntry(call, files: files, absentPaths: absentPaths, result: resultKey)
            counters.add(.localStorageWrite)
        } catch {
            log.write("cannot copy a shared hit into the local store: \(error)")
        }
    }

    /// Adds an entry for a result found elsewhere (the shared tier, another call's options) to the call's
    /// own manifest, with the same proof a local miss records, so this machine's later hits stat a
    /// directory, not each absent path. `absentPaths` are normalized.
    func addManifestEntry(_ call: Call, files: [RecordedFile], absentPaths: [String], result: Digest) throws(SystemError) {
        let proof = AbsentDirectories.settled(for: absentPaths.map(call.mapping.restore), now: Clock.nowNanoseconds())
        var manifest = store.read(call.directKey, kind: .manifest).flatMap { try? Manifest.decode($0) } ?? Manifest()
        manifest.add(ManifestEntry(
            files: files, absentPaths: proof.paths.map(call.mapping.normalize), result: result,
            absentDirectories: proof.directories.map {
                RecordedDirectory(path: call.mapping.normalize($0.path), status: $0.status)
            },
            uncoveredAbsentPaths: proof.uncovered))
        try store.write(call.directKey, kind: .manifest, payload: manifest.encode())
    }

    /// Writes one stored compile to the shared tier: the result under its strong key, then the call's shared
    /// manifest with this entry first and the entries other machines stored kept. Skipped when a file changed
    /// since it was recorded (its SHA-256 would describe another content).
    func upload(_ pending: PendingUpload, warns: Bool) {
        guard configuration.remote.isEnabled, configuration.directMode else { return }
        let call = pending.call
        let remote = remoteStorage(for: call, warns: warns)
        guard remote.isWritable, let manifestKey = strongManifestKey(call) else { return }
        guard let strongFiles = strongFiles(pending.files, call) else { return }
        let resultKey = RemoteManifest.resultKey(manifestKey: manifestKey, files: strongFiles)
        let level = configuration.compressionLevel
        let blob = EntryCodec.encode(pending.payload, kind: .result, key: resultKey.checksumKey, level: level)
        // Written only where absent (the same inputs give the same bytes), except over an entry a call found
        // damaged: the next good upload replaces it, so damage heals instead of making every machine miss.
        let damaged = remote.isMarkedDamaged(resultKey)
        if remote.put(resultKey, blob, overwrite: damaged), damaged {
            remote.clearDamaged(resultKey)
            log.write("shared result \(resultKey.hex) replaced a damaged one")
        }
        var manifest = RemoteManifest()
        if let data = remote.get(manifestKey),
           let payload = try? EntryCodec.decode(data, kind: .manifest, key: manifestKey.checksumKey),
           let stored = try? RemoteManifest.decode(payload) {
            manifest = stored
        }
        manifest.add(RemoteManifest.Entry(files: strongFiles, absentPaths: pending.absentPaths, result: resultKey))
        manifest.inlined = blob.count <= RemoteManifest.maximumInlined ? .init(key: resultKey, blob: blob) : nil
        if remote.put(manifestKey, EntryCodec.encode(manifest.encode(), kind: .manifest, key: manifestKey.checksumKey, level: level),
                      overwrite: true), remote.isMarkedDamaged(manifestKey) {
            remote.clearDamaged(manifestKey)
        }
        log.write("shared result \(resultKey.hex) under \(manifestKey.hex)")
    }

    /// The shared tier's digests of a manifest entry's files, read again (or remembered by stat); nil when
    /// one changed since it was recorded, since its SHA-256 would describe another content.
    func strongFiles(_ files: [RecordedFile], _ call: Call) -> [(path: String, digest: StrongDigest)]? {
        let contents = call.mapping.withoutCheckout
        var strongFiles: [(path: String, digest: StrongDigest)] = []
        for file in files {
            if case .variable(let name) = file.input {
                strongFiles.append((file.path, Self.strongVariableDigest(lookup(name))))
                continue
            }
            let path = call.mapping.restore(file.path)
            if contents.pairs.isEmpty, let known = facts.strongDigest(of: path), known.digest == file.digest {
                strongFiles.append((file.path, known.strong))
                continue
            }
            guard let bytes = try? FileSystem.readFile(path) else { return nil }
            let keyed = contents.pairs.isEmpty ? bytes : contents.normalizeReversibly(bytes) ?? bytes
            guard Digest.of(keyed) == file.digest else {
                log.write("not shared: \(file.path) changed since it was recorded")
                return nil
            }
            strongFiles.append((file.path, StrongDigest.of(keyed)))
        }
        return strongFiles
    }

    /// Where the shared tier records that a unit's patched result agreed with a fresh compile: under the
    /// call's shared key and the unit's result, holding the shared key of the result that agreed, so a
    /// machine trusts it only for that very result.
    static func agreementKey(manifestKey: StrongDigest, result: Digest) -> StrongDigest {
        var hasher = StrongHasher()
        hasher.update("incrcc shared unit agreement 1")
        hasher.update(manifestKey)
        hasher.update(result)
        return hasher.finalize()
    }

    func putAgreement(_ remote: RemoteStorage, manifestKey: StrongDigest, result: Digest, shared: StrongDigest) {
        let key = Self.agreementKey(manifestKey: manifestKey, result: result)
        remote.put(key, EntryCodec.encode(shared.bytes, kind: .manifest, key: key.checksumKey, level: 1), overwrite: true)
    }

    /// Whether another machine saw `shared` (this unit's result) agree with a fresh compile after a move.
    func sharedAgreement(_ remote: RemoteStorage, manifestKey: StrongDigest, result: Digest, shared: StrongDigest) -> Bool {
        let key = Self.agreementKey(manifestKey: manifestKey, result: result)
        guard let data = remote.get(key),
              let payload = try? EntryCodec.decode(data, kind: .manifest, key: key.checksumKey) else { return false }
        return payload == shared.bytes
    }

    /// A local patched result that just agreed with a fresh compile: the shared tier learns it too.
    func shareAgreement(_ entry: ManifestEntry, _ call: Call) {
        guard configuration.remote.isEnabled, configuration.directMode else { return }
        afterReturning {
            let remote = remoteStorage(for: call, warns: false)
            guard remote.isWritable, let manifestKey = strongManifestKey(call),
                  let files = strongFiles(entry.files, call) else { return }
            putAgreement(remote, manifestKey: manifestKey, result: entry.result,
                         shared: RemoteManifest.resultKey(manifestKey: manifestKey, files: files))
        }
    }

    /// `reshare`: a local hit is written to the shared tier from a detached child, after returning.
    func reshare(_ entry: ManifestEntry, _ call: Call) {
        guard configuration.remote.reshare, configuration.remote.isEnabled,
              let payload = store.read(entry.result, kind: .result) else { return }
        afterReturning {
            upload(PendingUpload(call: call, files: entry.files, absentPaths: entry.absentPaths, payload: payload),
                   warns: false)
        }
    }

    /// Runs `body` in a detached child once this call has returned, registered as a writer so that the
    /// statistics commands wait for it; here when no child can be started.
    func afterReturning(_ body: () -> Void) {
        facts.flush(strongDigests: false)
        // The writers' lock is taken before the fork, so no statistics command can slip in before the child.
        let writer = BackgroundStore(store: store)
        guard storesInBackground, let lock = try? store.files.open(writer.writersLockPath, O_RDWR | O_CREAT, create: true)
        else {
            body()
            return
        }
        guard BackgroundStore.lock(lock, LOCK_SH, waitingAtMost: BackgroundStore.longestWait) else {
            close(lock)
            body()
            return
        }
        let pid = BackgroundStore.forkDetachable()
        if pid != 0 {
            close(lock)
            if pid < 0 { body() } else { facts.handStrongDigestsToChild() }
            return
        }
        _ = setsid()
        BackgroundStore.detachDescriptors(keeping: [lock])
        writer.announce(marker: -1)
        body()
        facts.flush()
        writer.unregister()
        _exit(0)
    }
}

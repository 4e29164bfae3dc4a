import Glibc

/// Serving one stored result to a call: whether it may move to this call's paths, restoring it, writing
/// its outputs, and the sampled verification of hits.
extension CachedCompile {
    /// Serves the stored result `resultKey` (or `preloaded`, its payload read from elsewhere), verifies it,
    /// or returns nil when it cannot be served here. `counter` is the strategy's own hit counter.
    func serve(_ resultKey: Digest, _ call: Call, counter: Counter?, preloaded: [UInt8]? = nil) -> Outcome? {
        let route: [Counter] = counter.map { [$0] } ?? []
        // gcc's precompiled headers differ from run to run (byte 61016 of a stdio one, compiled twice), so a
        // comparison would only ever report a false mismatch: they are not sampled.
        let sampled = configuration.verifyRate > 0 && !request.language.isHeader && !request.links
            && Double.random(in: 0..<1) < configuration.verifyRate
        // One open of the entry: a damaged one (thrown) is read again the ordinary way, which removes it.
        let opened = preloaded != nil ? nil : try? StreamedResult.open(
            store.path(for: resultKey, kind: .result), files: store.files, kind: .result, key: resultKey,
            streaming: !sampled && call.mapping.isEmpty && !request.links && request.modules.interfaceOutput == nil)
        let data: [UInt8]?
        switch opened {
        case .streamed(let streamed):
            if let outcome = serveStreamed(streamed, resultKey, call, route: route) { return outcome }
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
        guard var result = restore(stored, call) else { return nil }
        var notesOfInterface: [Counter] = []
        if request.modules.interfaceOutput != nil, result.file(.moduleContext) != Array(currentDirectory.utf8) {
            // Written in another directory, which its interface records: the compiler writes it again here.
            guard let interface = rebuiltInterface() else { return nil }
            result = result.placingInterface(interface, writtenIn: currentDirectory)
            notesOfInterface = [.moduleInterfaceRebuilt]
            // Kept for this directory from now on: a build directory is rebuilt in more often than another
            // is switched to.
            let moved = stored.placingInterface(interface, writtenIn: currentDirectory)
            try? store.write(resultKey, kind: .result, payload: moved.encode())
        }
        rememberInterface(result, resultKey: resultKey)
        if sampled && !verifiesAfterReturning {
            log.write("hit sampled for verification before returning")
            return verify(result, call, sampled: true, route: route)
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
        log.write((patched ? "patched " : "") + (route.first == .scanHit ? "scan hit " : "direct hit ") + resultKey.hex)
        var notes = route + notesOfInterface
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
                                       target: { request.dependencyTargetText })
        if restored == nil { log.write("the dependency file cannot be laid out for this checkout") }
        return restored
    }

    /// A large hit served from its uncompressed entry without reading it whole. Opened for streaming only
    /// where nothing is patched (the call has no ephemeral paths) and the hit is not sampled for
    /// verification; nil: the ordinary way serves it.
    func serveStreamed(_ streamed: StreamedResult, _ resultKey: Digest, _ call: Call, route: [Counter]) -> Outcome? {
        defer { streamed.close() }
        guard streamed.result.pathsDigest == call.mapping.realPartsDigest, let inline = restore(streamed.result, call)
        else { return nil }
        do {
            let writer = ResultWriter(request: request,
                                      plainDiagnostics: storesColoredDiagnostics(call.compiler) && !colorDiagnostics,
                                      family: call.compiler.family)
            try UserMask.asCaller { () throws(SystemError) in try writer.write(inline, streamed: streamed) }
        } catch {
            log.write("cannot write outputs: \(error)")
            return .uncached(.internalError)
        }
        store.markUsed(resultKey, kind: .result)
        log.write((route.first == .scanHit ? "scan hit " : "direct hit ") + resultKey.hex + " (streamed)")
        return .hit(.exited(0), notes: route)
    }
}

import Glibc

/// The safety net off the build's critical path: a hit sampled by `verify_rate` is served at once, and a
/// detached child at idle priority compiles the same call into a temporary object and compares it with what
/// was served, so a sampled hit costs the build no compile.
///
/// At most one verifier runs per cache (`tmp/verify.lock`, taken without waiting: a busy build skips the
/// sample rather than queueing compiles). A mismatch distrusts the class of compile, removes the result,
/// is counted, and is reported on the stderr of the next call that uses the cache (`verify-mismatch`).
extension CachedCompile {
    /// Whether the served outputs can be reproduced elsewhere: the object's own path must not reach it
    /// (split DWARF, coverage), nor find its inputs (gcc looks for `-fprofile-use` data by the object's
    /// name, so a compile to a temporary object would read none and differ), it must be written at all, and
    /// the process must outlive the call (not in a Nix builder). Other sampled hits are verified before
    /// returning, as before.
    var verifiesAfterReturning: Bool {
        !request.outputDependsOnOutputPath && request.profileUse == nil && !request.discardsObject && storesInBackground
    }

    static let verifierLock = "/tmp/verify.lock"
    static let mismatchReport = "/verify-mismatch"

    /// Starts the verifier and returns at once; false (nothing started) when another verifier is at work.
    func verifyAfterReturning(_ served: CachedResult, _ call: Call, resultKey: Digest) -> Bool {
        guard let lock = try? store.files.open(store.directory + Self.verifierLock, O_RDWR | O_CREAT, create: true)
        else { return false }
        guard flock(lock, LOCK_EX | LOCK_NB) == 0 else {
            close(lock)
            log.write("a verifier is at work: sample skipped")
            return false
        }
        let pid = BackgroundStore.forkDetachable()
        if pid != 0 {
            close(lock)
            return pid > 0
        }
        _ = setsid()
        counters.discard()
        BackgroundStore.detachDescriptors(keeping: [lock])
        _ = nice(19)
        var parameters = sched_param()
        _ = sched_setscheduler(0, Self.idleScheduler, &parameters)
        compareInBackground(served, call, resultKey: resultKey)
        counters.write(to: store.stats)
        _exit(0)
    }

    /// How long before the call began a file's times still count as "changed since": file times come from
    /// the kernel's coarse clock, up to a tick (4 ms at HZ=250) behind the clock the call read.
    static let clockTickMargin: Int64 = 20_000_000

    /// Whether the inputs a verification compiles are the ones the hit was served for: the source holds the
    /// bytes the key was computed over, and no file the compiler read (`dependencyText`, its `-MD` list) was
    /// written since the call began. A header created since that shadows one the hit used is among the
    /// files read, with its new times.
    func unchangedSinceCall(_ call: Call, dependencyText: [UInt8]?) -> Bool {
        if request.source != "/dev/null" {
            guard let bytes = try? FileSystem.readFile(request.source), bytes == call.source else { return false }
        }
        guard let dependencyText else { return true }
        let threshold = facts.now - Self.clockTickMargin
        for path in DependencyFile.prerequisites(dependencyText) {
            guard let status = try? FileSystem.status(path) else { return false }
            if status.changedNanoseconds >= threshold || status.modifiedNanoseconds >= threshold { return false }
        }
        return true
    }

    /// Linux's SCHED_IDLE (behind _GNU_SOURCE in Glibc's headers).
    static let idleScheduler: Int32 = 5

    func compareInBackground(_ served: CachedResult, _ call: Call, resultKey: Digest) {
        let object = FileSystem.temporaryName(beside: store.temporaryDirectory + "/verify") + ".o"
        let dependencies = object + ".d"
        store.makeTemporaryDirectory()
        defer {
            FileSystem.remove(object)
            FileSystem.remove(dependencies)
        }
        func inconclusive(_ why: String) {
            log.write("background verification inconclusive: \(why)")
            counters.add(.verifyInconclusive)
        }
        // The hit was served for the inputs as they were when the call began: a verdict is only worth
        // something on those. An input edited since (configure rewrites `conftest.c` at once) voids it.
        guard unchangedSinceCall(call, dependencyText: nil) else { return inconclusive("the source changed after the hit") }
        var arguments = request.argumentsWithoutOutputs() + [request.producesAssembly ? "-S" : "-c", "-o", object]
        if request.language.isPreprocessed { arguments += ["-MD", "-MF", dependencies] }
        if call.key.colorDiagnostics || storesColoredDiagnostics(call.compiler) { arguments.append("-fdiagnostics-color") }
        let command = prefix + [compilerPath] + arguments
        let run = try? UserMask.asCaller({ () throws(SystemError) in try ChildProcess.runCapturing(command[0], command) })
        let dependencyText = request.language.isPreprocessed ? (try? FileSystem.readFile(dependencies)) ?? [] : nil
        guard unchangedSinceCall(call, dependencyText: dependencyText) else {
            return inconclusive("an input changed after the hit")
        }
        guard let run, run.status.succeeded, let bytes = try? FileSystem.readFile(object) else {
            log.write("background verification could not compile")
            return
        }
        let servedObject = served.files.first { $0.kind == .object }?.bytes
        var differences: [String] = []
        if servedObject != bytes { differences.append("object") }
        if served.stdout != run.stdout { differences.append("stdout") }
        if served.stderr != run.stderr { differences.append("stderr") }
        guard !differences.isEmpty else {
            log.write("background verification agreed")
            return
        }
        let what = differences.joined(separator: ", ")
        let patchClass = call.patchClass ?? PatchTrust.classDigest(compiler: call.compiler.digest, request: request)
        log.write("background verification DISAGREED for class \(patchClass.hex): \(what)")
        trust.distrust(patchClass, reason: "\(compilerPath) \(request.arguments.joined(separator: " ")): \(what)")
        store.files.remove(store.path(for: resultKey, kind: .result))
        counters.add(.verifyMismatch)
        let message = "warning: a cached result for \(request.source) differed from a fresh compile (\(what)); "
            + "it was removed and this class of compile is no longer patched\n"
        if let fd = try? store.files.open(store.directory + Self.mismatchReport, O_WRONLY | O_CREAT | O_APPEND) {
            try? FileSystem.writeAll(fd, Array(message.utf8), path: Self.mismatchReport)
            close(fd)
        }
    }
}

extension CacheStore {
    /// Shows what background verifiers found since the last call, once.
    func reportMismatches() {
        let path = directory + CachedCompile.mismatchReport
        guard files.status(path) != nil, let text = try? files.readIfExists(path) else { return }
        files.remove(path)
        Console.write(text, to: 2)
    }
}

extension CompileRequest {
    /// The arguments without the object and dependency-file options (`-o`, `-c`, `-S`, `-M…`, `-Wp,-M…`),
    /// for a compile that writes elsewhere.
    public func argumentsWithoutOutputs() -> [String] {
        var out: [String] = []
        var index = 0
        let dropWithValue: Set<String> = ["-o", "-MF", "-MT", "-MQ"]
        while index < arguments.count {
            let arg = arguments[index]
            if dropWithValue.contains(arg) { index += 2; continue }
            let joined = ["-o", "-MF", "-MT", "-MQ"].contains { arg.hasPrefix($0) && arg.count > $0.count }
                && !["-MD", "-MMD", "-MP"].contains(arg) || arg.hasPrefix("-Wp,-MD,") || arg.hasPrefix("-Wp,-MMD,")
            if joined || ["-c", "-S", "-MD", "-MMD", "-MP"].contains(arg) { index += 1; continue }
            out.append(arg)
            index += 1
        }
        return out
    }
}

extension CachedCompile {
    /// Compiles although a result would be served, and compares byte for byte: what the cache would have
    /// written against what the compiler wrote. The fresh outputs are the ones the call keeps.
    ///
    /// A patched result on trial earns its class an agreement or distrusts it; a sampled ordinary hit that
    /// disagrees is reported on stderr and distrusts its class too. After a disagreement the fresh result is
    /// stored under the real-path key, which is what the class is keyed by from now on.
    ///
    /// A sampled hit that agrees is still a hit (with `route`'s notes), so identical builds count alike.
    func verify(_ served: CachedResult, _ call: Call, sampled: Bool, route: [Counter] = [],
                result: Digest? = nil) -> Outcome {
        let fresh: FreshCompile
        switch compileFresh(call) {
        case .compiled(let value): fresh = value
        case .ended(let outcome): return outcome
        }
        guard let compiled = collectOutputs(fresh) else {
            return .miss(fresh.status)
        }
        let patchClass = call.patchClass ?? PatchTrust.classDigest(compiler: call.compiler.digest, request: request)
        let agreed = compiled.sameOutputs(as: served)
        var notes: [Counter] = sampled ? [.verifySampled] : []
        if agreed {
            log.write("verification agreed for class \(patchClass.hex)")
            if !sampled {
                // The unit itself has now shown that it patches exactly: later moves serve it.
                if let result { trust.recordUnitAgreement(result) }
                notes.append(.patchAgreed)
                return .miss(fresh.status, notes: notes)
            }
            return .hit(fresh.status, notes: route + notes)
        }
        let what = compiled.differences(from: served).joined(separator: ", ")
        let describedCall = "\(compilerPath) \(request.arguments.joined(separator: " ")): \(what)"
        if !sampled, let result, served.pathDependence.kind == .unit {
            // The unit's own text reads the path (a wide `__FILE__`, its length, a hash of it): the unit is
            // kept under its real paths, its class stays as it was.
            log.write("verification DISAGREED for result \(result.hex): \(what) (\(served.pathDependence.reason))")
            trust.recordUnitDisagreement(result, reason: describedCall + " (\(served.pathDependence.reason))")
        } else {
            log.write("verification DISAGREED for class \(patchClass.hex): \(what)")
            trust.distrust(patchClass, reason: describedCall)
        }
        notes.append(sampled ? .verifyMismatch : .patchDisagreed)
        if sampled {
            Console.error("warning: a cached result for \(request.source) differed from a fresh compile (\(what)); "
                          + "the fresh result was used and this class of compile is no longer patched")
        }
        var raw = call
        raw.key.mapping = PathMapping()
        raw.directKey = raw.key.digest()
        return store(fresh, raw, notes: notes)
    }
}

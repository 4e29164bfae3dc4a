import Glibc

/// A miss's entries written after the call has returned. The compiler's outputs are in place and its console
/// output replayed before the store begins, and everything the store needs (object, dependency list, console
/// text) is read into memory first, so the build may delete or rewrite the outputs at once. A detached child
/// then records the headers, compresses and writes the entries: a gain in wall time where a core is idle,
/// as in a configure script's serial tests, for a little more CPU (the fork and its copy-on-write faults;
/// the small C miss rows of bench/RESULTS.md).
///
/// Two locks keep it invisible to anyone who asks. The writer holds `<key>.P` beside the manifest until its
/// entries exist, so a call with the same key waits for them instead of compiling again; and every writer
/// holds `tmp/stores.lock` shared, so the statistics, clear and cleanup commands wait until all are done.
/// Both are taken before the call returns and inherited by the child, and the kernel releases them if the
/// child dies: a killed store loses its entries, never the compile.
struct BackgroundStore {
    let store: CacheStore

    /// Longest wait for another writer: a store takes milliseconds, so this is only reached when a writer
    /// was stopped, and then the call goes on without it.
    static let longestWait: Int64 = 10_000_000_000

    static let markerSuffix = ".P"

    /// Beside the key's manifest: `<key>.P` for `<key>.M`.
    func markerPath(_ key: Digest) -> String {
        let manifest = store.path(for: key, kind: .manifest)
        return String(manifest.dropLast(CacheStore.suffix(.manifest).utf8.count)) + Self.markerSuffix
    }

    var writersLockPath: String { store.directory + "/tmp/stores.lock" }

    /// Takes the locks a writer of `key` holds; nil when another writer of the same key is at work (or the
    /// files cannot be made), and the caller stores in the foreground.
    func begin(_ key: Digest) -> (marker: Int32, writers: Int32)? {
        let marker = markerPath(key)
        guard let markerFd = try? store.files.open(marker, O_RDWR | O_CREAT, create: true) else { return nil }
        guard flock(markerFd, LOCK_EX | LOCK_NB) == 0,
              let writersFd = try? store.files.open(writersLockPath, O_RDWR | O_CREAT, create: true) else {
            close(markerFd)
            return nil
        }
        guard Self.lock(writersFd, LOCK_SH, waitingAtMost: Self.longestWait) else {
            close(markerFd)
            close(writersFd)
            return nil
        }
        return (markerFd, writersFd)
    }

    /// Ends a writer's work on `key`: the marker goes before its lock, so a waiter that wakes finds the
    /// entries. With `stillWorking` the writer stays registered (it uploads next), so the statistics
    /// commands go on waiting for it; `unregister` ends that.
    func finish(_ key: Digest, marker: Int32, stillWorking: Bool = false) {
        store.files.remove(markerPath(key))
        if !stillWorking { unregister() }
        close(marker)
    }

    func unregister() {
        store.files.remove(writersDirectory + "/" + NumberText.decimal(Int(getpid())))
    }

    /// One empty file per writer at work, named by its process id, so the commands can tell stopped writers
    /// from working ones.
    var writersDirectory: String { store.directory + "/tmp/writers" }

    /// Waits while a writer of `key` is at work. True when one finished (or left its marker when killed), so
    /// a lookup is worth repeating; false when there was none or it outlasted `limit`.
    func waitForWriter(of key: Digest, waitingAtMost limit: Int64 = longestWait) -> Bool {
        guard let fd = try? store.files.open(markerPath(key), O_RDONLY) else { return false }
        defer { close(fd) }
        return Self.lock(fd, LOCK_SH, waitingAtMost: limit) { Self.writerIsStopped(marker: fd) }
    }

    /// The writer puts its process id in its marker, so a waiter can tell a stopped writer (SIGSTOP, a
    /// debugger) from a slow one and stop waiting at once.
    func announce(marker: Int32) {
        let text = Array(NumberText.decimal(Int(getpid())).utf8)
        _ = text.withUnsafeBytes { pwrite(marker, $0.baseAddress, $0.count, 0) }
        if let fd = try? store.files.open(writersDirectory + "/" + NumberText.decimal(Int(getpid())), O_WRONLY | O_CREAT, create: true) {
            close(fd)
        }
    }

    /// A process's state letter from `/proc/<pid>/stat`; nil when it is gone.
    static func processState(_ pid: Int32) -> UInt8? {
        guard let stat = try? FileSystem.readFile("/proc/\(pid)/stat"),
              let close = stat.lastIndex(of: UInt8(ascii: ")")), close + 2 < stat.count else { return nil }
        return stat[close + 2]
    }

    /// Whether the marker's writer is stopped (state `T` or `t` in `/proc/<pid>/stat`).
    static func writerIsStopped(marker: Int32) -> Bool {
        var buffer = [UInt8](repeating: 0, count: 16)
        let count = buffer.withUnsafeMutableBytes { pread(marker, $0.baseAddress, 15, 0) }
        guard count > 0, let pid = Int32(String(decoding: buffer[0..<count], as: UTF8.self)), pid > 0,
              let state = processState(pid) else { return false }
        return state == UInt8(ascii: "T") || state == UInt8(ascii: "t")
    }

    /// Waits until no writer is at work (the statistics and cleanup commands); false when one outlasted `limit`.
    @discardableResult
    func waitForAllWriters(waitingAtMost limit: Int64 = longestWait) -> Bool {
        guard let fd = try? store.files.open(writersLockPath, O_RDONLY) else { return true }
        defer { close(fd) }
        // Given up once no registered writer is running (all stopped or gone), after a grace period for
        // writers that have not registered yet.
        let graceEnds = Clock.nowNanoseconds() + 500_000_000
        return Self.lock(fd, LOCK_EX, waitingAtMost: limit) {
            Clock.nowNanoseconds() > graceEnds && !anyWriterRunning()
        }
    }

    func anyWriterRunning() -> Bool {
        store.files.list(writersDirectory).contains { entry in
            guard let pid = Int32(entry.name), let state = Self.processState(pid) else { return false }
            return state != UInt8(ascii: "T") && state != UInt8(ascii: "t") && state != UInt8(ascii: "Z")
        }
    }

    /// `flock` polled without blocking, so a writer that never ends cannot hold the caller forever.
    static func lock(_ fd: Int32, _ operation: Int32, waitingAtMost limit: Int64,
                     givingUp: () -> Bool = { false }) -> Bool {
        let deadline = Clock.nowNanoseconds() + limit
        var pause = timespec(tv_sec: 0, tv_nsec: 200_000)
        while flock(fd, operation | LOCK_NB) != 0 {
            guard errno == EWOULDBLOCK || errno == EINTR, Clock.nowNanoseconds() < deadline, !givingUp() else {
                return false
            }
            nanosleep(&pause, nil)
            pause.tv_nsec = min(pause.tv_nsec * 2, 5_000_000)
        }
        return true
    }

    /// `fork` for a child that will leave the caller's session: SIGHUP is ignored across the fork, so a
    /// terminal that closes as soon as the call returns (`script`, an ssh session) cannot kill the child
    /// before its `setsid` (seen: a store lost that way).
    static func forkDetachable() -> pid_t {
        let previous = signal(SIGHUP, SIG_IGN)
        let pid = fork()
        if pid != 0 { signal(SIGHUP, previous) }
        return pid
    }

    /// The child's file descriptors: standard ones on /dev/null (the build waits for its pipes to close),
    /// every other one closed (a make jobserver's, a test harness's) but the locks in `keeping` and the
    /// cache directories kept open for reading (their numbers must keep naming them).
    static func detachDescriptors(keeping: [Int32]) {
        let keeping = keeping + DirectoryHandles.descriptors
        let null = Glibc.open("/dev/null", O_RDWR)
        if null >= 0 {
            for fd: Int32 in 0...2 where fd != null { dup2(null, fd) }
            if null > 2 { close(null) }
        }
        let open = (try? FileSystem.listDirectory("/proc/self/fd")) ?? []
        for name in open {
            guard let fd = Int32(name), fd > 2, !keeping.contains(fd) else { continue }
            close(fd)
        }
    }
}

extension CachedCompile {
    /// Whether a miss may store after returning. Not in a Nix builder (outside `nix-shell`): Nix kills every
    /// process of the build when its builder exits, and a store cut short is a lost entry.
    ///
    /// A call that writes a compiled module interface stores before returning: its importers, which the
    /// build starts as soon as it returns, key the interface by the result it came from
    /// (`ModuleProvenance`), which must be on record by then.
    var storesInBackground: Bool {
        guard configuration.backgroundStore, !request.modules.writesInterface else { return false }
        return lookup("NIX_BUILD_TOP") == nil || lookup("IN_NIX_SHELL") != nil
    }

    /// Stores a fresh compile, after returning where that is allowed and a child can be started.
    func storeAfterReturning(_ fresh: FreshCompile, _ call: Call) -> Outcome {
        let outputs = collectOutputs(fresh)
        guard storesInBackground, let collected = outputs else { return store(fresh, outputs, call) }
        let writer = BackgroundStore(store: store)
        guard let locks = writer.begin(call.directKey) else { return store(fresh, collected, call) }
        // What this process has to count is counted here; the child counts what it writes.
        facts.flush(strongDigests: false)
        let pid = BackgroundStore.forkDetachable()
        if pid < 0 {
            writer.finish(call.directKey, marker: locks.marker)
            close(locks.writers)
            return store(fresh, collected, call)
        }
        if pid > 0 {
            close(locks.marker)
            close(locks.writers)
            facts.handStrongDigestsToChild()
            return .miss(fresh.status)
        }
        _ = setsid()
        counters.discard()
        BackgroundStore.detachDescriptors(keeping: [locks.marker, locks.writers])
        writer.announce(marker: locks.marker)
        var pending: PendingUpload?
        if case .miss(_, let notes) = store(fresh, collected, call, upload: { pending = $0 }) { counters.add(notes) }
        facts.flush()
        // Counted before anyone waiting on this writer goes on: the statistics commands wait for it.
        counters.write(to: store.stats)
        // Calls waiting for this key's local entries need not wait for the network too.
        writer.finish(call.directKey, marker: locks.marker, stillWorking: pending != nil)
        if let pending {
            upload(pending, warns: false)
            facts.flush()
            counters.write(to: store.stats)
            writer.unregister()
        }
        _exit(0)
    }
}

import Glibc
import StorageProtocol

/// Where the storage helper for one remote storage URL listens, and how it is started: one helper per
/// helper program, URL and attributes, shared by every call, started by whichever call finds it missing.
///
/// Sockets live in a directory only the user can enter (`$XDG_RUNTIME_DIR/incrcc`, else
/// `/tmp/incrcc-<uid>-run`): whoever can open a helper's socket can use its credentials. The directory is
/// refused unless it is a real directory (never a symlink), owned by the user, closed to everyone else.
struct HelperEndpoint {
    /// The socket a helper listens on.
    var socketPath: String
    /// What starts it; nil for `crsh:` (someone else runs it).
    var launch: Launch?

    struct Launch {
        /// `helper=`, else the scheme's helper found when it has to be started (not on every call).
        var explicitProgram: String?
        var scheme: String
        var searchPath: String?
        var spec: RemoteStorageSpec
        var url: String
        var lockPath: String
        var logPath: String
        /// Written when a started helper never listened: every call in the back-off window after it skips
        /// the helper at once, instead of each starting one more that waits.
        var failedStartPath: String
    }

    /// How long a starting helper may take to listen (incrcc's own start in a few milliseconds; a helper
    /// that takes longer is killed, so none piles up).
    static let startMilliseconds = 2000
    /// How long a call waits for another call that is starting the helper before going on without it.
    static let startWaitMilliseconds = 300
    /// How long after a helper failed to start no call tries again (the helper's own back-off window).
    static let failedStartBackoffSeconds = 10

    enum Problem: Error {
        case unsafeDirectory(String)
    }

    /// The endpoint for `url` (one shard's) under `spec`.
    static func resolve(_ spec: RemoteStorageSpec, url: String, lookup: (String) -> String?)
        -> Result<HelperEndpoint, Problem> {
        if spec.scheme == "crsh" {
            return .success(HelperEndpoint(socketPath: String(url.dropFirst(5)), launch: nil))
        }
        let directory: String
        switch runtimeDirectory(lookup: lookup) {
        case .success(let path): directory = path
        case .failure(let problem): return .failure(problem)
        }
        var hasher = StreamingHasher()
        hasher.update(spec.helper ?? "")
        hasher.update(url)
        for attribute in spec.attributes {
            hasher.update(attribute.key)
            hasher.update(attribute.value)
        }
        hasher.update(UInt64(spec.idleTimeout))
        let name = String(spec.scheme.map { $0.isLetter ? $0 : "-" }) + "-" + String(hasher.finalize().hex.prefix(24))
        let socketPath = directory + "/" + name + ".sock"
        return .success(HelperEndpoint(socketPath: socketPath, launch: Launch(
            explicitProgram: spec.helper, scheme: spec.scheme, searchPath: lookup("PATH"), spec: spec, url: url,
            lockPath: directory + "/" + name + ".lock", logPath: directory + "/" + name + ".log",
            failedStartPath: directory + "/" + name + ".failed")))
    }

    /// What tells a starting helper what to serve (ccache's `CRSH_` variables); built only when one starts.
    func helperEnvironment(_ launch: Launch) -> [String] {
        var environment = ["CRSH_IPC_ENDPOINT=" + socketPath, "CRSH_URL=" + launch.url,
                           "CRSH_IDLE_TIMEOUT=\(launch.spec.idleTimeout)", "CRSH_NUM_ATTR=\(launch.spec.attributes.count)"]
        for (index, attribute) in launch.spec.attributes.enumerated() {
            environment.append("CRSH_ATTR_KEY_\(index)=" + attribute.key)
            environment.append("CRSH_ATTR_VALUE_\(index)=" + attribute.value)
        }
        return environment
    }

    /// incrcc's own helper for the scheme (beside this executable, in `../libexec/incrcc`, then on PATH),
    /// else a ccache helper on PATH.
    static func findHelper(scheme: String, searchPath: String?) -> String? {
        let own: String?
        switch scheme {
        case "redis", "redis+unix", "rediss": own = "incrcc-storage-redis"
        case "http", "https": own = "incrcc-storage-http"
        case "grpc", "grpcs": own = "incrcc-storage-reapi"
        default: own = nil
        }
        let selfDirectory = Path.directory(of: FileSystem.resolvingLinks("/proc/self/exe"))
        let path = (searchPath ?? "/usr/local/bin:/usr/bin:/bin").split(separator: ":").map(String.init)
        if let own {
            for directory in [selfDirectory, selfDirectory + "/../libexec/incrcc"] + path
            where FileSystem.isExecutableFile(directory + "/" + own) {
                return directory + "/" + own
            }
        }
        let ccacheName = "ccache-storage-" + scheme
        for directory in path where FileSystem.isExecutableFile(directory + "/" + ccacheName) {
            return directory + "/" + ccacheName
        }
        return nil
    }

    static func runtimeDirectory(lookup: (String) -> String?) -> Result<String, Problem> {
        var directory = "/tmp/incrcc-\(geteuid())-run"
        if let runtime = lookup("XDG_RUNTIME_DIR"), runtime.hasPrefix("/"), runtime.utf8.count < 60 {
            directory = runtime + "/incrcc"
        }
        var status = stat()
        // Made only when missing: a call that finds it pays one lstat.
        if lstat(directory, &status) != 0 && errno == ENOENT { _ = mkdir(directory, 0o700) }
        guard lstat(directory, &status) == 0, status.st_mode & S_IFMT == S_IFDIR, status.st_uid == geteuid(),
              status.st_mode & 0o077 == 0 else {
            return .failure(.unsafeDirectory("\(directory) is not a private directory of this user"))
        }
        return .success(directory)
    }

    /// Connects, starting the helper when nobody listens. Of several calls that find it missing at once,
    /// the one holding the lock starts it and the others connect to that one.
    func connect(timeoutMilliseconds: Int) throws(ChannelError) -> StorageHelperClient {
        do {
            return try StorageHelperClient.connect(socketPath: socketPath, timeoutMilliseconds: timeoutMilliseconds)
        } catch .system(let code) where launch != nil && (code == ENOENT || code == ECONNREFUSED) {
        }
        guard let launch else { throw .system(ENOENT) }
        if Self.failedRecently(launch.failedStartPath) {
            throw .malformed("the storage helper did not start a moment ago; trying again after \(Self.failedStartBackoffSeconds) s")
        }
        let lock = open(launch.lockPath, O_RDWR | O_CREAT | O_NOFOLLOW | O_CLOEXEC, 0o600)
        guard lock >= 0 else { throw .system(errno) }
        defer { close(lock) }
        var status = stat()
        guard fstat(lock, &status) == 0, status.st_uid == geteuid(), status.st_mode & S_IFMT == S_IFREG else {
            throw .system(EPERM)
        }
        // Another call may be starting it: wait a little for that, never for the whole start.
        let lockDeadline = Clock.nowNanoseconds() + Int64(Self.startWaitMilliseconds) * 1_000_000
        while flock(lock, LOCK_EX | LOCK_NB) != 0 {
            guard errno == EWOULDBLOCK || errno == EINTR else { throw .system(errno) }
            if Clock.nowNanoseconds() > lockDeadline { throw .timeout }
            usleep(2000)
        }
        defer { flock(lock, LOCK_UN) }
        if let client = try? StorageHelperClient.connect(socketPath: socketPath, timeoutMilliseconds: timeoutMilliseconds) {
            return client
        }
        if Self.failedRecently(launch.failedStartPath) {
            throw .malformed("the storage helper did not start a moment ago")
        }
        // Nobody answers at the name: a helper that died left it behind.
        unlink(socketPath)
        guard let program = launch.explicitProgram ?? Self.findHelper(scheme: launch.scheme, searchPath: launch.searchPath)
        else {
            Self.noteFailedStart(launch.failedStartPath)
            throw .malformed("no storage helper for \(launch.scheme): (incrcc-storage-* or ccache-storage-\(launch.scheme))")
        }
        let pid = try start(launch, program: program)
        let deadline = Clock.nowNanoseconds() + Int64(Self.startMilliseconds) * 1_000_000
        while true {
            do {
                let client = try StorageHelperClient.connect(socketPath: socketPath, timeoutMilliseconds: timeoutMilliseconds)
                unlink(launch.failedStartPath)
                return client
            } catch .system(let code) where code == ENOENT || code == ECONNREFUSED {
                var exitStatus: Int32 = 0
                // A helper that exited at once (bad URL, cannot bind) will never listen.
                if waitpid(pid, &exitStatus, WNOHANG) == pid {
                    Self.noteFailedStart(launch.failedStartPath)
                    throw .malformed("the storage helper exited at start")
                }
                if Clock.nowNanoseconds() > deadline {
                    // One that does not listen in time never serves this build: stopped, not left to pile up.
                    kill(pid, SIGKILL)
                    _ = waitpid(pid, &exitStatus, 0)
                    Self.noteFailedStart(launch.failedStartPath)
                    throw .timeout
                }
                usleep(1000)
            }
        }
    }

    /// Whether a helper failed to start within the back-off window (by the marker's modification time).
    static func failedRecently(_ marker: String) -> Bool {
        var status = stat()
        guard lstat(marker, &status) == 0 else { return false }
        let age = Int(time(nil)) - Int(status.st_mtim.tv_sec)
        return age >= 0 && age < failedStartBackoffSeconds
    }

    static func noteFailedStart(_ marker: String) {
        unlink(marker)
        let descriptor = open(marker, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0o600)
        if descriptor >= 0 { close(descriptor) }
    }

    /// Starts the helper in a session of its own (no terminal signal reaches it), its errors in a log beside
    /// the socket.
    func start(_ launch: Launch, program: String) throws(ChannelError) -> pid_t {
        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        defer { posix_spawn_file_actions_destroy(&actions) }
        posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0)
        posix_spawn_file_actions_addopen(&actions, 1, "/dev/null", O_WRONLY, 0)
        posix_spawn_file_actions_addopen(&actions, 2, launch.logPath, O_WRONLY | O_CREAT | O_APPEND | O_NOFOLLOW, 0o600)
        var attributes = posix_spawnattr_t()
        posix_spawnattr_init(&attributes)
        defer { posix_spawnattr_destroy(&attributes) }
        /// glibc's POSIX_SPAWN_SETSID (2.26+), which Swift does not import: a session of its own.
        let setsid: Int32 = 0x80
        posix_spawnattr_setflags(&attributes, Int16(setsid | POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF))
        var empty = sigset_t()
        sigemptyset(&empty)
        posix_spawnattr_setsigmask(&attributes, &empty)
        var defaults = sigset_t()
        sigemptyset(&defaults)
        for signal in [SIGPIPE, SIGINT, SIGTERM, SIGHUP, SIGCHLD] { sigaddset(&defaults, signal) }
        posix_spawnattr_setsigdefault(&attributes, &defaults)
        // The caller's environment (proxies, CA settings) without any CRSH_ variable, then the helper's own.
        var environment: [String] = []
        var index = 0
        while let entry = environ[index] {
            let text = String(cString: entry)
            if !text.hasPrefix("CRSH_") { environment.append(text) }
            index += 1
        }
        environment += helperEnvironment(launch)
        var pid: pid_t = 0
        let result = ChildProcess.withCStrings([program]) { argv in
            ChildProcess.withCStrings(environment) { envp in
                posix_spawn(&pid, program, &actions, &attributes, argv, envp)
            }
        }
        guard result == 0 else { throw .system(result) }
        return pid
    }
}

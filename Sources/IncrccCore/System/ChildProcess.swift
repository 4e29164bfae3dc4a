import Glibc

/// How a child process ended.
public enum ExitStatus: Equatable, Sendable {
    case exited(Int32)
    case signaled(Int32)

    /// The status this process should exit with to report the same outcome to its caller.
    public var shellStatus: Int32 {
        switch self {
        case .exited(let code): return code
        case .signaled(let signal): return 128 + signal
        }
    }

    public var succeeded: Bool { self == .exited(0) }
}

/// Starting the real compiler: either replacing this process, or as a child whose output goes to files.
public enum ChildProcess {
    /// Runs `executable` with `arguments` (argv[0] included), stdout and stderr sent to the given files.
    public static func run(_ executable: String, _ arguments: [String], stdoutPath: String,
                           stderrPath: String) throws(SystemError) -> ExitStatus {
        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        defer { posix_spawn_file_actions_destroy(&actions) }
        posix_spawn_file_actions_addopen(&actions, 1, stdoutPath, O_WRONLY | O_CREAT | O_TRUNC, 0o600)
        posix_spawn_file_actions_addopen(&actions, 2, stderrPath, O_WRONLY | O_CREAT | O_TRUNC, 0o600)
        var pid: pid_t = 0
        let result = withCStrings(arguments) { argv in
            posix_spawn(&pid, executable, &actions, nil, argv, environ)
        }
        if result != 0 { throw SystemError("posix_spawn", executable, code: result) }
        var status: Int32 = 0
        while waitpid(pid, &status, 0) < 0 {
            if errno != EINTR { throw SystemError("waitpid", executable) }
        }
        let low = status & 0x7f
        if low == 0 { return .exited((status >> 8) & 0xff) }
        return .signaled(low)
    }

    /// Runs `executable` with its stdout and stderr read through pipes, so what the compiler says never
    /// passes through the file system: a full or cleared cache cannot lose a warning or an error.
    public static func runCapturing(_ executable: String, _ arguments: [String]) throws(SystemError)
        -> (status: ExitStatus, stdout: [UInt8], stderr: [UInt8]) {
        var outPipe: [Int32] = [-1, -1]
        var errPipe: [Int32] = [-1, -1]
        guard pipe(&outPipe) == 0 else { throw SystemError("pipe", executable) }
        guard pipe(&errPipe) == 0 else {
            let failure = SystemError("pipe", executable)
            close(outPipe[0]); close(outPipe[1])
            throw failure
        }
        for fd in outPipe + errPipe { _ = fcntl(fd, F_SETFD, FD_CLOEXEC) }
        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        defer { posix_spawn_file_actions_destroy(&actions) }
        posix_spawn_file_actions_adddup2(&actions, outPipe[1], 1)
        posix_spawn_file_actions_adddup2(&actions, errPipe[1], 2)
        var pid: pid_t = 0
        let result = withCStrings(arguments) { argv in
            posix_spawn(&pid, executable, &actions, nil, argv, environ)
        }
        close(outPipe[1])
        close(errPipe[1])
        defer { close(outPipe[0]); close(errPipe[0]) }
        if result != 0 { throw SystemError("posix_spawn", executable, code: result) }
        var stdout: [UInt8] = []
        var stderr: [UInt8] = []
        var polled = [pollfd(fd: outPipe[0], events: Int16(POLLIN), revents: 0),
                      pollfd(fd: errPipe[0], events: Int16(POLLIN), revents: 0)]
        var buffer = [UInt8](repeating: 0, count: 65536)
        var open = 2
        while open > 0 {
            if poll(&polled, 2, -1) < 0 {
                if errno == EINTR { continue }
                break
            }
            for index in 0..<2 where polled[index].fd >= 0 && polled[index].revents != 0 {
                let n = buffer.withUnsafeMutableBytes { Glibc.read(polled[index].fd, $0.baseAddress, $0.count) }
                if n > 0 {
                    if index == 0 { stdout.append(contentsOf: buffer[0..<n]) } else { stderr.append(contentsOf: buffer[0..<n]) }
                } else if n == 0 || errno != EINTR {
                    polled[index].fd = -1
                    open -= 1
                }
            }
        }
        var status: Int32 = 0
        while waitpid(pid, &status, 0) < 0 {
            if errno != EINTR { throw SystemError("waitpid", executable) }
        }
        let low = status & 0x7f
        return (low == 0 ? .exited((status >> 8) & 0xff) : .signaled(low), stdout, stderr)
    }

    /// Replaces this process with `executable`; returns only on failure.
    public static func replaceProcess(_ executable: String, _ arguments: [String]) -> SystemError {
        _ = withCStrings(arguments) { argv in execv(executable, argv) }
        return SystemError("exec", executable)
    }

    static func withCStrings<R>(_ strings: [String], _ body: ([UnsafeMutablePointer<CChar>?]) -> R) -> R {
        var pointers: [UnsafeMutablePointer<CChar>?] = strings.map { strdup($0) }
        pointers.append(nil)
        defer { for pointer in pointers { free(pointer) } }
        return body(pointers)
    }
}

/// Reads the process environment without Foundation. The variables incrcc reads on every call are taken in
/// one pass over `environ` (a `getenv` per name walks the whole environment each time, which measured as a
/// noticeable share of a hit); any other name falls back to `getenv`.
public enum Environment {
    struct Snapshot: Sendable {
        var pairs: [Variable] = []
    }

    public struct Variable: Sendable {
        public var name: String
        public var value: String
    }

    /// Names are captured when they start with one of these; everything incrcc asks for on a hit does.
    static let capturedPrefixes: [StaticString] = [
        "INCRCC_", "NIX_", "LC_", "GCC_", "CPATH", "C_INCLUDE_PATH", "CPLUS_INCLUDE_PATH", "OBJC", "SOURCE_DATE_EPOCH",
        "LANG", "TERM", "COMPILER_PATH", "CCC_", "QA_", "DEPENDENCIES_OUTPUT", "SUNPRO_", "PATH", "HOME",
        "XDG_CACHE_HOME", "COLUMNS", "PWD",
    ]

    /// Whether a name (its bytes) starts with a captured prefix. Compared as bytes: as String prefixes the
    /// test cost more instructions than the rest of the snapshot.
    static func isCaptured(_ name: UnsafeBufferPointer<UInt8>) -> Bool {
        guard let start = name.baseAddress else { return false }
        for prefix in capturedPrefixes where prefix.utf8CodeUnitCount <= name.count {
            if memcmp(start, prefix.utf8Start, prefix.utf8CodeUnitCount) == 0 { return true }
        }
        return false
    }

    static let snapshot: Snapshot = {
        var snapshot = Snapshot()
        var cursor = environ
        while let entry = cursor.pointee {
            cursor += 1
            let bytes = UnsafeRawPointer(entry).assumingMemoryBound(to: UInt8.self)
            let length = strlen(entry)
            guard let eq = memchr(bytes, Int32(UInt8(ascii: "=")), length) else { continue }
            let nameLength = UnsafeRawPointer(eq) - UnsafeRawPointer(bytes)
            let name = UnsafeBufferPointer(start: bytes, count: nameLength)
            guard isCaptured(name) else { continue }
            let value = UnsafeBufferPointer(start: bytes + nameLength + 1, count: length - nameLength - 1)
            snapshot.pairs.append(Variable(name: String(decoding: name, as: UTF8.self),
                                           value: String(decoding: value, as: UTF8.self)))
        }
        return snapshot
    }()

    public static func value(_ name: String) -> String? {
        var name = name
        if name.withUTF8({ isCaptured($0) }) {
            for variable in snapshot.pairs where variable.name == name { return variable.value }
            return nil
        }
        guard let raw = getenv(name) else { return nil }
        return String(cString: raw)
    }
}

/// Wall-clock time in nanoseconds.
public enum Clock {
    public static func nowNanoseconds() -> Int64 {
        var ts = timespec()
        clock_gettime(CLOCK_REALTIME, &ts)
        return Int64(ts.tv_sec) * 1_000_000_000 + Int64(ts.tv_nsec)
    }
}

/// The `umask` setting applies to what incrcc creates in the cache, and to nothing else: the compiler it
/// runs and the outputs a hit writes keep the caller's mask. incrcc is single-threaded, so the process mask
/// is switched around the writes outside the cache.
public enum UserMask {
    nonisolated(unsafe) static var callers: mode_t?

    /// Makes `mask` the process's mask and remembers the caller's.
    public static func useForCache(_ mask: mode_t) {
        callers = umask(mask)
    }

    /// The caller's mask back for good (before handing the process over to the compiler).
    public static func restore() {
        if let callers { umask(callers) }
    }

    /// Runs `body` with the caller's mask (a compiler child, a hit's outputs).
    public static func asCaller<R, E: Error>(_ body: () throws(E) -> R) throws(E) -> R {
        guard let callers else { return try body() }
        let cache = umask(callers)
        defer { umask(cache) }
        return try body()
    }
}

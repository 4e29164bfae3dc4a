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

import Glibc

/// Appends one line per event to the file named by `log_file`; does nothing when none is set.
public struct LogFile: Sendable {
    public let path: String

    public init(path: String) { self.path = path }

    public func write(_ message: @autoclosure () -> String) {
        guard !path.isEmpty else { return }
        guard let fd = try? FileSystem.open(path, O_WRONLY | O_CREAT | O_APPEND) else { return }
        defer { close(fd) }
        try? FileSystem.writeAll(fd, Array(("[" + NumberText.decimal(Int(getpid())) + "] " + message() + "\n").utf8), path: path)
    }
}

/// Writes replayed console output to this process's stdout or stderr.
enum Console {
    static func write(_ bytes: [UInt8], to fd: Int32) {
        guard !bytes.isEmpty else { return }
        try? FileSystem.writeAll(fd, bytes, path: fd == 1 ? "stdout" : "stderr")
    }

    static func error(_ message: String) {
        write(Array(("incrcc: " + message + "\n").utf8), to: 2)
    }
}

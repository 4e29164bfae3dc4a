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

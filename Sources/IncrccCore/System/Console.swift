import Glibc

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

import Glibc

/// What `stat` says about a file, reduced to what incrcc compares.
public struct FileStatus: Equatable, Sendable {
    public var device: UInt64
    public var inode: UInt64
    public var size: Int64
    public var modifiedNanoseconds: Int64
    public var changedNanoseconds: Int64
    public var mode: UInt32

    public var isRegularFile: Bool { mode & S_IFMT == S_IFREG }
    public var isDirectory: Bool { mode & S_IFMT == S_IFDIR }

    public init(device: UInt64, inode: UInt64, size: Int64, modifiedNanoseconds: Int64,
                changedNanoseconds: Int64, mode: UInt32) {
        self.device = device
        self.inode = inode
        self.size = size
        self.modifiedNanoseconds = modifiedNanoseconds
        self.changedNanoseconds = changedNanoseconds
        self.mode = mode
    }

    /// Same file and no change since: device, inode, size, mtime and ctime all equal (mode ignored).
    public func sameContentAs(_ other: FileStatus) -> Bool {
        device == other.device && inode == other.inode && size == other.size
            && modifiedNanoseconds == other.modifiedNanoseconds && changedNanoseconds == other.changedNanoseconds
    }

    init(_ s: stat) {
        self.init(device: UInt64(s.st_dev), inode: UInt64(s.st_ino), size: Int64(s.st_size),
                  modifiedNanoseconds: Int64(s.st_mtim.tv_sec) * 1_000_000_000 + Int64(s.st_mtim.tv_nsec),
                  changedNanoseconds: Int64(s.st_ctim.tv_sec) * 1_000_000_000 + Int64(s.st_ctim.tv_nsec),
                  mode: s.st_mode)
    }
}

/// Thin wrappers over the file system calls incrcc makes; every call retries on EINTR.
public enum FileSystem {
    public static func status(_ path: String) throws(SystemError) -> FileStatus {
        var s = stat()
        if stat(path, &s) != 0 { throw SystemError("stat", path) }
        return FileStatus(s)
    }

    /// `nil` when the path does not exist; other failures throw.
    public static func statusIfExists(_ path: String) throws(SystemError) -> FileStatus? {
        var s = stat()
        if stat(path, &s) != 0 {
            if errno == ENOENT || errno == ENOTDIR { return nil }
            throw SystemError("stat", path)
        }
        return FileStatus(s)
    }

    public static func exists(_ path: String) -> Bool {
        access(path, F_OK) == 0
    }

    public static func isExecutableFile(_ path: String) -> Bool {
        var s = stat()
        guard stat(path, &s) == 0, s.st_mode & S_IFMT == S_IFREG else { return false }
        return access(path, X_OK) == 0
    }

    public static func open(_ path: String, _ flags: Int32, _ mode: mode_t = 0o666) throws(SystemError) -> Int32 {
        while true {
            let fd = Glibc.open(path, flags | O_CLOEXEC, mode)
            if fd >= 0 { return fd }
            if errno != EINTR { throw SystemError("open", path) }
        }
    }

    /// Reads a regular file whole. Opened without blocking, so a FIFO named where a header was cannot hold
    /// the call, and refused unless `fstat` says regular, so `/dev/zero` cannot be read without end. With
    /// `followLinks` false (files inside the cache) a symlink is refused too.
    public static func readFile(_ path: String, followLinks: Bool = true) throws(SystemError) -> [UInt8] {
        let fd = try open(path, O_RDONLY | O_NONBLOCK | (followLinks ? 0 : O_NOFOLLOW))
        defer { close(fd) }
        return try readAll(fd, path: path)
    }

    /// `nil` when the file does not exist.
    public static func readFileIfExists(_ path: String, followLinks: Bool = true) throws(SystemError) -> [UInt8]? {
        do {
            return try readFile(path, followLinks: followLinks)
        } catch {
            if error.isNotFound { return nil }
            throw error
        }
    }

    /// What is read of a regular file that reports no size (`/proc` files): at most this.
    static let sizelessFileLimit = 16 << 20

    /// Reads a regular file's bytes, at most as many as `fstat` reports (or `sizelessFileLimit` where it
    /// reports none): the buffer is sized once and left uninitialised until read into (zero-filling every
    /// header a miss reads showed up as a measurable share of its instructions).
    public static func readAll(_ fd: Int32, path: String) throws(SystemError) -> [UInt8] {
        var s = stat()
        guard fstat(fd, &s) == 0 else { throw SystemError("fstat", path) }
        guard s.st_mode & S_IFMT == S_IFREG else { throw SystemError("read", path, code: EINVAL) }
        return try readExactly(fd, count: s.st_size > 0 ? Int(s.st_size) : sizelessFileLimit, path: path)
    }

    /// Up to `count` bytes from `fd`'s position (fewer at the end of the file).
    static func readExactly(_ fd: Int32, count limit: Int, path: String) throws(SystemError) -> [UInt8] {
        guard limit > 0 else { return [] }
        var failure: SystemError?
        let bytes = [UInt8](unsafeUninitializedCapacity: limit) { buffer, count in
            count = 0
            while count < limit {
                let n = Glibc.read(fd, buffer.baseAddress! + count, limit - count)
                if n == 0 { return }
                if n < 0 {
                    if errno == EINTR { continue }
                    failure = SystemError("read", path)
                    return
                }
                count += n
            }
        }
        if let failure { throw failure }
        return bytes
    }

    public static func writeAll(_ fd: Int32, _ bytes: UnsafeRawBufferPointer, path: String) throws(SystemError) {
        var offset = 0
        while offset < bytes.count {
            let n = Glibc.write(fd, bytes.baseAddress! + offset, bytes.count - offset)
            if n < 0 {
                if errno == EINTR { continue }
                throw SystemError("write", path)
            }
            offset += n
        }
    }

    public static func writeAll(_ fd: Int32, _ bytes: [UInt8], path: String) throws(SystemError) {
        let failure = bytes.withUnsafeBytes { buffer -> SystemError? in
            do throws(SystemError) {
                try writeAll(fd, buffer, path: path)
                return nil
            } catch {
                return error
            }
        }
        if let failure { throw failure }
    }

    /// Writes to a temporary file beside `path` and renames it into place, so that a reader sees the old
    /// file or the whole new one, never a part, whatever happens to this process meanwhile.
    public static func writeAtomically(_ path: String, _ bytes: [UInt8], mode: mode_t = 0o666) throws(SystemError) {
        let temporary = temporaryName(beside: path)
        let fd = try open(temporary, O_WRONLY | O_CREAT | O_EXCL, mode)
        do {
            try writeAll(fd, bytes, path: temporary)
        } catch {
            close(fd)
            unlink(temporary)
            throw error
        }
        close(fd)
        if Glibc.rename(temporary, path) != 0 {
            let failure = SystemError("rename", path)
            unlink(temporary)
            throw failure
        }
    }

    /// Temporary files carry this marker so that cleanup can find the ones a killed process left behind.
    public static let temporaryMarker = ".incrcc-tmp."

    public static func temporaryName(beside path: String) -> String {
        let random = UInt64.random(in: 0...UInt64.max)
        return path + temporaryMarker + NumberText.decimal(Int(getpid())) + "." + NumberText.hex(random & 0xffff_ffff)
    }

    public static func rename(_ from: String, _ to: String) throws(SystemError) {
        if Glibc.rename(from, to) != 0 { throw SystemError("rename", to) }
    }

    public static func remove(_ path: String) {
        unlink(path)
    }

    /// Creates `path` and its missing parents.
    public static func makeDirectories(_ path: String, mode: mode_t = 0o777) throws(SystemError) {
        if mkdir(path, mode) == 0 || errno == EEXIST { return }
        guard errno == ENOENT else { throw SystemError("mkdir", path) }
        let parent = Path.directory(of: path)
        if parent != path && !parent.isEmpty { try makeDirectories(parent, mode: mode) }
        if mkdir(path, mode) != 0 && errno != EEXIST { throw SystemError("mkdir", path) }
    }

    /// The names in a directory, without `.` and `..`.
    public static func listDirectory(_ path: String) throws(SystemError) -> [String] {
        guard let dir = opendir(path) else { throw SystemError("opendir", path) }
        defer { closedir(dir) }
        var names: [String] = []
        while let entry = readdir(dir) {
            let name = withUnsafeBytes(of: entry.pointee.d_name) { raw in
                String(cString: raw.bindMemory(to: CChar.self).baseAddress!)
            }
            if name != "." && name != ".." { names.append(name) }
        }
        return names
    }

    /// Sets the modification time to now (the store's recency mark for size-limit cleanup).
    public static func touch(_ path: String) {
        utimensat(AT_FDCWD, path, nil, 0)
    }

    /// Where writing to `path` lands when symlinks are followed, as the compiler's own `open` does: the
    /// last target of a chain of links (which need not exist). `path` itself when it is no link.
    public static func resolvingLinks(_ path: String) -> String {
        var current = path
        for _ in 0..<40 {
            var buffer = [CChar](repeating: 0, count: Int(PATH_MAX))
            let count = readlink(current, &buffer, buffer.count - 1)
            guard count > 0 else { return current }
            let target = String(decoding: buffer[0..<count].map { UInt8(bitPattern: $0) }, as: UTF8.self)
            current = target.hasPrefix("/") ? target : Path.join(Path.directory(of: current), target)
        }
        return current
    }

    /// The working directory as the caller named it: `$PWD` when it is the same directory as the real one
    /// (reached through a symlink), as gcc itself records it (libiberty's `getpwd`), else the real path.
    public static func logicalCurrentDirectory(pwd: String?) -> String? {
        guard let real = currentDirectory() else { return nil }
        guard let pwd, pwd.hasPrefix("/"), pwd != real,
              let apparent = try? status(pwd), let actual = try? status(".") else { return real }
        return apparent.device == actual.device && apparent.inode == actual.inode ? pwd : real
    }

    public static func currentDirectory() -> String? {
        guard let cwd = getcwd(nil, 0) else { return nil }
        defer { free(cwd) }
        return String(cString: cwd)
    }

    public static func realPath(_ path: String) -> String? {
        guard let resolved = realpath(path, nil) else { return nil }
        defer { free(resolved) }
        return String(cString: resolved)
    }
}

import Glibc

/// Files inside the cache directory, reached without following any symlink below its root.
///
/// The cache may be shared (a group-writable directory for Nix build users) and is treated as written by
/// someone else: a link planted at a shard directory, at `tmp`, at a stats file or a lock must never lead
/// incrcc to read, write, create or remove anything outside the cache. Each path is resolved by opening its
/// directories one by one from the root with `O_NOFOLLOW | O_DIRECTORY`, and the last step is made by name
/// relative to the directory found (`openat`, `renameat`, `unlinkat`, `utimensat` with
/// `AT_SYMLINK_NOFOLLOW`). The root itself may be a link (a cache on another disk).
public struct CacheFiles: Sendable {
    public let root: String

    public init(root: String) {
        self.root = root
    }

    /// The directory holding `path` (an absolute path under the root, or one relative to it) opened without
    /// following links, and the last component. `create` makes missing directories on the way. The caller
    /// closes the descriptor.
    func parent(of path: String, create: Bool) throws(SystemError) -> (fd: Int32, name: String) {
        let found = try parentKeeping(of: path, create: create, reading: false)
        return found.kept ? (dup(found.fd), found.name) : (found.fd, found.name)
    }

    /// As `parent`; when reading (`create` false) an absolute path, the directories on the way come from
    /// and go to `DirectoryHandles`, and `kept` says the caller must not close the one returned.
    ///
    /// Walked over the path's bytes in place: splitting it into substrings cost more instructions than the
    /// rest of a hit's cache reads together (90 K for six paths, measured with callgrind). Kept directories
    /// because a shared hit reads the remembered SHA-256 of 60 headers, each in a shard directory of its
    /// own, and the walk from the root was 8 of the 11 system calls of each read (strace of a small C shared
    /// hit: 1,063 calls).
    func parentKeeping(of path: String, create: Bool, reading: Bool = true) throws(SystemError)
        -> (fd: Int32, name: String, kept: Bool) {
        var bytes = Array(path.utf8)
        var keeps = reading && !create && bytes.first == UInt8(ascii: "/")
        var start = 0
        var rootText = root
        // Compared as bytes: the generic `starts(with:)` on two UTF-8 views cost 970 instructions a path.
        let rootLength = rootText.withUTF8 { rootBytes in
            bytes.withUnsafeBufferPointer { pathBytes in
                guard pathBytes.count > rootBytes.count, pathBytes[rootBytes.count] == UInt8(ascii: "/"),
                      let pathStart = pathBytes.baseAddress else { return -1 }
                guard let rootStart = rootBytes.baseAddress, rootBytes.count > 0 else { return rootBytes.count }
                return memcmp(pathStart, rootStart, rootBytes.count) == 0 ? rootBytes.count : -1
            }
        }
        if rootLength >= 0 {
            start = rootLength + 1
        }
        keeps = keeps && rootLength > 0 && DirectoryHandles.adopt(root)
        var fd: Int32
        var kept = false
        if keeps, let handle = DirectoryHandles.handle(for: DirectoryHandles.rootKey) {
            fd = handle
            kept = true
        } else {
            do {
                fd = try FileSystem.open(root, O_RDONLY | O_DIRECTORY)
            } catch {
                guard create, error.isNotFound else { throw error }
                try FileSystem.makeDirectories(root)
                fd = try FileSystem.open(root, O_RDONLY | O_DIRECTORY)
            }
            if keeps { kept = DirectoryHandles.keep(fd, for: DirectoryHandles.rootKey) }
        }
        bytes.append(0)
        var failure: SystemError?
        var nameStart = start
        bytes.withUnsafeMutableBufferPointer { buffer in
            let base = UnsafeMutableRawPointer(buffer.baseAddress!).assumingMemoryBound(to: CChar.self)
            var index = start
            let end = buffer.count - 1
            while index < end {
                guard buffer[index] == UInt8(ascii: "/") else {
                    index += 1
                    continue
                }
                let component = base + nameStart
                let length = index - nameStart
                defer {
                    index += 1
                    nameStart = index
                }
                // Empty and `.` components are skipped; `..` could leave the cache.
                if length == 0 || length == 1 && component[0] == 0x2e { continue }
                if length == 2 && component[0] == 0x2e && component[1] == 0x2e {
                    failure = SystemError("open", path, code: EINVAL)
                    return
                }
                let key = keeps ? DirectoryHandles.key(UnsafeBufferPointer(rebasing: buffer[start..<index])) : nil
                if let key, let handle = DirectoryHandles.handle(for: key) {
                    if !kept { close(fd) }
                    fd = handle
                    kept = true
                    continue
                }
                buffer[index] = 0
                defer { buffer[index] = UInt8(ascii: "/") }
                var next = openat(fd, component, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC)
                if next < 0 && errno == ENOENT && create {
                    if mkdirat(fd, component, 0o777) != 0 && errno != EEXIST {
                        failure = SystemError("mkdir", path)
                        return
                    }
                    next = openat(fd, component, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC)
                }
                if next < 0 {
                    failure = SystemError("open", path)
                    return
                }
                if !kept { close(fd) }
                fd = next
                buffer[index] = UInt8(ascii: "/")
                kept = key.map { DirectoryHandles.keep(next, for: $0) } ?? false
            }
        }
        let name = String(decoding: bytes[nameStart..<(bytes.count - 1)], as: UTF8.self)
        if failure == nil, name.isEmpty || name == "." || name == ".." { failure = SystemError("open", path, code: EINVAL) }
        if let failure {
            if !kept { close(fd) }
            throw failure
        }
        return (fd, name, kept)
    }

    /// Creates a directory inside the cache and its missing parents, none of them through a link.
    public func makeDirectory(_ path: String) {
        guard let (directory, name) = try? parent(of: path, create: true) else { return }
        mkdirat(directory, name, 0o777)
        close(directory)
    }

    /// Opens a file inside the cache; a link at any step is refused (`ELOOP` or `ENOTDIR`).
    public func open(_ path: String, _ flags: Int32, mode: mode_t = 0o666, create: Bool = false) throws(SystemError) -> Int32 {
        // Only reads go through kept directories: a write into one removed meanwhile would be lost.
        let reads = flags & (O_WRONLY | O_RDWR | O_CREAT) == 0
        let (directory, name, kept) = try parentKeeping(of: path, create: create, reading: reads)
        defer { if !kept { close(directory) } }
        while true {
            let fd = openat(directory, name, flags | O_NOFOLLOW | O_CLOEXEC, mode)
            if fd >= 0 { return fd }
            if errno != EINTR { throw SystemError("open", path) }
        }
    }

    /// A regular file's bytes; nil when it does not exist.
    public func readIfExists(_ path: String) throws(SystemError) -> [UInt8]? {
        guard let fd = try openIfExists(path) else { return nil }
        defer { close(fd) }
        return try FileSystem.readAll(fd, path: path)
    }

    /// Opened for reading without blocking; nil when absent.
    func openIfExists(_ path: String) throws(SystemError) -> Int32? {
        do {
            return try open(path, O_RDONLY | O_NONBLOCK)
        } catch {
            if error.isNotFound { return nil }
            throw error
        }
    }

    /// A regular file as its first `headerSize` bytes and the rest, each read into an array of its own (no
    /// copy of the rest afterwards); nil when absent. A file shorter than the header comes back whole as
    /// the header.
    public func readSplit(_ path: String, headerSize: Int) throws(SystemError) -> (header: [UInt8], body: [UInt8])? {
        guard let fd = try openIfExists(path) else { return nil }
        defer { close(fd) }
        var s = stat()
        guard fstat(fd, &s) == 0 else { throw SystemError("fstat", path) }
        guard s.st_mode & S_IFMT == S_IFREG else { throw SystemError("read", path, code: EINVAL) }
        let total = Int(s.st_size)
        let headerLength = min(headerSize, total)
        let header = try FileSystem.readExactly(fd, count: headerLength, path: path)
        let body = try FileSystem.readExactly(fd, count: total - headerLength, path: path)
        return (header, body)
    }

    /// Writes through a new temporary file renamed over `path`, both by name in the same directory.
    public func writeAtomically(_ path: String, _ bytes: [UInt8], mode: mode_t = 0o666) throws(SystemError) {
        let (directory, name) = try parent(of: path, create: true)
        defer { close(directory) }
        let temporary = FileSystem.temporaryName(beside: name)
        let fd = openat(directory, temporary, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, mode)
        guard fd >= 0 else { throw SystemError("open", path) }
        do {
            try FileSystem.writeAll(fd, bytes, path: path)
        } catch {
            close(fd)
            unlinkat(directory, temporary, 0)
            throw error
        }
        close(fd)
        if renameat(directory, temporary, directory, name) != 0 {
            let failure = SystemError("rename", path)
            unlinkat(directory, temporary, 0)
            throw failure
        }
    }

    /// The file's own status (a link is reported as a link); nil when absent or unreachable.
    public func status(_ path: String) -> FileStatus? {
        guard let (directory, name, kept) = try? parentKeeping(of: path, create: false) else { return nil }
        defer { if !kept { close(directory) } }
        var s = stat()
        guard fstatat(directory, name, &s, AT_SYMLINK_NOFOLLOW) == 0 else { return nil }
        return FileStatus(s)
    }

    public func remove(_ path: String) {
        guard let (directory, name) = try? parent(of: path, create: false) else { return }
        unlinkat(directory, name, 0)
        close(directory)
    }

    /// Sets the modification time to now, on the file itself even if it is a link.
    public func touch(_ path: String) {
        guard let (directory, name) = try? parent(of: path, create: false) else { return }
        utimensat(directory, name, nil, AT_SYMLINK_NOFOLLOW)
        close(directory)
    }

    /// The entries of a directory inside the cache with their own status (links not followed, and never
    /// entered). Empty when the directory is absent or is itself a link.
    public func list(_ path: String) -> [(name: String, status: FileStatus)] {
        let fd: Int32
        if path == root {
            guard let opened = try? FileSystem.open(root, O_RDONLY | O_DIRECTORY) else { return [] }
            fd = opened
        } else {
            guard let opened = try? open(path, O_RDONLY | O_DIRECTORY) else { return [] }
            fd = opened
        }
        return Self.list(directory: fd)
    }

    /// Takes ownership of `fd`.
    static func list(directory fd: Int32) -> [(name: String, status: FileStatus)] {
        guard let dir = fdopendir(fd) else {
            close(fd)
            return []
        }
        defer { closedir(dir) }
        var out: [(name: String, status: FileStatus)] = []
        while let entry = readdir(dir) {
            let name = withUnsafeBytes(of: entry.pointee.d_name) { raw in
                String(cString: raw.bindMemory(to: CChar.self).baseAddress!)
            }
            guard name != "." && name != ".." else { continue }
            var s = stat()
            guard fstatat(dirfd(dir), name, &s, AT_SYMLINK_NOFOLLOW) == 0 else { continue }
            out.append((name, FileStatus(s)))
        }
        return out
    }

    /// Removes what a directory inside the cache holds, by name from its descriptor: links are removed,
    /// never followed, and a directory is entered only through `O_NOFOLLOW`. `keep` spares entries by name
    /// and status (files still in use).
    public func removeContents(of path: String, keep: (String, FileStatus) -> Bool = { _, _ in false }) {
        guard let fd = try? open(path, O_RDONLY | O_DIRECTORY) else { return }
        Self.removeContents(directory: fd, keep: keep)
    }

    /// Takes ownership of `fd`.
    static func removeContents(directory fd: Int32, keep: (String, FileStatus) -> Bool) {
        guard let duplicate = Optional(dup(fd)), duplicate >= 0 else {
            close(fd)
            return
        }
        for (name, status) in list(directory: duplicate) where !keep(name, status) {
            if status.isDirectory {
                let child = openat(fd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC)
                if child >= 0 { removeContents(directory: child, keep: keep) }
                unlinkat(fd, name, AT_REMOVEDIR)
            } else {
                unlinkat(fd, name, 0)
            }
        }
        close(fd)
    }
}

/// Directories of the cache reached for reading, kept open for the rest of the process: one compile reads
/// many entries below the same shard directories. Each was reached by the walk that never follows a link;
/// one removed meanwhile only makes a later read miss, and writes never go through them. Kept for one root
/// (the first used) and its shard directories (`3`, `3/7`), in a table indexed by their hex digits: a
/// dictionary's hashing cost a small hit 23 K instructions more than this.
enum DirectoryHandles {
    nonisolated(unsafe) private static var root: [UInt8] = []
    /// -1 where none is kept: the root at 0, `x` at 1 + x, `x/y` at 17 + 16 x + y.
    nonisolated(unsafe) private static var handles = [Int32](repeating: -1, count: 1 + 16 + 256)
    static let rootKey = 0

    /// Every kept descriptor: a child that closes what it inherited spares these.
    static var descriptors: [Int32] { handles.filter { $0 >= 0 } }

    /// Whether directories below `path` are kept: the first root asked for is the one.
    static func adopt(_ path: String) -> Bool {
        var path = path
        return path.withUTF8 { bytes in
            if root.isEmpty {
                root = Array(bytes)
                return true
            }
            return root.count == bytes.count && root.withUnsafeBufferPointer { kept in
                guard let keptStart = kept.baseAddress, let start = bytes.baseAddress else { return false }
                return memcmp(keptStart, start, bytes.count) == 0
            }
        }
    }

    @inline(__always)
    static func hexValue(_ byte: UInt8) -> Int? {
        switch byte {
        case UInt8(ascii: "0")...UInt8(ascii: "9"): return Int(byte - UInt8(ascii: "0"))
        case UInt8(ascii: "a")...UInt8(ascii: "f"): return Int(byte - UInt8(ascii: "a")) + 10
        default: return nil
        }
    }

    /// The slot of a directory by its path below the root; nil for one that is no shard directory.
    static func key(_ relative: UnsafeBufferPointer<UInt8>) -> Int? {
        if relative.count == 1, let x = hexValue(relative[0]) { return 1 + x }
        if relative.count == 3, relative[1] == UInt8(ascii: "/"), let x = hexValue(relative[0]), let y = hexValue(relative[2]) {
            return 17 + 16 * x + y
        }
        return nil
    }

    static func handle(for key: Int) -> Int32? {
        let fd = handles[key]
        return fd >= 0 ? fd : nil
    }

    /// Keeps `fd` under `key`; false when one is kept there already (the caller closes it).
    static func keep(_ fd: Int32, for key: Int) -> Bool {
        guard handles[key] < 0 else { return false }
        handles[key] = fd
        return true
    }
}

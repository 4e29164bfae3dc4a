import CXXHash
import Glibc

/// A large result served straight from its uncompressed entry: the checksum is taken while reading the file
/// in mapped windows, small parts (console output, dependency files) are read into memory, and the large
/// files are copied by the kernel (`sendfile`) from the entry into the outputs. So a hit's memory does not
/// grow with the object: a 5 MB debug object peaked at 15.3 MB RSS when read whole, above ccache 4.14.2's
/// 9.2 MB, which streams too.
struct StreamedResult {
    /// Files at least this large stay in the entry and are copied by the kernel.
    static let inlineLimit = 64 << 10

    var result: CachedResult
    /// Files left in the entry, by kind: where their bytes start in the entry file and how many there are.
    var external: [(kind: OutputKind, offset: Int, count: Int)]
    /// The entry, open for the copies.
    var fd: Int32

    func close() { _ = Glibc.close(fd) }

    /// A result entry as one open of its file gives it: streamed, or read whole for the ordinary decoding.
    enum Opened {
        case streamed(StreamedResult)
        case whole(header: [UInt8], body: [UInt8])
    }

    /// The result at `path`, opened once: streamed when `streaming` allows it, the entry is stored raw and
    /// holds a file worth streaming; otherwise read whole from the same descriptor (a hit used to open the
    /// entry twice, once to look and once to read). Nil when absent; throws when the entry is damaged.
    static func open(_ path: String, files: CacheFiles, kind: EntryCodec.Kind, key: Digest,
                     streaming: Bool) throws(MalformedEntry) -> Opened? {
        guard let fd = try? files.open(path, O_RDONLY | O_NONBLOCK) else { return nil }
        var keep = false
        defer { if !keep { _ = Glibc.close(fd) } }
        var s = stat()
        guard fstat(fd, &s) == 0, s.st_mode & S_IFMT == S_IFREG else { throw MalformedEntry("not a regular file") }
        let headerLength = min(EntryCodec.headerSize, Int(s.st_size))
        guard let header = try? FileSystem.readExactly(fd, count: headerLength, path: path) else {
            throw MalformedEntry("unreadable")
        }
        func whole() throws(MalformedEntry) -> Opened {
            guard let body = try? FileSystem.readExactly(fd, count: Int(s.st_size) - headerLength, path: path) else {
                throw MalformedEntry("unreadable")
            }
            return .whole(header: header, body: body)
        }
        guard streaming, Int(s.st_size) >= EntryCodec.headerSize + inlineLimit, header.count == EntryCodec.headerSize,
              header[9] == EntryCodec.Format.raw.rawValue else { return try whole() }
        guard Array(header[0..<8]) == EntryCodec.magic, header[8] == kind.rawValue else {
            throw MalformedEntry("not an entry of this kind")
        }
        var reader = ByteReader(header, offset: 10)
        let size = try reader.readUInt64()
        let expected = try reader.readUInt64()
        guard size == UInt64(Int(s.st_size) - EntryCodec.headerSize) else { throw MalformedEntry("truncated") }
        guard try checksum(fd, count: Int(size), kind: kind, key: key) == expected else {
            throw MalformedEntry("checksum mismatch")
        }
        var stream = EntryStream(fd: fd, offset: EntryCodec.headerSize, end: Int(s.st_size))
        guard try stream.byte() == CachedResult.formatVersion else { throw MalformedEntry("result version") }
        let pathsDigest = Digest(high: try stream.uint64(), low: try stream.uint64())
        guard let kind = PathDependence.Kind(rawValue: try stream.byte()) else { throw MalformedEntry("path dependence") }
        let dependence = PathDependence(kind, String(decoding: try stream.bytes(limit: 1 << 20), as: UTF8.self))
        let stdout = try stream.bytes(limit: inlineLimit * 16)
        let stderr = try stream.bytes(limit: inlineLimit * 16)
        let count = try stream.uint64()
        guard count <= 16 else { throw MalformedEntry("count out of range") }
        var inline: [OutputFile] = []
        var external: [(kind: OutputKind, offset: Int, count: Int)] = []
        for _ in 0..<count {
            guard let kind = OutputKind(rawValue: try stream.byte()) else { throw MalformedEntry("output kind") }
            let length = try stream.uint64()
            guard length <= UInt64(stream.end - stream.offset) else { throw MalformedEntry("length out of range") }
            // A dependency file is always read: its target is written for this call and it may be laid out
            // again, so it is never copied as stored.
            let isDependency = kind == .dependencyWithoutTarget || kind == .dependencyVerbatim
            if length >= UInt64(inlineLimit) && !isDependency {
                external.append((kind, stream.offset, Int(length)))
                stream.offset += Int(length)
            } else {
                inline.append(OutputFile(kind, try stream.read(Int(length))))
            }
        }
        guard stream.offset == stream.end else { throw MalformedEntry("trailing bytes") }
        guard !external.isEmpty else {
            _ = lseek(fd, off_t(EntryCodec.headerSize), SEEK_SET)
            return try whole()
        }
        keep = true
        return .streamed(StreamedResult(
            result: CachedResult(stdout: stdout, stderr: stderr, files: inline, pathsDigest: pathsDigest,
                                 pathDependence: dependence),
            external: external, fd: fd))
    }

    /// The entry's checksum over read-only mappings of the file, a window at a time: the bytes are hashed
    /// where the page cache holds them (reading them into a buffer first was a fifth of a large hit's time,
    /// in `_copy_to_iter`), and at most one window is mapped, so the memory used stays flat (mapping the
    /// whole 5 MB entry raised the peak RSS from 5.5 to 10.2 MB).
    static func checksum(_ fd: Int32, count: Int, kind: EntryCodec.Kind, key: Digest) throws(MalformedEntry) -> UInt64 {
        guard let state = XXH3_createState() else { throw MalformedEntry("no hash state") }
        defer { XXH3_freeState(state) }
        XXH3_64bits_reset_withSeed(state, EntryCodec.checksumSeed(kind: kind, key: key))
        let end = EntryCodec.headerSize + count
        var start = 0
        while start < end {
            let length = min(checksumWindow, end - start)
            guard let window = mmap(nil, length, PROT_READ, MAP_PRIVATE | MAP_POPULATE, fd, off_t(start)),
                  window != MAP_FAILED else { throw MalformedEntry("cannot map the entry") }
            let skip = start == 0 ? EntryCodec.headerSize : 0
            _ = XXH3_64bits_update(state, window + skip, length - skip)
            munmap(window, length)
            start += length
        }
        return XXH3_64bits_digest(state)
    }

    /// A multiple of the page size.
    static let checksumWindow = 1 << 20
}

/// Sequential reads of a result's fields from an entry file.
struct EntryStream {
    let fd: Int32
    var offset: Int
    let end: Int

    mutating func read(_ count: Int) throws(MalformedEntry) -> [UInt8] {
        guard count >= 0, count <= end - offset else { throw MalformedEntry("truncated") }
        var failed = false
        let bytes = [UInt8](unsafeUninitializedCapacity: count) { buffer, filled in
            filled = 0
            while filled < count {
                let n = pread(fd, buffer.baseAddress! + filled, count - filled, off_t(offset + filled))
                if n < 0 && errno == EINTR { continue }
                if n <= 0 {
                    failed = true
                    return
                }
                filled += n
            }
        }
        if failed { throw MalformedEntry("truncated") }
        offset += count
        return bytes
    }

    mutating func byte() throws(MalformedEntry) -> UInt8 { try read(1)[0] }

    mutating func uint64() throws(MalformedEntry) -> UInt64 {
        var reader = ByteReader(try read(8))
        return try reader.readUInt64()
    }

    mutating func bytes(limit: Int) throws(MalformedEntry) -> [UInt8] {
        let count = try uint64()
        guard count <= UInt64(limit) else { throw MalformedEntry("length out of range") }
        return try read(Int(count))
    }
}

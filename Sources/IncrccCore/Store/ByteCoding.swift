/// Little-endian binary writer for manifests, results and stats.
public struct ByteWriter {
    public private(set) var bytes: [UInt8] = []

    public init() {}

    public mutating func write(_ value: UInt64) {
        withUnsafeBytes(of: value.littleEndian) { bytes.append(contentsOf: $0) }
    }

    public mutating func write(_ value: Int64) { write(UInt64(bitPattern: value)) }

    public mutating func write(_ value: UInt32) {
        withUnsafeBytes(of: value.littleEndian) { bytes.append(contentsOf: $0) }
    }

    public mutating func write(_ value: UInt8) { bytes.append(value) }

    public mutating func write(_ data: [UInt8]) {
        write(UInt64(data.count))
        bytes.append(contentsOf: data)
    }

    public mutating func write(_ text: String) {
        var text = text
        text.withUTF8 { utf8 in
            write(UInt64(utf8.count))
            bytes.append(contentsOf: utf8)
        }
    }

    public mutating func write(_ digest: Digest) {
        write(digest.high)
        write(digest.low)
    }

    /// The parts of a stat that say whether a file changed: device, inode, size, mtime, ctime.
    public mutating func write(_ status: FileStatus) {
        write(status.device)
        write(status.inode)
        write(status.size)
        write(status.modifiedNanoseconds)
        write(status.changedNanoseconds)
    }

    public mutating func appendRaw(_ data: [UInt8]) { bytes.append(contentsOf: data) }
}

/// Thrown for any entry that is not what its format says: truncated, foreign, or damaged.
public struct MalformedEntry: Error, Sendable {
    public var reason: String
    public init(_ reason: String) { self.reason = reason }
}

/// Reads what ByteWriter wrote; every read is bounds-checked, so damaged input throws instead of trapping.
public struct ByteReader {
    private let bytes: [UInt8]
    public private(set) var offset: Int

    public init(_ bytes: [UInt8], offset: Int = 0) {
        self.bytes = bytes
        self.offset = offset
    }

    public var isAtEnd: Bool { offset == bytes.count }

    private mutating func take(_ count: Int) throws(MalformedEntry) -> ArraySlice<UInt8> {
        guard count >= 0, count <= bytes.count - offset else { throw MalformedEntry("truncated") }
        defer { offset += count }
        return bytes[offset..<offset + count]
    }

    /// Moves past `count` bytes without reading them.
    public mutating func skip(_ count: Int) throws(MalformedEntry) {
        _ = try take(count)
    }

    /// Exactly `count` bytes, with no length before them (digests of a known size).
    public mutating func readFixed(_ count: Int) throws(MalformedEntry) -> [UInt8] {
        Array(try take(count))
    }

    public mutating func readUInt64() throws(MalformedEntry) -> UInt64 {
        guard bytes.count - offset >= 8 else { throw MalformedEntry("truncated") }
        let value = bytes.withUnsafeBytes { $0.loadUnaligned(fromByteOffset: offset, as: UInt64.self) }
        offset += 8
        return UInt64(littleEndian: value)
    }

    public mutating func readInt64() throws(MalformedEntry) -> Int64 { Int64(bitPattern: try readUInt64()) }

    public mutating func readUInt32() throws(MalformedEntry) -> UInt32 {
        guard bytes.count - offset >= 4 else { throw MalformedEntry("truncated") }
        let value = bytes.withUnsafeBytes { $0.loadUnaligned(fromByteOffset: offset, as: UInt32.self) }
        offset += 4
        return UInt32(littleEndian: value)
    }

    public mutating func readUInt8() throws(MalformedEntry) -> UInt8 { try take(1).first! }

    /// A length-prefixed byte string, at most `limit` bytes long.
    public mutating func readBytes(limit: Int = 1 << 31) throws(MalformedEntry) -> [UInt8] {
        let count = try readUInt64()
        guard count <= UInt64(limit) else { throw MalformedEntry("length out of range") }
        return Array(try take(Int(count)))
    }

    public mutating func readString() throws(MalformedEntry) -> String {
        let count = try readUInt64()
        guard count <= 1 << 20, Int(count) <= bytes.count - offset else { throw MalformedEntry("length out of range") }
        let start = offset
        offset += Int(count)
        return bytes.withUnsafeBufferPointer { String(decoding: $0[start..<start + Int(count)], as: UTF8.self) }
    }

    public mutating func readDigest() throws(MalformedEntry) -> Digest {
        let high = try readUInt64()
        return Digest(high: high, low: try readUInt64())
    }

    public mutating func readFileStatus() throws(MalformedEntry) -> FileStatus {
        let device = try readUInt64()
        let inode = try readUInt64()
        let size = try readInt64()
        let mtime = try readInt64()
        let ctime = try readInt64()
        return FileStatus(device: device, inode: inode, size: size, modifiedNanoseconds: mtime,
                          changedNanoseconds: ctime, mode: 0)
    }

    /// A count of items that each need at least `minimumItemSize` bytes, so a damaged count cannot make a
    /// reader allocate beyond the input.
    public mutating func readCount(minimumItemSize: Int) throws(MalformedEntry) -> Int {
        let count = try readUInt64()
        guard count <= UInt64((bytes.count - offset) / max(minimumItemSize, 1)) else {
            throw MalformedEntry("count out of range")
        }
        return Int(count)
    }
}

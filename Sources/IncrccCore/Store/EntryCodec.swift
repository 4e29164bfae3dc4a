import CXXHash
import CZstd

/// The on-disk frame of every cache entry: magic, kind, payload size, XXH3-64 checksum of the payload, then
/// the payload, zstd-compressed except in file facts (a few hundred bytes each, read by the dozen on every
/// miss: setting up a zstd context cost more than the read). Anything that does not check out is
/// `MalformedEntry`.
public enum EntryCodec {
    static let magic: [UInt8] = Array("incrcc\u{0}\u{1}".utf8)
    static let headerSize = 8 + 1 + 8 + 8
    /// No entry may claim to expand beyond this, so a damaged size cannot exhaust memory.
    static let maximumPayload = 1 << 32

    public enum Kind: UInt8, Sendable, CaseIterable {
        case manifest = 1
        case result = 2
        case scanIndex = 3
        case fileFacts = 4

        var isCompressed: Bool { self != .fileFacts }
    }

    public static func encode(_ payload: [UInt8], kind: Kind, level: Int32) -> [UInt8] {
        var out = magic
        out.append(kind.rawValue)
        var writer = ByteWriter()
        writer.write(UInt64(payload.count))
        writer.write(checksum(payload))
        out.append(contentsOf: writer.bytes)
        guard kind.isCompressed else { return out + payload }
        let bound = ZSTD_compressBound(payload.count)
        let start = out.count
        out.append(contentsOf: repeatElement(0, count: bound))
        let written = out.withUnsafeMutableBytes { buffer in
            payload.withUnsafeBytes { source in
                ZSTD_compress(buffer.baseAddress! + start, bound, source.baseAddress, source.count, level)
            }
        }
        if ZSTD_isError(written) != 0 {
            // Compression of a valid buffer into its bound cannot fail; keep the frame valid regardless.
            out.removeSubrange(start...)
            return out
        }
        out.removeSubrange((start + written)...)
        return out
    }

    public static func decode(_ data: [UInt8], kind: Kind) throws(MalformedEntry) -> [UInt8] {
        guard data.count >= headerSize, Array(data[0..<8]) == magic else { throw MalformedEntry("not an incrcc entry") }
        guard data[8] == kind.rawValue else { throw MalformedEntry("wrong entry kind") }
        var reader = ByteReader(data, offset: 9)
        let size = try reader.readUInt64()
        let expected = try reader.readUInt64()
        guard size <= UInt64(maximumPayload) else { throw MalformedEntry("size out of range") }
        guard kind.isCompressed else {
            guard UInt64(data.count - headerSize) == size else { throw MalformedEntry("truncated") }
            let payload = Array(data[headerSize...])
            guard checksum(payload) == expected else { throw MalformedEntry("checksum mismatch") }
            return payload
        }
        var produced = 0
        let payload = [UInt8](unsafeUninitializedCapacity: Int(size)) { target, initialized in
            produced = data.withUnsafeBytes { source in
                ZSTD_decompress(target.baseAddress, target.count, source.baseAddress! + headerSize,
                                source.count - headerSize)
            }
            // Bytes past what zstd wrote are never read: the size check below rejects a short result.
            initialized = ZSTD_isError(produced) == 0 ? min(produced, Int(size)) : 0
        }
        guard ZSTD_isError(produced) == 0, produced == Int(size), payload.count == Int(size) else { throw MalformedEntry("bad compressed data") }
        guard checksum(payload) == expected else { throw MalformedEntry("checksum mismatch") }
        return payload
    }

    static func checksum(_ bytes: [UInt8]) -> UInt64 {
        bytes.withUnsafeBytes { XXH3_64bits($0.baseAddress, $0.count) }
    }
}

import CXXHash
import CZstd

/// The on-disk frame of every cache entry: magic, kind, format (raw or zstd), payload size, checksum, then the
/// payload. Anything that does not check out is `MalformedEntry`.
///
/// The checksum (XXH3-64) covers the entry's own key and kind as well as the payload, so an entry is valid
/// only at its own key: a file copied over another key's (or a server answering one key with another's
/// bytes) is damaged, not served. It is no authentication: whoever can write the cache can compute it; a
/// local cache relies on its permissions (see the manual), a shared tier on its own authentication.
///
/// Every size is checked before anything is allocated: a payload may claim at most `maximumPayload` bytes,
/// a zstd frame must declare the same size in its own header, and no frame may expand more than
/// `maximumRatio` times its compressed bytes (payloads that would are stored raw instead), so a 16 KiB
/// entry can never make a reader allocate more than 32 MiB.
public enum EntryCodec {
    static let magic: [UInt8] = Array("incrcc\u{0}\u{2}".utf8)
    static let headerSize = 8 + 1 + 1 + 8 + 8
    /// No entry may claim to expand beyond this, so a damaged size cannot exhaust memory.
    static let maximumPayload = 1 << 32
    /// The largest expansion a reader accepts; measured object files compress 3-10 times.
    static let maximumRatio = 2048

    public enum Kind: UInt8, Sendable, CaseIterable {
        case manifest = 1
        case result = 2
        case scanIndex = 3
        case fileFacts = 4
        /// Entries under a key without macros and include directories (`LooseManifest`).
        case looseManifest = 5
        /// Which compile wrote a compiled module interface, under the interface's content digest
        /// (`ModuleProvenance`).
        case moduleProvenance = 6
        /// The modules a compiled module interface imports and the paths stored for them, under its content
        /// digest (`ModuleInputs`).
        case moduleImports = 7
        /// The result found by a preprocessor's output (`PreprocessedTextStrategy`): its key alone.
        case preprocessedText = 8

        /// File facts are a few hundred bytes, read by the dozen on every miss: setting up a zstd context
        /// cost more than the read.
        var isCompressed: Bool { self != .fileFacts && self != .moduleProvenance }

        /// Whether `files_in_cache` counts it: results and manifests, the cache entries ccache counts; what
        /// incrcc keeps beside them (scan indexes, file facts, skeletons, entries without options) counts
        /// towards the size only.
        var countsAsFile: Bool { self == .result || self == .manifest }
    }

    enum Format: UInt8 {
        case raw = 0
        case zstd = 1
    }

    /// `uncompressedAbove`: payloads at least this large are stored raw (see `CacheStore.uncompressedAbove`).
    /// `reusing`: a frame of `payload` under another key, whose compressed body is kept when this one would be
    /// compressed too.
    public static func encode(_ payload: [UInt8], kind: Kind, key: Digest, level: Int32,
                              uncompressedAbove: Int = Int.max, reusing frame: [UInt8]? = nil) -> [UInt8] {
        let compresses = kind.isCompressed && !payload.isEmpty && payload.count < uncompressedAbove
        if compresses, let frame, isCompressed(frame), let moved = rekeyed(frame, payload: payload, kind: kind, key: key) {
            return moved
        }
        var out = magic
        out.append(kind.rawValue)
        let formatIndex = out.count
        out.append(Format.raw.rawValue)
        var writer = ByteWriter()
        writer.write(UInt64(payload.count))
        writer.write(checksum(payload, kind: kind, key: key))
        out.append(contentsOf: writer.bytes)
        guard compresses else { return out + payload }
        let bound = ZSTD_compressBound(payload.count)
        let start = out.count
        out.append(contentsOf: repeatElement(0, count: bound))
        let written = out.withUnsafeMutableBytes { buffer in
            payload.withUnsafeBytes { source in
                ZSTD_compress(buffer.baseAddress! + start, bound, source.baseAddress, source.count, level)
            }
        }
        // A failed compression, or one no reader would accept: the payload goes in raw.
        guard ZSTD_isError(written) == 0, payload.count <= written * maximumRatio else {
            out.removeSubrange(start...)
            return out + payload
        }
        out.removeSubrange((start + written)...)
        out[formatIndex] = Format.zstd.rawValue
        return out
    }

    public static func decode(_ data: [UInt8], kind: Kind, key: Digest) throws(MalformedEntry) -> [UInt8] {
        guard data.count >= headerSize else { throw MalformedEntry("not an incrcc entry") }
        return try decode(header: Array(data[..<headerSize]), body: Array(data[headerSize...]), kind: kind, key: key)
    }

    /// The payload from an entry read as its header and the stored bytes after it: a raw body is the payload
    /// itself, so a large object is never copied here.
    public static func decode(header: [UInt8], body: [UInt8], kind: Kind, key: Digest) throws(MalformedEntry) -> [UInt8] {
        guard header.count == headerSize, Array(header[0..<8]) == magic else { throw MalformedEntry("not an incrcc entry") }
        guard header[8] == kind.rawValue else { throw MalformedEntry("wrong entry kind") }
        guard let format = Format(rawValue: header[9]) else { throw MalformedEntry("unknown format") }
        var reader = ByteReader(header, offset: 10)
        let size = try reader.readUInt64()
        let expected = try reader.readUInt64()
        let stored = body.count
        guard size <= UInt64(maximumPayload) else { throw MalformedEntry("size out of range") }
        let payload: [UInt8]
        switch format {
        case .raw:
            guard UInt64(stored) == size else { throw MalformedEntry("truncated") }
            payload = body
        case .zstd:
            guard size <= UInt64(stored) * UInt64(maximumRatio) else { throw MalformedEntry("expands too far") }
            let declared = body.withUnsafeBytes { ZSTD_getFrameContentSize($0.baseAddress, stored) }
            guard declared == size else { throw MalformedEntry("frame size differs") }
            var produced = 0
            payload = [UInt8](unsafeUninitializedCapacity: Int(size)) { target, initialized in
                produced = body.withUnsafeBytes { source in
                    ZSTD_decompress(target.baseAddress, target.count, source.baseAddress, stored)
                }
                // Bytes past what zstd wrote are never read: the size check below rejects a short result.
                initialized = ZSTD_isError(produced) == 0 ? min(produced, Int(size)) : 0
            }
            guard ZSTD_isError(produced) == 0, produced == Int(size), payload.count == Int(size) else {
                throw MalformedEntry("bad compressed data")
            }
        }
        guard checksum(payload, kind: kind, key: key) == expected else { throw MalformedEntry("checksum mismatch") }
        return payload
    }

    /// `frame`, an entry already decoded to `payload`, bound to another key: its header's checksum replaced,
    /// its (compressed) body kept. Copying a shared hit into the local store compressed the payload again,
    /// a seventh of the copying child's time for googletest's largest object (perf). Nil when `frame` is
    /// not a frame of `payload` of this kind.
    static func rekeyed(_ frame: [UInt8], payload: [UInt8], kind: Kind, key: Digest) -> [UInt8]? {
        guard frame.count >= headerSize, frame[8] == kind.rawValue, Format(rawValue: frame[9]) != nil else { return nil }
        var reader = ByteReader(frame, offset: 10)
        guard let size = try? reader.readUInt64(), size == UInt64(payload.count) else { return nil }
        var writer = ByteWriter()
        writer.write(checksum(payload, kind: kind, key: key))
        var out = frame
        out.replaceSubrange(18..<headerSize, with: writer.bytes)
        return out
    }

    /// Whether a frame holds its payload compressed.
    static func isCompressed(_ frame: [UInt8]) -> Bool {
        frame.count >= headerSize && frame[9] == Format.zstd.rawValue
    }

    /// XXH3 of the payload, seeded with the key and kind it belongs to.
    static func checksum(_ bytes: [UInt8], kind: Kind, key: Digest) -> UInt64 {
        let seed = checksumSeed(kind: kind, key: key)
        return bytes.withUnsafeBytes { XXH3_64bits_withSeed($0.baseAddress, $0.count, seed) }
    }

    static func checksumSeed(kind: Kind, key: Digest) -> UInt64 {
        var seedInput = ByteWriter()
        seedInput.write(key)
        seedInput.write(kind.rawValue)
        return seedInput.bytes.withUnsafeBytes { XXH3_64bits($0.baseAddress, $0.count) }
    }
}

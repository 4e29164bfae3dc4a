import CSHA256

/// A SHA-256 digest: what keys and file digests in a shared cache are, since there many hands write and a
/// crafted input must not be able to take over another's key (XXH3 is fast, not collision-resistant).
public struct StrongDigest: Hashable, Sendable {
    /// The 32 bytes as four words, the first byte the most significant: held inline, so the hundreds a
    /// shared hit decodes, compares and hashes cost no allocation each (as an array they did).
    private var w0, w1, w2, w3: UInt64

    public init?(bytes: [UInt8]) {
        guard bytes.count == 32 else { return nil }
        self.init(unchecked: bytes)
    }

    /// From exactly 32 bytes.
    init(unchecked bytes: [UInt8]) {
        self = bytes.withUnsafeBytes { StrongDigest(raw: $0) }
    }

    /// From the first 32 bytes of `raw`.
    init(raw: UnsafeRawBufferPointer) {
        func word(_ index: Int) -> UInt64 { UInt64(bigEndian: raw.loadUnaligned(fromByteOffset: 8 * index, as: UInt64.self)) }
        (w0, w1, w2, w3) = (word(0), word(1), word(2), word(3))
    }

    private init(words: (UInt64, UInt64, UInt64, UInt64)) { (w0, w1, w2, w3) = words }

    /// Reads the 32 bytes of one without an array in between (`readUInt64` reads little-endian).
    public static func read(_ reader: inout ByteReader) throws(MalformedEntry) -> StrongDigest {
        let first = try reader.readUInt64().byteSwapped
        let second = try reader.readUInt64().byteSwapped
        let third = try reader.readUInt64().byteSwapped
        return StrongDigest(words: (first, second, third, try reader.readUInt64().byteSwapped))
    }

    public var bytes: [UInt8] { withUnsafeBytes { Array($0) } }

    /// The 32 bytes, in order, for the time of `body`.
    public func withUnsafeBytes<Result>(_ body: (UnsafeRawBufferPointer) -> Result) -> Result {
        var words = (w0.bigEndian, w1.bigEndian, w2.bigEndian, w3.bigEndian)
        return Swift.withUnsafeBytes(of: &words) { body($0) }
    }

    public static func of(_ data: [UInt8]) -> StrongDigest {
        var hasher = StrongHasher()
        data.withUnsafeBytes { hasher.update(raw: $0) }
        return hasher.finalize()
    }

    /// 64 lowercase hex digits.
    public var hex: String {
        withUnsafeBytes { raw in
            String(unsafeUninitializedCapacity: 64) { out in
                for (index, byte) in raw.enumerated() {
                    out[2 * index] = Digest.hexDigit(byte >> 4)
                    out[2 * index + 1] = Digest.hexDigit(byte & 0xf)
                }
                return 64
            }
        }
    }

    /// The first 128 bits: what seeds the integrity checksum of an entry stored under this key.
    public var checksumKey: Digest { Digest(high: w0, low: w1) }
}

/// Feeds values into a SHA-256 digest (libcrypto's block functions, with the CPU's SHA extensions).
public struct StrongHasher: KeyHashing {
    private var state = incrcc_sha256_state()

    public init() { incrcc_sha256_init(&state) }

    public mutating func update(raw buffer: UnsafeRawBufferPointer) {
        incrcc_sha256_update(&state, buffer.baseAddress, buffer.count)
    }

    public mutating func update(_ digest: StrongDigest) {
        digest.withUnsafeBytes { update(raw: $0) }
    }

    public func finalize() -> StrongDigest {
        var copy = state
        var out = (UInt64(0), UInt64(0), UInt64(0), UInt64(0))
        Swift.withUnsafeMutableBytes(of: &out) { incrcc_sha256_final(&copy, $0.bindMemory(to: UInt8.self).baseAddress) }
        return Swift.withUnsafeBytes(of: &out) { StrongDigest(raw: $0) }
    }
}

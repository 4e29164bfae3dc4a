import CSHA256

/// A SHA-256 digest: what keys and file digests in a shared cache are, since there many hands write and a
/// crafted input must not be able to take over another's key (XXH3 is fast, not collision-resistant).
public struct StrongDigest: Hashable, Sendable {
    public var bytes: [UInt8]

    public init?(bytes: [UInt8]) {
        guard bytes.count == 32 else { return nil }
        self.bytes = bytes
    }

    init(unchecked bytes: [UInt8]) { self.bytes = bytes }

    public static func of(_ data: [UInt8]) -> StrongDigest {
        var hasher = StrongHasher()
        data.withUnsafeBytes { hasher.update(raw: $0) }
        return hasher.finalize()
    }

    /// 64 lowercase hex digits.
    public var hex: String {
        String(unsafeUninitializedCapacity: 64) { out in
            for (index, byte) in bytes.enumerated() {
                out[2 * index] = Digest.hexDigit(byte >> 4)
                out[2 * index + 1] = Digest.hexDigit(byte & 0xf)
            }
            return 64
        }
    }

    /// The first 128 bits: what seeds the integrity checksum of an entry stored under this key.
    public var checksumKey: Digest {
        var high: UInt64 = 0
        var low: UInt64 = 0
        for index in 0..<8 {
            high = high << 8 | UInt64(bytes[index])
            low = low << 8 | UInt64(bytes[8 + index])
        }
        return Digest(high: high, low: low)
    }
}

/// Feeds values into a SHA-256 digest (libcrypto's block functions, with the CPU's SHA extensions).
public struct StrongHasher: KeyHashing {
    private var state = incrcc_sha256_state()

    public init() { incrcc_sha256_init(&state) }

    public mutating func update(raw buffer: UnsafeRawBufferPointer) {
        incrcc_sha256_update(&state, buffer.baseAddress, buffer.count)
    }

    public mutating func update(_ digest: StrongDigest) {
        digest.bytes.withUnsafeBytes { update(raw: $0) }
    }

    public func finalize() -> StrongDigest {
        var copy = state
        var out = [UInt8](repeating: 0, count: 32)
        out.withUnsafeMutableBufferPointer { incrcc_sha256_final(&copy, $0.baseAddress) }
        return StrongDigest(unchecked: out)
    }
}

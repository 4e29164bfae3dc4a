import CXXHash

/// A 128-bit XXH3 digest: content keys, result keys and file digests.
public struct Digest: Hashable, Sendable, Comparable {
    public var high: UInt64
    public var low: UInt64

    public init(high: UInt64, low: UInt64) {
        self.high = high
        self.low = low
    }

    public static func < (a: Digest, b: Digest) -> Bool { (a.high, a.low) < (b.high, b.low) }

    public static func of(_ bytes: [UInt8]) -> Digest {
        bytes.withUnsafeBufferPointer { of($0) }
    }

    public static func of(_ buffer: UnsafeBufferPointer<UInt8>) -> Digest {
        let value = XXH3_128bits(buffer.baseAddress, buffer.count)
        return Digest(high: value.high64, low: value.low64)
    }

    /// 32 lowercase hex digits, written straight into the string's storage: every entry path is named by
    /// one, and the array-then-decode version cost 3 K instructions each.
    public var hex: String {
        String(unsafeUninitializedCapacity: 32) { out in
            writeHex(into: out, at: 0)
            return 32
        }
    }

    /// The 32 digits at `out[start...]`.
    func writeHex(into out: UnsafeMutableBufferPointer<UInt8>, at start: Int) {
        for i in 0..<16 {
            let shift = UInt64(60 - 4 * i)
            out[start + i] = Self.hexDigit(UInt8(truncatingIfNeeded: high >> shift) & 0xf)
            out[start + 16 + i] = Self.hexDigit(UInt8(truncatingIfNeeded: low >> shift) & 0xf)
        }
    }

    @inline(__always)
    static func hexDigit(_ nibble: UInt8) -> UInt8 {
        nibble < 10 ? UInt8(ascii: "0") + nibble : UInt8(ascii: "a") + nibble - 10
    }
}

/// Something keys are hashed with: the local store's XXH3 or the shared tier's SHA-256. Every
/// variable-length value is length-prefixed so that two different sequences of values can never hash the
/// same bytes.
public protocol KeyHashing: ~Copyable {
    mutating func update(raw buffer: UnsafeRawBufferPointer)
}

extension KeyHashing where Self: ~Copyable {
    public mutating func update(_ value: UInt64) {
        withUnsafeBytes(of: value.littleEndian) { update(raw: $0) }
    }

    public mutating func update(_ bytes: [UInt8]) {
        update(UInt64(bytes.count))
        bytes.withUnsafeBytes { update(raw: $0) }
    }

    public mutating func update(_ text: String) {
        var text = text
        text.withUTF8 { utf8 in
            update(UInt64(utf8.count))
            update(raw: UnsafeRawBufferPointer(utf8))
        }
    }

    public mutating func update(_ digest: Digest) {
        update(digest.high)
        update(digest.low)
    }
}

/// Feeds values into an XXH3-128 digest.
public struct StreamingHasher: ~Copyable, KeyHashing {
    private let state: OpaquePointer

    public init() {
        state = XXH3_createState()
        XXH3_128bits_reset(state)
    }

    deinit { XXH3_freeState(state) }

    public mutating func update(raw buffer: UnsafeRawBufferPointer) {
        XXH3_128bits_update(state, buffer.baseAddress, buffer.count)
    }

    public func finalize() -> Digest {
        let value = XXH3_128bits_digest(state)
        return Digest(high: value.high64, low: value.low64)
    }
}

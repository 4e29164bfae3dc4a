import Glibc

/// The ephemeral parts of one call's paths (store hashes, random temp-dir names), each paired with the
/// same-length placeholder that stands for it in keys, manifests and stored outputs.
///
/// Placeholders are numbered by first appearance in the call's keyed inputs, so two calls whose inputs
/// differ only in these parts get the same placeholders for the same slots. Same length on both sides:
/// replacing one by the other never moves an offset inside an object file.
public struct PathMapping: Sendable, Equatable {
    public struct Pair: Sendable, Equatable {
        public var real: [UInt8]
        public var placeholder: [UInt8]
    }

    /// Longest first, so a seed-length prefix is replaced only where its whole hash was not.
    public private(set) var pairs: [Pair] = []

    /// The checkout this call builds in (under `base_dir`), replaced by `checkoutToken` wherever it starts
    /// a path. Unlike the pairs it may change length from call to call, so it is only ever patched into
    /// text; a result whose binary outputs hold it is keyed without it.
    public private(set) var checkout: [UInt8]?

    /// Stands for the checkout root: control bytes, which no path or option this tool keys holds.
    public static let checkoutToken: [UInt8] = Array("\u{1}checkout\u{1}".utf8)

    public init() {}

    public var isEmpty: Bool { pairs.isEmpty && checkout == nil }

    public mutating func setCheckout(_ root: String) {
        checkout = Array(root.utf8)
    }

    /// The same mapping without its checkout root: the key of results that hold the root in binary form.
    public var withoutCheckout: PathMapping {
        var copy = self
        copy.checkout = nil
        return copy
    }

    /// Whether `bytes` name the checkout root (as a whole path or a path's leading directories).
    public func holdsCheckout(_ bytes: [UInt8]) -> Bool {
        guard let checkout else { return false }
        return Self.checkoutOccurrence(of: checkout, in: bytes, from: 0) != nil
    }

    /// Where `root` occurs followed by `/` or by a byte that cannot continue a name (so `/w/proj` is not
    /// found in `/w/project`).
    static func checkoutOccurrence(of root: [UInt8], in bytes: [UInt8], from offset: Int) -> Int? {
        var offset = offset
        while let found = ByteSearch.find(root, in: bytes, from: offset) {
            let next = found + root.count
            if next == bytes.count || !EphemeralPathRule.nameContinues[Int(bytes[next])] && bytes[next] != UInt8(ascii: "+") {
                return found
            }
            offset = found + 1
        }
        return nil
    }

    /// Every whole-root occurrence of `needle` replaced (lengths may differ).
    static func replaceCheckout(_ needle: [UInt8], with replacement: [UInt8], in bytes: [UInt8]) -> [UInt8] {
        guard let first = checkoutOccurrence(of: needle, in: bytes, from: 0) else { return bytes }
        var out: [UInt8] = Array(bytes[..<first])
        var position = first
        while true {
            out += replacement
            position += needle.count
            guard let next = checkoutOccurrence(of: needle, in: bytes, from: position) else { break }
            out += bytes[position..<next]
            position = next
        }
        out += bytes[position...]
        return out
    }

    /// Placeholders use only `e`, `o`, `t` and `u` (never in Nix's base32, so never a real store hash):
    /// five letters of slot number in base 4, padded with `e`. A prefix of ten keeps the slot readable,
    /// which `-frandom-seed=` values (ten characters of a hash) need.
    static let placeholderLetters: [UInt8] = Array("eotu".utf8)
    static let slotLetters = 5
    public static let maximumSlots = 1 << (2 * slotLetters)

    static func placeholder(slot: Int, length: Int) -> [UInt8] {
        var out = [UInt8](repeating: UInt8(ascii: "e"), count: length)
        var rest = slot
        for i in stride(from: min(slotLetters, length) - 1, through: 0, by: -1) {
            out[i] = placeholderLetters[rest & 3]
            rest >>= 2
        }
        return out
    }

    /// Whole parts added so far; prefixes share their whole part's slot.
    private var slotCount = 0

    /// Adds `real` when new. False when the call has more distinct parts than there are slots, or the part
    /// is too short to carry a slot number and still stand out.
    @discardableResult
    mutating func add(_ real: [UInt8]) -> Bool {
        if pairs.contains(where: { $0.real == real }) { return true }
        guard slotCount < Self.maximumSlots, real.count > Self.slotLetters else { return false }
        insertSorted(Pair(real: real, placeholder: Self.placeholder(slot: slotCount, length: real.count)))
        slotCount += 1
        return true
    }

    /// Adds `prefix` of a value already present (a `-frandom-seed=` value), mapped to the same prefix of
    /// that value's placeholder.
    mutating func addPrefix(_ prefix: [UInt8]) -> Bool {
        if pairs.contains(where: { $0.real == prefix }) { return true }
        guard let whole = pairs.first(where: { $0.real.count > prefix.count && $0.real.starts(with: prefix) })
        else { return false }
        insertSorted(Pair(real: prefix, placeholder: Array(whole.placeholder.prefix(prefix.count))))
        return true
    }

    private mutating func insertSorted(_ pair: Pair) {
        let index = pairs.firstIndex { $0.real.count < pair.real.count } ?? pairs.count
        pairs.insert(pair, at: index)
    }

    /// Real parts replaced by placeholders.
    public func normalize(_ bytes: [UInt8]) -> [UInt8] {
        var out = checkout.map { Self.replaceCheckout($0, with: Self.checkoutToken, in: bytes) } ?? bytes
        for pair in pairs { Self.replaceAll(pair.real, with: pair.placeholder, in: &out) }
        return out
    }

    /// Placeholders replaced by the real parts of this call.
    public func restore(_ bytes: [UInt8]) -> [UInt8] {
        var out = bytes
        for pair in pairs { Self.replaceAll(pair.placeholder, with: pair.real, in: &out) }
        if let checkout { out = Self.replaceCheckout(Self.checkoutToken, with: checkout, in: out) }
        return out
    }

    public func normalize(_ text: String) -> String {
        isEmpty ? text : String(decoding: normalize(Array(text.utf8)), as: UTF8.self)
    }

    public func restore(_ text: String) -> String {
        isEmpty ? text : String(decoding: restore(Array(text.utf8)), as: UTF8.self)
    }

    /// `normalize(bytes)` when `restore` gives `bytes` back, else nil: the bytes already hold one of this
    /// call's placeholders (or a replacement created one), and normalizing them would merge two different
    /// inputs into one key, or patch bytes that were never a path.
    public func normalizeReversibly(_ bytes: [UInt8]) -> [UInt8]? {
        if isEmpty { return bytes }
        for pair in pairs where Self.contains(pair.placeholder, in: bytes) { return nil }
        if checkout != nil, Self.contains(Self.checkoutToken, in: bytes) { return nil }
        let normalized = normalize(bytes)
        return restore(normalized) == bytes ? normalized : nil
    }

    public func roundTrips(_ bytes: [UInt8]) -> Bool {
        normalizeReversibly(bytes) != nil
    }

    public func roundTrips(_ text: String) -> Bool {
        isEmpty || roundTrips(Array(text.utf8))
    }

    /// A digest of the real parts (zero when there are none): equal digests mean a stored result needs no
    /// patching for this call.
    public var realPartsDigest: Digest {
        if isEmpty { return Digest(high: 0, low: 0) }
        var hasher = StreamingHasher()
        hasher.update("incrcc path mapping 2")
        hasher.update(checkout ?? [])
        for pair in pairs {
            hasher.update(pair.real)
            hasher.update(pair.placeholder)
        }
        return hasher.finalize()
    }

    static func contains(_ needle: [UInt8], in haystack: [UInt8]) -> Bool {
        ByteSearch.find(needle, in: haystack) != nil
    }

    /// Same-length replacement in place, left to right, never overlapping a replaced span.
    static func replaceAll(_ needle: [UInt8], with replacement: [UInt8], in bytes: inout [UInt8]) {
        precondition(needle.count == replacement.count, "placeholders keep the length of what they replace")
        guard !needle.isEmpty, bytes.count >= needle.count else { return }
        var offset = 0
        while let found = ByteSearch.find(needle, in: bytes, from: offset) {
            bytes.replaceSubrange(found..<found + needle.count, with: replacement)
            offset = found + needle.count
        }
    }
}

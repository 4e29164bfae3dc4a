/// What a shared cache holds under a call's strong manifest key: the ways that call was compiled, each
/// with the SHA-256 of every file it read (a cryptographic digest, since a header's XXH3 could be matched
/// by a crafted one), the include candidates that were absent, and the strong key of its result.
///
/// Nothing machine-specific: paths are normalized (placeholders, checkout root), and there are no stats.
public struct RemoteManifest: Equatable, Sendable {
    public struct Entry: Equatable, Sendable {
        /// Normalized paths (or `\0NAME` for a variable) and digests of their keyed content.
        public var files: [(path: String, digest: StrongDigest)]
        public var absentPaths: [String]
        public var result: StrongDigest

        public init(files: [(path: String, digest: StrongDigest)], absentPaths: [String], result: StrongDigest) {
            self.files = files
            self.absentPaths = absentPaths
            self.result = result
        }

        public static func == (a: Entry, b: Entry) -> Bool {
            a.result == b.result && a.absentPaths == b.absentPaths && a.files.elementsEqual(b.files) {
                $0.path == $1.path && $0.digest == $1.digest
            }
        }
    }

    public var entries: [Entry] = []

    /// The newest entry's result, stored (encoded and bound to its key, as under its own key) inside the
    /// manifest when small: a shared hit then takes one round trip instead of two, the helper's and the
    /// server's (measured on Redis over loopback: two gets cost about 0.35 ms more wall than one between
    /// calls a tenth of a second apart). Still stored under its own key for the other entries' sake.
    public struct Inlined: Equatable, Sendable {
        public var key: StrongDigest
        public var blob: [UInt8]

        public init(key: StrongDigest, blob: [UInt8]) {
            self.key = key
            self.blob = blob
        }
    }

    public var inlined: Inlined?

    /// The largest result carried inside a manifest: a call whose manifest holds no entry for it fetches
    /// it whole, so it must stay small next to a compile (a small C object's entry is about 1.5 kB).
    public static let maximumInlined = 128 << 10

    static let formatVersion: UInt8 = 0x82
    /// Older entries beyond this are dropped; other machines' entries are merged in before an upload.
    public static let maximumEntries = 16

    public init(entries: [Entry] = [], inlined: Inlined? = nil) {
        self.entries = entries
        self.inlined = inlined
    }

    /// The blob of `key`'s result when this manifest carries it.
    public func inlinedBlob(for key: StrongDigest) -> [UInt8]? {
        inlined.flatMap { $0.key == key ? $0.blob : nil }
    }

    /// The strong key of the result `entry` leads to: bound to the manifest key and every file digest.
    public static func resultKey(manifestKey: StrongDigest, files: [(path: String, digest: StrongDigest)]) -> StrongDigest {
        var hasher = StrongHasher()
        hasher.update("incrcc shared result key 1")
        hasher.update(manifestKey)
        hasher.update(UInt64(files.count))
        for file in files {
            hasher.update(file.path)
            hasher.update(file.digest)
        }
        return hasher.finalize()
    }

    public mutating func add(_ entry: Entry) {
        entries.insertNewest(entry, limit: Self.maximumEntries) { $0.result == entry.result }
    }

    public func encode() -> [UInt8] {
        var writer = ByteWriter()
        writer.write(Self.formatVersion)
        writer.write(UInt64(entries.count))
        for entry in entries {
            writer.write(UInt64(entry.files.count))
            for file in entry.files {
                writer.write(file.path)
                writer.appendRaw(file.digest.bytes)
            }
            writer.write(UInt64(entry.absentPaths.count))
            for path in entry.absentPaths { writer.write(path) }
            writer.appendRaw(entry.result.bytes)
        }
        if let inlined, inlined.blob.count <= Self.maximumInlined {
            writer.write(UInt8(1))
            writer.appendRaw(inlined.key.bytes)
            writer.write(UInt64(inlined.blob.count))
            writer.appendRaw(inlined.blob)
        } else {
            writer.write(UInt8(0))
        }
        return writer.bytes
    }

    /// Every count is checked against the bytes left before anything is allocated for it.
    public static func decode(_ bytes: [UInt8]) throws(MalformedEntry) -> RemoteManifest {
        var reader = ByteReader(bytes)
        guard try reader.readUInt8() == formatVersion else { throw MalformedEntry("unknown shared manifest format") }
        var manifest = RemoteManifest()
        let entryCount = try reader.readCount(minimumItemSize: 8 + 8 + 32)
        guard entryCount <= maximumEntries else { throw MalformedEntry("too many entries") }
        for _ in 0..<entryCount {
            var files: [(path: String, digest: StrongDigest)] = []
            for _ in 0..<(try reader.readCount(minimumItemSize: 8 + 32)) {
                let path = try reader.readString()
                files.append((path, try readDigest(&reader)))
            }
            var absent: [String] = []
            for _ in 0..<(try reader.readCount(minimumItemSize: 8)) { absent.append(try reader.readString()) }
            manifest.entries.append(Entry(files: files, absentPaths: absent, result: try readDigest(&reader)))
        }
        switch try reader.readUInt8() {
        case 0: break
        case 1:
            let key = try readDigest(&reader)
            let count = try reader.readCount(minimumItemSize: 1)
            guard count <= maximumInlined else { throw MalformedEntry("inlined result too large") }
            manifest.inlined = Inlined(key: key, blob: try reader.readFixed(count))
        default: throw MalformedEntry("inlined result flag")
        }
        guard reader.isAtEnd else { throw MalformedEntry("trailing bytes") }
        return manifest
    }

    static func readDigest(_ reader: inout ByteReader) throws(MalformedEntry) -> StrongDigest {
        try StrongDigest.read(&reader)
    }
}

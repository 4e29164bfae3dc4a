import Glibc

/// Entries under the cache directory, content-addressed by key: `<dir>/<k0>/<k1>/<key>.M` for manifests
/// and `.R` for results, where k0 and k1 are the key's first hex digits. Writes go through a temporary
/// file and a rename, so concurrent writers and a kill at any instant leave either no entry or a whole one.
public struct CacheStore: Sendable {
    public let directory: String
    public let compressionLevel: Int32
    public let stats: StatsFiles

    public init(directory: String, compressionLevel: Int32) {
        self.directory = directory
        self.compressionLevel = compressionLevel
        self.stats = StatsFiles(cacheDirectory: directory)
    }

    public static func suffix(_ kind: EntryCodec.Kind) -> String {
        switch kind {
        case .manifest: return ".M"
        case .result: return ".R"
        case .scanIndex: return ".S"
        case .fileFacts: return ".F"
        }
    }

    public func path(for key: Digest, kind: EntryCodec.Kind) -> String {
        let hex = key.hex
        let chars = Array(hex.utf8)
        let first = String(decoding: chars[0..<1], as: UTF8.self)
        let second = String(decoding: chars[1..<2], as: UTF8.self)
        return directory + "/" + first + "/" + second + "/" + hex + Self.suffix(kind)
    }

    public static func shard(of key: Digest) -> Int { Int(key.high >> 60) }

    /// The payload of an entry, or nil when there is none. A damaged or foreign entry is removed and
    /// reported as absent.
    public func read(_ key: Digest, kind: EntryCodec.Kind) -> [UInt8]? {
        let file = path(for: key, kind: kind)
        guard let data = try? FileSystem.readFileIfExists(file) else { return nil }
        do {
            return try EntryCodec.decode(data, kind: kind)
        } catch {
            FileSystem.remove(file)
            try? stats.update(shard: Self.shard(of: key), [
                (.corruptEntryRemoved, 1), (.filesInCache, -1), (.cacheSizeBytes, -Int64(data.count)),
            ])
            return nil
        }
    }

    /// Writes an entry and adds its size and file count to its shard's counters.
    public func write(_ key: Digest, kind: EntryCodec.Kind, payload: [UInt8]) throws(SystemError) {
        let change = try place(key, kind: kind, payload: payload)
        try stats.update(shard: Self.shard(of: key), [(.filesInCache, change.files), (.cacheSizeBytes, change.bytes)])
    }

    /// Writes an entry and returns what it adds to its shard's counters, for a caller that counts many at once.
    public func place(_ key: Digest, kind: EntryCodec.Kind,
                      payload: [UInt8]) throws(SystemError) -> (files: Int64, bytes: Int64) {
        let file = path(for: key, kind: kind)
        let data = EntryCodec.encode(payload, kind: kind, level: compressionLevel)
        let previous = try? FileSystem.statusIfExists(file)
        do {
            try FileSystem.writeAtomically(file, data)
        } catch {
            guard error.isNotFound else { throw error }
            try FileSystem.makeDirectories(Path.directory(of: file))
            try FileSystem.writeAtomically(file, data)
        }
        return (previous == nil ? 1 : 0, Int64(data.count) - (previous?.size ?? 0))
    }

    /// Whether an entry exists, without reading it.
    public func holds(_ key: Digest, kind: EntryCodec.Kind) -> Bool {
        FileSystem.exists(path(for: key, kind: kind))
    }

    /// Marks an entry as recently used, for size-limit cleanup.
    public func markUsed(_ key: Digest, kind: EntryCodec.Kind) {
        FileSystem.touch(path(for: key, kind: kind))
    }
}

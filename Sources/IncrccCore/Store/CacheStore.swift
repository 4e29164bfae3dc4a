import Glibc

/// Entries under the cache directory, content-addressed by key: `<dir>/<k0>/<k1>/<key>.M` for manifests
/// and `.R` for results, where k0 and k1 are the key's first hex digits. Writes go through a temporary
/// file and a rename, so concurrent writers and a kill at any instant leave either no entry or a whole one.
public struct CacheStore: Sendable {
    public let directory: String
    public let compressionLevel: Int32
    /// Entries whose payload is at least this large are stored uncompressed: decompressing a 5 MB debug
    /// object was 72 % of its hit (38 M of 53 M instructions, callgrind), while reading it raw costs
    /// little more than the copy. The price is cache space (zstd level 1 shrinks objects about 3x).
    public let uncompressedAbove: Int
    public let stats: StatsFiles
    /// `read_only`: entries are read and never written, replaced or touched (the statistics still are).
    public var readOnly = false
    /// Where one call's temporary files go (`temporary_dir`; the cache's `tmp` by default). What processes
    /// coordinate through (writer markers, the store lock) stays in the cache's `tmp` whatever it is.
    public var temporaryDirectory: String

    /// Creates the temporary directory (inside the cache without following links; elsewhere as given).
    public func makeTemporaryDirectory() {
        if temporaryDirectory == directory + "/tmp" {
            // A read-only cache is not written, its `tmp` neither (what needs one then is not done).
            if !readOnly { files.makeDirectory(temporaryDirectory) }
        } else {
            try? FileSystem.makeDirectories(temporaryDirectory)
        }
    }

    public init(directory: String, compressionLevel: Int32, uncompressedAbove: Int = 1 << 20) {
        self.directory = directory
        self.compressionLevel = compressionLevel
        self.uncompressedAbove = uncompressedAbove
        self.stats = StatsFiles(cacheDirectory: directory)
        self.temporaryDirectory = directory + "/tmp"
    }

    public static func suffix(_ kind: EntryCodec.Kind) -> String {
        "." + String(decoding: [suffixLetter(kind)], as: UTF8.self)
    }

    static func suffixLetter(_ kind: EntryCodec.Kind) -> UInt8 {
        switch kind {
        case .manifest: return UInt8(ascii: "M")
        case .result: return UInt8(ascii: "R")
        case .scanIndex: return UInt8(ascii: "S")
        case .fileFacts: return UInt8(ascii: "F")
        case .looseManifest: return UInt8(ascii: "L")
        // Not "P": that is the marker of a writer still storing (`BackgroundStore.markerSuffix`).
        case .moduleProvenance: return UInt8(ascii: "O")
        case .moduleImports: return UInt8(ascii: "I")
        case .preprocessedText: return UInt8(ascii: "T")
        }
    }

    /// Written in one allocation: a miss names dozens of entries (one per header's facts), and joining the
    /// parts as strings cost 5 K instructions a path.
    public func path(for key: Digest, kind: EntryCodec.Kind) -> String {
        var directory = directory
        let suffix = Self.suffixLetter(kind)
        return directory.withUTF8 { prefix in
            String(unsafeUninitializedCapacity: prefix.count + 5 + 32 + 2) { out in
                var at = 0
                Path.copy(prefix, into: out, at: &at)
                key.writeHex(into: out, at: at + 5)
                out[at] = UInt8(ascii: "/")
                out[at + 1] = out[at + 5]
                out[at + 2] = UInt8(ascii: "/")
                out[at + 3] = out[at + 6]
                out[at + 4] = UInt8(ascii: "/")
                at += 5 + 32
                out[at] = UInt8(ascii: ".")
                out[at + 1] = suffix
                return at + 2
            }
        }
    }

    public static func shard(of key: Digest) -> Int { Int(key.high >> 60) }

    /// What a file of `bytes` takes on disk, which the size limit and `-s` count (as ccache counts its
    /// size, by blocks): whole 4 KiB blocks, the block size of ext4, xfs and tmpfs. Counting bytes instead
    /// let a cache of small entries take three times its limit (a 16-compile build: 718 kB counted, 2.3 MB
    /// by `du`).
    public static func diskUse(_ bytes: Int64) -> Int64 { bytes <= 0 ? 0 : (bytes + 4095) / 4096 * 4096 }

    /// The cache's files, reached without following links below the root.
    public var files: CacheFiles { CacheFiles(root: directory) }

    /// The payload of an entry, or nil when there is none. A damaged or foreign entry is removed and
    /// reported as absent.
    public func read(_ key: Digest, kind: EntryCodec.Kind) -> [UInt8]? {
        let file = path(for: key, kind: kind)
        guard let (header, body) = try? files.readSplit(file, headerSize: EntryCodec.headerSize) else { return nil }
        return decode(key, kind: kind, header: header, body: body)
    }

    /// The payload of an entry read already as its header and body; a damaged or foreign one is removed and
    /// reported as absent.
    func decode(_ key: Digest, kind: EntryCodec.Kind, header: [UInt8], body: [UInt8]) -> [UInt8]? {
        let file = path(for: key, kind: kind)
        do {
            return try EntryCodec.decode(header: header, body: body, kind: kind, key: key)
        } catch {
            files.remove(file)
            try? stats.update(shard: Self.shard(of: key), [
                (.corruptEntryRemoved, 1), (.filesInCache, kind.countsAsFile ? -1 : 0),
                (.cacheSizeBytes, -Self.diskUse(Int64(header.count + body.count))),
            ])
            return nil
        }
    }

    /// Writes an entry and adds its size and file count to its shard's counters.
    public func write(_ key: Digest, kind: EntryCodec.Kind, payload: [UInt8], frame: [UInt8]? = nil) throws(SystemError) {
        let change = try place(key, kind: kind, payload: payload, frame: frame)
        try stats.update(shard: Self.shard(of: key), [(.filesInCache, change.files), (.cacheSizeBytes, change.bytes)])
    }

    /// Writes an entry and returns what it adds to its shard's counters, for a caller that counts many at once.
    ///
    /// `frame`: the payload as another store framed it (a shared hit), whose compressed body is kept when
    /// this store would compress the payload too.
    public func place(_ key: Digest, kind: EntryCodec.Kind, payload: [UInt8],
                      frame: [UInt8]? = nil) throws(SystemError) -> (files: Int64, bytes: Int64) {
        if readOnly { return (0, 0) }
        let file = path(for: key, kind: kind)
        let data = EntryCodec.encode(payload, kind: kind, key: key, level: compressionLevel,
                                     uncompressedAbove: uncompressedAbove, reusing: frame)
        let previous = files.status(file)
        try files.writeAtomically(file, data)
        return (previous == nil && kind.countsAsFile ? 1 : 0, Self.diskUse(Int64(data.count)) - Self.diskUse(previous?.size ?? 0))
    }

    /// Whether an entry exists, without reading it.
    public func holds(_ key: Digest, kind: EntryCodec.Kind) -> Bool {
        files.status(path(for: key, kind: kind)) != nil
    }

    /// Marks an entry as recently used, for size-limit cleanup.
    public func markUsed(_ key: Digest, kind: EntryCodec.Kind) {
        if readOnly { return }
        files.touch(path(for: key, kind: kind))
    }
}

/// `-x/--show-compression` and `-X/--recompress LEVEL`, as ccache has them: what compression saves across
/// the cache's entries, and every entry framed again at another zstd level (or stored raw).
struct CompressionCommands {
    var store: CacheStore
    var now: Int64

    /// Every entry of the cache with its key and kind, taken from its name (the checksum binds it to them).
    func entries() -> [(path: String, key: Digest, kind: EntryCodec.Kind)] {
        let cleanup = Cleanup(store: store, maxSize: 0)
        var found: [(path: String, key: Digest, kind: EntryCodec.Kind)] = []
        for shard in 0..<StatsFiles.shardCount {
            for entry in cleanup.entries(of: shard, now: now) {
                guard let (key, kind) = EntryInspection.entry(named: Path.baseName(entry.path)) else { continue }
                found.append((entry.path, key, kind))
            }
        }
        return found
    }

    func show() -> [String] {
        var stored: Int64 = 0, disk: Int64 = 0
        var compressedStored: Int64 = 0, compressedOriginal: Int64 = 0, raw: Int64 = 0
        for entry in entries() {
            guard let (header, body) = (try? store.files.readSplit(entry.path, headerSize: EntryCodec.headerSize)) ?? nil,
                  header.count == EntryCodec.headerSize else { continue }
            let size = Int64(header.count + body.count)
            stored += size
            disk += CacheStore.diskUse(size)
            var reader = ByteReader(header, offset: 10)
            let original = Int64(clamping: (try? reader.readUInt64()) ?? 0)
            if header[9] == 1 {
                compressedStored += size
                compressedOriginal += original + Int64(EntryCodec.headerSize)
            } else {
                raw += size
            }
        }
        func text(_ bytes: Int64) -> String { SizeText.format(UInt64(max(bytes, 0))) }
        let ratio = compressedStored == 0 ? 0 : Double(compressedOriginal) / Double(compressedStored)
        let savings = compressedOriginal == 0 ? 0 : 100 * (1 - Double(compressedStored) / Double(compressedOriginal))
        return [
            "Total data:            \(text(stored)) (\(text(disk)) disk blocks)",
            "Compressed data:       \(text(compressedStored))",
            "  Original size:       \(text(compressedOriginal))",
            "  Compression ratio:   \(Self.threeDecimals(ratio)) x  (\(Self.oneDecimal(savings))% space savings)",
            "Incompressible data:   \(text(raw)) (stored raw: large entries, file facts)",
        ]
    }

    /// Frames every entry again: at zstd `level`, or raw with `level` nil. Entries too large for
    /// compression under `uncompressedAbove` stay raw. Returns the entries rewritten; the shards' sizes are
    /// updated to what they take now.
    func recompress(level: Int32?, uncompressedAbove: Int) -> Int {
        var target = CacheStore(directory: store.directory, compressionLevel: level ?? 1,
                                uncompressedAbove: level == nil ? 0 : uncompressedAbove)
        target.readOnly = false
        var changes: [Int: Int64] = [:]
        var rewritten = 0
        for entry in entries() {
            // Read through the store, so a damaged entry is removed rather than rewritten.
            guard let payload = store.read(entry.key, kind: entry.kind),
                  let change = try? target.place(entry.key, kind: entry.kind, payload: payload) else { continue }
            changes[CacheStore.shard(of: entry.key), default: 0] += change.bytes
            rewritten += 1
        }
        for (shard, bytes) in changes where bytes != 0 {
            try? store.stats.update(shard: shard, [(.cacheSizeBytes, bytes)])
        }
        return rewritten
    }

    static func threeDecimals(_ value: Double) -> String {
        let scaled = Int((value * 1000).rounded())
        let fraction = String(scaled % 1000)
        return String(scaled / 1000) + "." + String(repeating: "0", count: 3 - fraction.count) + fraction
    }

    static func oneDecimal(_ value: Double) -> String {
        let scaled = Int((value * 10).rounded())
        return String(scaled / 10) + "." + String(scaled % 10)
    }
}

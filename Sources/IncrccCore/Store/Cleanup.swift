import Glibc

/// Keeps the cache under its size limit. Each of the 16 top-level shards gets a sixteenth of the limit and
/// is cleaned on its own, oldest-used files first (a hit refreshes a result's mtime), down to 90% of its
/// share, so cleanups are rare and never lock the whole cache.
public struct Cleanup {
    public let store: CacheStore
    public let maxSize: UInt64

    public init(store: CacheStore, maxSize: UInt64) {
        self.store = store
        self.maxSize = maxSize
    }

    static let entrySuffixes = EntryCodec.Kind.allCases.map(CacheStore.suffix)
    /// The suffixes of the entries `files_in_cache` counts (`EntryCodec.Kind.countsAsFile`).
    static let countedSuffixes = EntryCodec.Kind.allCases.filter(\.countsAsFile).map(CacheStore.suffix)

    /// Temporary files older than this were left by a killed process.
    static let staleTemporaryNanoseconds: Int64 = 3600 * 1_000_000_000

    /// Cleans `shard` if its counted size is over its share.
    public func cleanIfNeeded(shard: Int, now: Int64) {
        guard maxSize > 0 else { return }
        let share = maxSize / UInt64(StatsFiles.shardCount)
        guard store.stats.read(shard: shard)[.cacheSizeBytes] > share else { return }
        clean(shard: shard, target: share / 10 * 9, now: now)
    }

    /// Cleans every shard to `limit` (0 removes every entry); used by `-c`, `-C` and `-M`.
    public func cleanAll(limit: UInt64, now: Int64) {
        let share = limit / UInt64(StatsFiles.shardCount)
        for shard in 0..<StatsFiles.shardCount { clean(shard: shard, target: share, now: now) }
    }

    func clean(shard: Int, target: UInt64, now: Int64) {
        let files = store.files
        if shard == 0 { removeStaleTemporaries(now: now) }
        let shardDirectory = store.directory + "/" + NumberText.hex(UInt64(shard))
        var entries: [(path: String, size: Int64, used: Int64)] = []
        // Listed and removed by name from directories opened without following links: a link planted in
        // the cache is never entered, and a file that is not a regular one is never counted or removed.
        for (sub, subStatus) in files.list(shardDirectory) where sub.utf8.count == 1 && subStatus.isDirectory {
            let subDirectory = shardDirectory + "/" + sub
            for (name, status) in files.list(subDirectory) where status.isRegularFile {
                let file = subDirectory + "/" + name
                // Temporary files, and markers of stores after returning, left by killed processes.
                if name.holds(FileSystem.temporaryMarker) || name.hasSuffix(BackgroundStore.markerSuffix) {
                    if status.modifiedNanoseconds < now - Self.staleTemporaryNanoseconds { files.remove(file) }
                    continue
                }
                guard Self.entrySuffixes.contains(where: name.hasSuffix) else { continue }
                entries.append((file, status.size, status.modifiedNanoseconds))
            }
        }
        entries.sort { $0.used < $1.used }
        var total = entries.reduce(Int64(0)) { $0 + $1.size }
        var count = entries.filter { entry in Self.countedSuffixes.contains(where: entry.path.hasSuffix) }.count
        var removed = false
        for entry in entries where total > Int64(target) {
            files.remove(entry.path)
            total -= entry.size
            if Self.countedSuffixes.contains(where: entry.path.hasSuffix) { count -= 1 }
            removed = true
        }
        try? store.stats.overwrite(shard: shard) { values in
            values[.filesInCache] = UInt64(count)
            values[.cacheSizeBytes] = UInt64(max(total, 0))
            if removed { values[.cleanupsPerformed] += 1 }
        }
    }

    /// What killed processes left in `tmp` (captured output, dependency files), once it is older than any
    /// compile could take. Newer files belong to calls still running and stay, even for `-C`.
    func removeStaleTemporaries(now: Int64) {
        store.files.removeContents(of: store.directory + "/tmp") { name, status in
            name == "stores.lock" || status.modifiedNanoseconds >= now - Self.staleTemporaryNanoseconds
        }
    }
}

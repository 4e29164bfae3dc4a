import Glibc

/// Keeps the cache under its size limit. Each of the 16 top-level shards gets a sixteenth of the limit and
/// is cleaned on its own, oldest-used files first (a hit refreshes a result's mtime), down to 90% of its
/// share, so cleanups are rare and never lock the whole cache.
public struct Cleanup {
    public let store: CacheStore
    public let maxSize: UInt64
    /// `max_files`: results and manifests kept at most (0: no limit), a sixteenth per shard as the size.
    public var maxFiles: UInt64 = 0

    public init(store: CacheStore, maxSize: UInt64, maxFiles: UInt64 = 0) {
        self.store = store
        self.maxSize = maxSize
        self.maxFiles = maxFiles
    }

    static let entrySuffixes = EntryCodec.Kind.allCases.map(CacheStore.suffix)
    /// The suffixes of the entries `files_in_cache` counts (`EntryCodec.Kind.countsAsFile`).
    static let countedSuffixes = EntryCodec.Kind.allCases.filter(\.countsAsFile).map(CacheStore.suffix)

    /// Temporary files older than this were left by a killed process.
    static let staleTemporaryNanoseconds: Int64 = 3600 * 1_000_000_000

    /// Cleans `shard` if its counted size is over its share.
    public func cleanIfNeeded(shard: Int, now: Int64) {
        guard maxSize > 0 || maxFiles > 0 else { return }
        let counted = store.stats.read(shard: shard)
        let share = maxSize == 0 ? UInt64.max : maxSize / UInt64(StatsFiles.shardCount)
        let fileShare = maxFiles == 0 ? UInt64.max : max(maxFiles / UInt64(StatsFiles.shardCount), 1)
        guard counted[.cacheSizeBytes] > share || counted[.filesInCache] > fileShare else { return }
        clean(shard: shard, target: share == .max ? .max : share / 10 * 9,
              files: fileShare == .max ? .max : fileShare / 10 * 9, now: now)
    }

    /// Cleans every shard to `limit` (0 removes every entry); used by `-c`, `-C` and `-M`.
    public func cleanAll(limit: UInt64, files: UInt64 = .max, now: Int64) {
        let share = limit == .max ? limit : limit / UInt64(StatsFiles.shardCount)
        let fileShare = files == .max ? files : files / UInt64(StatsFiles.shardCount)
        for shard in 0..<StatsFiles.shardCount { clean(shard: shard, target: share, files: fileShare, now: now) }
    }

    /// Removes every entry last used before `cutoff` (nanoseconds); with `dryRun`, only counts them.
    /// Returns how many entries and bytes of disk that is.
    public func evict(usedBefore cutoff: Int64, dryRun: Bool, now: Int64) -> (entries: Int, bytes: Int64) {
        var removed = (entries: 0, bytes: Int64(0))
        for shard in 0..<StatsFiles.shardCount {
            let old = entries(of: shard, now: now).filter { $0.used < cutoff }
            removed.entries += old.count
            removed.bytes += old.reduce(0) { $0 + $1.size }
            if !dryRun { clean(shard: shard, target: .max, files: .max, now: now, alsoRemoving: Set(old.map(\.path))) }
        }
        return removed
    }

    /// The entries of a shard, least recently used first; temporary files and markers left by killed
    /// processes are removed on the way.
    func entries(of shard: Int, now: Int64) -> [(path: String, size: Int64, used: Int64)] {
        let files = store.files
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
                entries.append((file, CacheStore.diskUse(status.size), status.modifiedNanoseconds))
            }
        }
        entries.sort { $0.used < $1.used }
        return entries
    }

    /// Removes the least recently used entries of `shard` until its size is at most `target` and its
    /// results and manifests at most `fileTarget`, and every entry in `alsoRemoving`; then the shard's
    /// counters are set to what is left.
    func clean(shard: Int, target: UInt64, files fileTarget: UInt64 = .max, now: Int64, alsoRemoving: Set<String> = []) {
        if shard == 0 { removeStaleTemporaries(now: now) }
        let entries = entries(of: shard, now: now)
        func counted(_ path: String) -> Bool { Self.countedSuffixes.contains(where: path.hasSuffix) }
        var total = entries.reduce(Int64(0)) { $0 + $1.size }
        var count = UInt64(entries.filter { counted($0.path) }.count)
        var removed = false
        for entry in entries where total > Int64(clamping: target) || count > fileTarget || alsoRemoving.contains(entry.path) {
            store.files.remove(entry.path)
            total -= entry.size
            if counted(entry.path) { count -= 1 }
            removed = true
        }
        try? store.stats.overwrite(shard: shard) { values in
            values[.filesInCache] = count
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

/// Remembers each file's facts (digest, references, time macros) under its path and stat, so a miss does not
/// read, hash and take apart again what an earlier miss did: in a cold build every compile reads mostly
/// the same headers. Measured on a small C miss (stdio, stdlib, string): 11.4 M instructions before.
///
/// The trust rule is the manifest's: a stat taken while it was settled (`StatTrust`) stands for the content
/// for as long as device, inode, size, mtime and ctime are all the same. Files changed too recently are
/// read every time and never remembered.
///
/// A class because it gathers the counts of the entries it writes during one call, for a single update of
/// the stats at the end instead of a locked update per header.
public final class FileFactsStore {
    let store: CacheStore
    let now: Int64
    private var written: [Int: (files: Int64, bytes: Int64)] = [:]

    public init(store: CacheStore, now: Int64) {
        self.store = store
        self.now = now
    }

    static func key(of path: String) -> Digest {
        var hasher = StreamingHasher()
        hasher.update("file facts\u{0}")
        // Facts remembered by another reader would be another reader's answer.
        hasher.update(UInt64(FileReferences.readerVersion))
        hasher.update(path)
        return hasher.finalize()
    }

    func isSettled(_ status: FileStatus) -> Bool {
        StatTrust.isSettled(status, now: now)
    }

    /// The facts of `path` and the stat they belong to; nil when it cannot be read.
    public func facts(of path: String) -> (facts: FileFacts, status: FileStatus)? {
        guard let before = try? FileSystem.status(path) else { return nil }
        let key = Self.key(of: path)
        if isSettled(before), let payload = store.read(key, kind: .fileFacts),
           let record = try? FileFactsRecord.decode(payload), record.path == path, record.status.sameContentAs(before) {
            return (record.facts, before)
        }
        // Read first, stat again after: the stat recorded is never older than the bytes.
        guard let bytes = try? FileSystem.readFile(path), let after = try? FileSystem.status(path) else { return nil }
        let facts = FileFacts(reading: bytes)
        if isSettled(after), after.sameContentAs(before) {
            let record = FileFactsRecord(path: path, status: after, facts: facts)
            if let change = try? store.place(key, kind: .fileFacts, payload: record.encode()) {
                let shard = CacheStore.shard(of: key)
                let sum = written[shard] ?? (0, 0)
                written[shard] = (sum.files + change.files, sum.bytes + change.bytes)
            }
        }
        return (facts, after)
    }

    /// The SHA-256 and XXH3 of `path`'s bytes and the stat they belong to, remembered like the facts: the
    /// shared tier compares every header by SHA-256, and a build's units share most of their headers.
    /// `remember: false` only reads what is remembered: a call that waits for the answer does not create a
    /// file per header (a googletest unit reads hundreds).
    public func strongDigest(of path: String, remember: Bool = true) -> (strong: StrongDigest, digest: Digest, status: FileStatus)? {
        guard let before = try? FileSystem.status(path), before.isRegularFile else { return nil }
        var hasher = StreamingHasher()
        hasher.update("strong digest\u{0}")
        hasher.update(path)
        let key = hasher.finalize()
        if isSettled(before), let payload = store.read(key, kind: .fileFacts) {
            var reader = ByteReader(payload)
            if let recorded = try? reader.readString(), recorded == path, let status = try? reader.readFileStatus(),
               status.sameContentAs(before), let digest = try? reader.readDigest(), let strong = try? reader.readFixed(32),
               let value = StrongDigest(bytes: strong), reader.isAtEnd {
                return (value, digest, before)
            }
        }
        guard let bytes = try? FileSystem.readFile(path), let after = try? FileSystem.status(path),
              after.sameContentAs(before) else { return nil }
        let strong = StrongDigest.of(bytes)
        let digest = Digest.of(bytes)
        if remember, isSettled(after) {
            var writer = ByteWriter()
            writer.write(path)
            writer.write(after)
            writer.write(digest)
            writer.appendRaw(strong.bytes)
            if let change = try? store.place(key, kind: .fileFacts, payload: writer.bytes) {
                let shard = CacheStore.shard(of: key)
                let sum = written[shard] ?? (0, 0)
                written[shard] = (sum.files + change.files, sum.bytes + change.bytes)
            }
        }
        return (strong, digest, after)
    }

    /// Adds the entries written so far to the stats.
    public func flush() {
        for (shard, change) in written {
            try? store.stats.update(shard: shard, [(.filesInCache, change.files), (.cacheSizeBytes, change.bytes)])
        }
        written = [:]
    }
}

/// Remembers each file's facts (digest, references, time macros) under its path and stat, so a miss does not
/// read, hash and take apart again what an earlier miss did: in a cold build every compile reads mostly
/// the same headers (the miss costs are in bench/RESULTS.md).
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
    /// `AbsenceRecord`'s state for this call.
    var absence: AbsenceRecord?
    var absenceChanged = false
    var directoryStatuses: [String: FileStatus?] = [:]
    /// The same by the directory's place in the record, which a lookup finds without hashing its name.
    var absentDirectoryStatuses: [Int: FileStatus?] = [:]

    public init(store: CacheStore, now: Int64) {
        self.store = store
        self.now = now
    }

    /// The key of a directory's facts record.
    static func key(ofDirectory directory: String) -> Digest {
        var hasher = StreamingHasher()
        hasher.update("file facts of a directory\u{0}")
        // Facts remembered by another reader would be another reader's answer.
        hasher.update(UInt64(FileReferences.readerVersion))
        hasher.update(directory)
        return hasher.finalize()
    }

    /// Facts learned this call, by directory; written by `flush`.
    private var learnedFacts: [String: FileFactsDirectoryRecord] = [:]
    /// Each directory's stored record, read once per process (nil: none, or damaged).
    private var storedFacts: [String: FileFactsDirectoryRecord?] = [:]

    /// What this call learned of `name` in `directory`, else what the stored record says.
    private func knownFacts(_ directory: String, _ name: String) -> FileFactsRecord? {
        if let learned = learnedFacts[directory]?.records[name] { return learned }
        if let stored = storedFacts[directory] { return stored?.records[name] }
        let stored = store.read(Self.key(ofDirectory: directory), kind: .fileFacts)
            .flatMap { try? FileFactsDirectoryRecord.decode($0, directory: directory) }
        storedFacts[directory] = .some(stored)
        return stored?.records[name]
    }

    private func flushFacts() {
        for (directory, learned) in learnedFacts {
            writeMerged(learned, key: Self.key(ofDirectory: directory), directory: directory)
        }
        learnedFacts = [:]
    }

    /// Writes what this call learned of a directory over what is stored for it (written meanwhile by
    /// others), this call's entries winning, trimmed to the record's limit.
    private func writeMerged<Record: DirectoryRecord>(_ learned: Record, key: Digest, directory: String) {
        var record = learned
        if let payload = store.read(key, kind: .fileFacts), let stored = try? Record.decode(payload, directory: directory) {
            record.keepOthers(of: stored)
        }
        record.trim()
        if let change = try? store.place(key, kind: .fileFacts, payload: record.encode()) {
            count(change, shard: CacheStore.shard(of: key))
        }
    }

    /// Adds an entry written (or replaced) to the counts the stats get at the end.
    func count(_ change: (files: Int64, bytes: Int64), shard: Int) {
        let sum = written[shard] ?? (0, 0)
        written[shard] = (sum.files + change.files, sum.bytes + change.bytes)
    }

    func isSettled(_ status: FileStatus) -> Bool {
        StatTrust.isSettled(status, now: now)
    }

    /// The facts of `path` and the stat they belong to; nil when it cannot be read.
    public func facts(of path: String) -> (facts: FileFacts, status: FileStatus)? {
        guard let before = try? FileSystem.status(path) else { return nil }
        let directory = Path.directory(of: path)
        let name = Path.baseName(path)
        if isSettled(before), let record = knownFacts(directory, name), record.path == path,
           record.status.sameContentAs(before) {
            return (record.facts, before)
        }
        // Read first, stat again after: the stat recorded is never older than the bytes.
        guard let bytes = try? FileSystem.readFile(path), let after = try? FileSystem.status(path) else { return nil }
        let facts = FileFacts(reading: bytes)
        if isSettled(after), after.sameContentAs(before) {
            learnedFacts[directory, default: FileFactsDirectoryRecord(directory: directory)].records[name] =
                FileFactsRecord(path: path, status: after, facts: facts)
        }
        return (facts, after)
    }

    /// The SHA-256 and XXH3 of `path`'s bytes and the stat they belong to, remembered like the facts: the
    /// shared tier compares every header by SHA-256, and a build's units share most of their headers.
    /// What a call learns is written by `flush`, after returning where a detached child can do it.
    ///
    /// Remembered per directory, one record holding every file of it (`StrongDigestRecord`): a small C
    /// shared hit reads 59 headers from 8 directories, and one record per header cost it 59 reads.
    public func strongDigest(of path: String) -> (strong: StrongDigest, digest: Digest, status: FileStatus)? {
        guard let before = try? FileSystem.status(path), before.isRegularFile else { return nil }
        let directory = Path.directory(of: path)
        let name = Path.baseName(path)
        if isSettled(before), let known = knownStrongDigest(directory, name), known.status.sameContentAs(before) {
            return (known.strong, known.digest, before)
        }
        guard let bytes = try? FileSystem.readFile(path), let after = try? FileSystem.status(path),
              after.sameContentAs(before) else { return nil }
        let strong = StrongDigest.of(bytes)
        let digest = Digest.of(bytes)
        if isSettled(after) {
            strongRecords[directory, default: StrongDigestRecord(directory: directory)].entries[name] =
                StrongDigestRecord.Entry(status: after, digest: digest, strong: strong)
            changedDirectories.insert(directory)
        }
        return (strong, digest, after)
    }

    /// What this call learned, by directory; written by `flush`.
    private var strongRecords: [String: StrongDigestRecord] = [:]
    private var changedDirectories: Set<String> = []
    /// Each directory's stored record, read once per process (nil: none, or damaged).
    private var storedStrongDigests: [String: StoredStrongDigests?] = [:]

    /// After a fork whose child writes the pending SHA-256 records: this process no longer does.
    func handStrongDigestsToChild() {
        changedDirectories = []
    }

    static func strongKey(of directory: String) -> Digest {
        var hasher = StreamingHasher()
        hasher.update("strong digests of a directory\u{0}")
        hasher.update(directory)
        return hasher.finalize()
    }

    /// What this call learned of `name` in `directory`, else what the stored record says.
    private func knownStrongDigest(_ directory: String, _ name: String) -> StrongDigestRecord.Entry? {
        if let learned = strongRecords[directory]?.entries[name] { return learned }
        if let stored = storedStrongDigests[directory] { return stored?.entry(named: name) }
        let stored = store.read(Self.strongKey(of: directory), kind: .fileFacts)
            .flatMap { try? StoredStrongDigests($0, directory: directory) }
        storedStrongDigests[directory] = .some(stored)
        return stored?.entry(named: name)
    }

    private func flushStrongRecords() {
        for directory in changedDirectories {
            guard let record = strongRecords[directory] else { continue }
            writeMerged(record, key: Self.strongKey(of: directory), directory: directory)
        }
        changedDirectories = []
    }

    /// Writes what is still pending and adds the entries written so far to the stats. Before a fork that
    /// leaves work to a detached child, `strongDigests: false` keeps the remembered SHA-256 records for the
    /// child to write (`handStrongDigestsToChild`): a googletest unit's shared hit hashes hundreds of
    /// headers, and writing their records cost the waiting call more than it saved.
    public func flush(strongDigests: Bool = true) {
        if strongDigests { flushStrongRecords() }
        flushFacts()
        flushAbsence()
        for (shard, change) in written {
            try? store.stats.update(shard: shard, [(.cacheSizeBytes, change.bytes)])
        }
        written = [:]
    }
}

/// A record of what is remembered of one directory's files, written over the stored one by merging.
protocol DirectoryRecord {
    static func decode(_ bytes: [UInt8], directory: String) throws(MalformedEntry) -> Self
    /// Takes the stored entries this record has none of.
    mutating func keepOthers(of stored: Self)
    mutating func trim()
    func encode() -> [UInt8]
}

extension FileFactsDirectoryRecord: DirectoryRecord {
    mutating func keepOthers(of stored: FileFactsDirectoryRecord) { records.merge(stored.records) { mine, _ in mine } }
}

extension StrongDigestRecord: DirectoryRecord {
    mutating func keepOthers(of stored: StrongDigestRecord) { entries.merge(stored.entries) { mine, _ in mine } }
}

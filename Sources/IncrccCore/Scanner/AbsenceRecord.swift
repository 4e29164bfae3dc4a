import CXXHash
import Glibc

/// Names known to be missing from settled directories, remembered across calls: a shared hit must prove
/// every absent include candidate of the entry it found (a small C unit has about 180), and a stat each
/// was a fifth of its cost. With the names remembered it stats each directory once.
///
/// The proof is `AbsentDirectories`' rule: a name missing from a directory stays missing while the
/// directory keeps its device, inode, size, mtime and ctime, since creating or renaming an entry moves
/// them. Only names with no entry at all (`lstat` fails) are remembered, so a dangling link whose target
/// appears later is never taken for absent, and only under directories whose stat was settled before the
/// name was looked up.
struct AbsenceRecord: Equatable {
    struct Directory: Equatable {
        var status: FileStatus
        /// The XXH3-128 of each name's bytes, the digest the local store trusts for contents: a lookup hashes
        /// the name's bytes in the path and never makes a string of it.
        var names: Set<Digest>
    }

    static func nameDigest<Bytes: Collection<UInt8>>(_ name: Bytes) -> Digest {
        name.withContiguousStorageIfAvailable { Digest.of($0) } ?? Digest.of(Array(name))
    }

    var directories: [String: Directory] = [:] {
        didSet { (byHash, indexed) = Self.index(directories) }
    }
    /// The directories by the XXH3 of their bytes, so a lookup hashes a prefix of the path's bytes instead of
    /// making a string of each (a shared hit walks about two hundred); a found one is compared in full.
    private(set) var byHash: [UInt64: Int] = [:]
    private(set) var indexed: [(path: String, directory: Directory)] = []

    init(directories: [String: Directory] = [:]) {
        self.directories = directories
        (byHash, indexed) = Self.index(directories)
    }

    static func == (a: AbsenceRecord, b: AbsenceRecord) -> Bool { a.directories == b.directories }

    static func index(_ directories: [String: Directory]) -> ([UInt64: Int], [(path: String, directory: Directory)]) {
        var byHash: [UInt64: Int] = [:]
        var indexed: [(path: String, directory: Directory)] = []
        for (path, directory) in directories {
            var path = path
            let hash = path.withUTF8 { XXH3_64bits($0.baseAddress, $0.count) }
            // Two directories with one hash: the second is not found by hash and proves nothing.
            guard byHash[hash] == nil else { continue }
            byHash[hash] = indexed.count
            indexed.append((path, directory))
        }
        return (byHash, indexed)
    }

    /// One record serves the whole cache; these bound what a call reads.
    static let maximumDirectories = 256
    static let maximumNames = 4096

    static let key: Digest = {
        var hasher = StreamingHasher()
        hasher.update("absent names of settled directories 1")
        return hasher.finalize()
    }()

    /// Whether `path` (absolute) is proven absent by a remembered name; `status` stats a directory now
    /// (given its place in `indexed`, for the caller to remember). False when nothing remembered decides
    /// it: the caller then stats the path itself.
    func provesAbsent(_ path: String, status: (Int, String) -> FileStatus?) -> Bool {
        guard !indexed.isEmpty else { return false }
        var path = path
        return path.withUTF8 { bytes -> Bool in
            guard let base = bytes.baseAddress, bytes.first == UInt8(ascii: "/") else { return false }
            var end = bytes.count
            while end > 0 {
                var slash = end - 1
                while slash > 0 && base[slash] != UInt8(ascii: "/") { slash -= 1 }
                let length = max(slash, 1)
                if let index = byHash[XXH3_64bits(base, length)] {
                    var directory = indexed[index].path
                    guard directory.withUTF8({ $0.count == length && $0.baseAddress.map { memcmp($0, base, length) == 0 } == true })
                    else { return false }
                    let known = indexed[index].directory
                    let name = Digest.of(UnsafeBufferPointer(start: base + slash + 1, count: end - slash - 1))
                    guard known.names.contains(name), let now = status(index, directory) else { return false }
                    return now.sameContentAs(known.status)
                }
                end = slash
            }
            return false
        }
    }

    /// Calls `body` with each directory of an absolute path and the name below it, deepest first, until it
    /// answers.
    static func walkUp<Answer>(_ path: String, _ body: (String, Substring) -> Answer?) -> Answer? {
        let bytes = path.utf8
        guard bytes.first == UInt8(ascii: "/") else { return nil }
        var end = bytes.endIndex
        while let slash = bytes[..<end].lastIndex(of: UInt8(ascii: "/")) {
            let directory = slash == bytes.startIndex ? "/" : String(path[..<slash])
            if let answer = body(directory, path[bytes.index(after: slash)..<end]) { return answer }
            if slash == bytes.startIndex { return nil }
            end = slash
        }
        return nil
    }

    /// Records what makes each of `paths` absent now: the name missing from its deepest existing directory,
    /// when that directory is settled. Returns whether anything was added.
    ///
    /// One pass over a copy, assigned back once: assigning `directories` indexes it again, and a googletest
    /// unit's shared hit remembers 2,775 names (perf: re-indexing and copying name sets per name was a third
    /// of the detached child's time).
    mutating func remember(_ paths: [String], status: (String) -> FileStatus?, isSettled: (FileStatus) -> Bool) -> Bool {
        var updated = directories
        var added = false
        // What a walk found, by the candidate's directory, where that directory was not the answer: the walk
        // then never looked at the candidate's own name, and every candidate there gets the same answer.
        var byDirectory: [String: (directory: String, status: FileStatus, name: Digest?)?] = [:]
        for path in paths {
            let start = Path.directory(of: path)
            if let known = byDirectory[start] {
                if let known, let name = known.name { added = Self.insert(name, known, into: &updated) || added }
                continue
            }
            let found: (directory: String, status: FileStatus, name: Digest?)? = Self.walkUp(path) { directory, name in
                guard let found = status(directory) else { return nil }
                // A file where a directory was expected, or a directory too young to stand for its names.
                guard found.isDirectory, isSettled(found) else { return (directory, found, nil) }
                var entry = stat()
                let child = directory == "/" ? "/" + name : directory + "/" + name
                guard lstat(child, &entry) != 0, errno == ENOENT else { return (directory, found, nil) }
                return (directory, found, Self.nameDigest(name.utf8))
            }
            if found?.directory != start { byDirectory[start] = .some(found) }
            guard let found, let name = found.name else { continue }
            added = Self.insert(name, found, into: &updated) || added
        }
        if added { directories = updated }
        return added
    }

    /// Adds `name` as missing from `found.directory` (whose record goes when its stat moved); whether it
    /// was new.
    private static func insert(_ name: Digest, _ found: (directory: String, status: FileStatus, name: Digest?),
                               into updated: inout [String: Directory]) -> Bool {
        if let known = updated[found.directory], !known.status.sameContentAs(found.status) {
            updated[found.directory] = nil
        }
        // Modified in place: no copy of the name set per name.
        return { (known: inout Directory) -> Bool in
            guard known.names.count < maximumNames else { return false }
            return known.names.insert(name).inserted
        }(&updated[found.directory, default: Directory(status: found.status, names: [])])
    }

    /// Another call's record folded in: a directory both know under the same stat keeps both name sets;
    /// under different stats, this call's (the newer) stands.
    mutating func merge(_ stored: AbsenceRecord) {
        for (path, other) in stored.directories {
            guard var mine = directories[path] else {
                directories[path] = other
                continue
            }
            if mine.status.sameContentAs(other.status) {
                mine.names.formUnion(other.names.prefix(max(0, Self.maximumNames - mine.names.count)))
                directories[path] = mine
            }
        }
        if directories.count > Self.maximumDirectories {
            for path in directories.keys.sorted().dropFirst(Self.maximumDirectories) { directories[path] = nil }
        }
    }

    func encode() -> [UInt8] {
        var writer = ByteWriter()
        writer.write(UInt64(directories.count))
        for (path, directory) in directories.sorted(by: { $0.key < $1.key }) {
            writer.write(path)
            writer.write(directory.status)
            writer.write(UInt64(directory.names.count))
            for name in directory.names.sorted() { writer.write(name) }
        }
        return writer.bytes
    }

    static func decode(_ bytes: [UInt8]) throws(MalformedEntry) -> AbsenceRecord {
        var reader = ByteReader(bytes)
        var directories: [String: Directory] = [:]
        let count = try reader.readCount(minimumItemSize: 8 + 40 + 8)
        guard count <= maximumDirectories else { throw MalformedEntry("too many directories") }
        for _ in 0..<count {
            let path = try reader.readString()
            let status = try reader.readFileStatus()
            let names = try reader.readCount(minimumItemSize: 16)
            guard path.utf8.first == UInt8(ascii: "/"), names <= maximumNames else {
                throw MalformedEntry("absent names")
            }
            var directory = Directory(status: status, names: [])
            directory.names.reserveCapacity(names)
            for _ in 0..<names { directory.names.insert(try reader.readDigest()) }
            directories[path] = directory
        }
        guard reader.isAtEnd else { throw MalformedEntry("trailing bytes") }
        return AbsenceRecord(directories: directories)
    }
}

extension FileFactsStore {
    /// Whether `path` is proven absent by what earlier calls remembered (one stat per directory); false
    /// when that does not decide it.
    public func remembersAbsent(_ path: String) -> Bool {
        absenceRecord().provesAbsent(path) { index, directory in
            if let known = absentDirectoryStatuses[index] { return known }
            let found = directoryStatus(directory)
            absentDirectoryStatuses[index] = found
            return found
        }
    }

    /// Remembers, for the next calls, why each of `paths` (absolute, absent when checked) is absent.
    public func rememberAbsent(_ paths: [String]) {
        var record = absenceRecord()
        // Names the record proves already cost no lookup: a miss's candidates are mostly those of the misses
        // before it.
        let new = paths.filter { !remembersAbsent($0) }
        guard !new.isEmpty, record.remember(new, status: directoryStatus, isSettled: isSettled) else { return }
        replaceAbsence(with: record)
        absenceChanged = true
    }

    /// A new record indexes its directories anew: the statuses taken by index go with the old one.
    private func replaceAbsence(with record: AbsenceRecord) {
        absence = record
        absentDirectoryStatuses = [:]
    }

    func absenceRecord() -> AbsenceRecord {
        if let absence { return absence }
        let loaded = store.read(AbsenceRecord.key, kind: .fileFacts).flatMap { try? AbsenceRecord.decode($0) }
            ?? AbsenceRecord()
        absence = loaded
        return loaded
    }

    /// A directory's stat, taken once per call.
    func directoryStatus(_ path: String) -> FileStatus? {
        if let known = directoryStatuses[path] { return known }
        let found = (try? FileSystem.statusIfExists(path)) ?? nil
        directoryStatuses[path] = found
        return found
    }

    /// Writes the record merged with what other calls stored meanwhile.
    func flushAbsence() {
        guard absenceChanged, var record = absence else { return }
        if let payload = store.read(AbsenceRecord.key, kind: .fileFacts), let stored = try? AbsenceRecord.decode(payload) {
            record.merge(stored)
        }
        if let change = try? store.place(AbsenceRecord.key, kind: .fileFacts, payload: record.encode()) {
            count(change, shard: CacheStore.shard(of: AbsenceRecord.key))
        }
        replaceAbsence(with: record)
        absenceChanged = false
    }
}

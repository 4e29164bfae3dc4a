import Glibc

/// Names known to be missing from settled directories, remembered across calls: a shared hit must prove
/// every absent include candidate of the entry it found (a small C unit has about a hundred), and a stat
/// each was a fifth of its cost here (perf: 0.41 of 2.3 ms). With the names remembered it stats each
/// directory once.
///
/// The proof is `AbsentDirectories`' rule: a name missing from a directory stays missing while the
/// directory keeps its device, inode, size, mtime and ctime, since creating or renaming an entry moves
/// them. Only names with no entry at all (`lstat` fails) are remembered, so a dangling link whose target
/// appears later is never taken for absent, and only under directories whose stat was settled before the
/// name was looked up.
struct AbsenceRecord: Equatable {
    struct Directory: Equatable {
        var status: FileStatus
        var names: Set<String>
    }

    var directories: [String: Directory] = [:]

    /// One record serves the whole cache; these bound what a call reads.
    static let maximumDirectories = 256
    static let maximumNames = 4096

    static let key: Digest = {
        var hasher = StreamingHasher()
        hasher.update("absent names of settled directories 1")
        return hasher.finalize()
    }()

    /// Whether `path` (absolute) is proven absent by a remembered name; `status` stats a directory now.
    /// False when nothing remembered decides it: the caller then stats the path itself.
    func provesAbsent(_ path: String, status: (String) -> FileStatus?) -> Bool {
        Self.walkUp(path) { directory, name in
            guard let known = directories[directory] else { return nil }
            guard known.names.contains(String(name)), let now = status(directory) else { return false }
            return now.sameContentAs(known.status)
        } ?? false
    }

    /// Calls `body` with each directory of an absolute path and the name below it, deepest first, until it
    /// answers. Over the path's bytes: with `Path`'s string functions the walk cost a small C shared hit as
    /// much as the hundred stats it replaces (perf).
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

    /// Records what makes `path` absent now: the name missing from its deepest existing directory, when
    /// that directory is settled. Returns whether anything was added.
    mutating func remember(_ path: String, status: (String) -> FileStatus?, isSettled: (FileStatus) -> Bool) -> Bool {
        let found: (directory: String, status: FileStatus, name: String)? = Self.walkUp(path) { directory, name in
            guard let found = status(directory) else { return nil }
            // A file where a directory was expected, or a directory too young to stand for its names.
            guard found.isDirectory, isSettled(found) else { return (directory, found, "") }
            var entry = stat()
            let child = directory == "/" ? "/" + name : directory + "/" + name
            guard lstat(child, &entry) != 0, errno == ENOENT else { return (directory, found, "") }
            return (directory, found, String(name))
        }
        guard let found, !found.name.isEmpty else { return false }
        var known = directories[found.directory].flatMap { $0.status.sameContentAs(found.status) ? $0 : nil }
            ?? Directory(status: found.status, names: [])
        guard known.names.count < Self.maximumNames, !known.names.contains(found.name) else { return false }
        known.names.insert(found.name)
        directories[found.directory] = known
        return true
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
        var record = AbsenceRecord()
        let count = try reader.readCount(minimumItemSize: 8 + 40 + 8)
        guard count <= maximumDirectories else { throw MalformedEntry("too many directories") }
        for _ in 0..<count {
            let path = try reader.readString()
            let status = try reader.readFileStatus()
            let names = try reader.readCount(minimumItemSize: 8)
            guard path.utf8.first == UInt8(ascii: "/"), names <= maximumNames else {
                throw MalformedEntry("absent names")
            }
            var directory = Directory(status: status, names: [])
            for _ in 0..<names {
                let name = try reader.readString()
                guard !name.isEmpty, !name.contains("/") else { throw MalformedEntry("absent name") }
                directory.names.insert(name)
            }
            record.directories[path] = directory
        }
        guard reader.isAtEnd else { throw MalformedEntry("trailing bytes") }
        return record
    }
}

extension FileFactsStore {
    /// Whether `path` is proven absent by what earlier calls remembered (one stat per directory); false
    /// when that does not decide it.
    public func remembersAbsent(_ path: String) -> Bool {
        absenceRecord().provesAbsent(path, status: directoryStatus)
    }

    /// Remembers, for the next calls, why each of `paths` (absolute, absent when checked) is absent.
    public func rememberAbsent(_ paths: [String]) {
        var record = absenceRecord()
        var added = false
        for path in paths where record.remember(path, status: directoryStatus, isSettled: isSettled) { added = true }
        guard added else { return }
        absence = record
        absenceChanged = true
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
        absence = record
        absenceChanged = false
    }
}

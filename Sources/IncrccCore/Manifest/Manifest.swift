/// A header the compiler read, with its digest and the stat that was seen when it was hashed.
public struct RecordedFile: Equatable, Sendable {
    /// The file's path (normalized), or for a variable its `storedName`: the stored form of `input`.
    public var path: String
    public var digest: Digest
    public var status: FileStatus
    /// The stat was old enough to stand for the content; otherwise a lookup hashes the file.
    public var statTrusted: Bool

    /// What a result read: a file, or an environment variable (`SOURCE_DATE_EPOCH` for a time macro).
    public enum Input: Equatable, Sendable {
        case file(String)
        case variable(String)
        /// A compiled module interface, keyed by its provenance (`ModuleProvenance`) or by its bytes.
        case moduleFile(String, byProvenance: Bool)
    }

    public var input: Input {
        switch path.utf8.first {
        case 0: return .variable(String(path.dropFirst()))
        case 2: return .moduleFile(String(path.dropFirst()), byProvenance: true)
        case 3: return .moduleFile(String(path.dropFirst()), byProvenance: false)
        default: return .file(path)
        }
    }

    /// Whether this records a variable, not a file. A variable is stored under its name after a NUL, a byte
    /// no path holds, so manifests keep one list in the order the result read them.
    public var isVariable: Bool { path.utf8.first == 0 }

    /// The name a variable is stored under.
    static func storedName(ofVariable name: String) -> String { "\u{0}" + name }

    /// A compiled module interface the result read, recorded under its path after a control byte as a
    /// variable is: `\u{2}` keyed by provenance, `\u{3}` by its bytes (`ModuleInputs`).
    static func moduleFile(_ path: String, byProvenance: Bool, digest: Digest, status: FileStatus,
                           statTrusted: Bool) -> RecordedFile {
        RecordedFile(path: (byProvenance ? "\u{2}" : "\u{3}") + path, digest: digest, status: status,
                     statTrusted: statTrusted)
    }

    /// A variable the result read, with the digest of its value.
    static func variable(_ name: String, digest: Digest) -> RecordedFile {
        RecordedFile(path: storedName(ofVariable: name), digest: digest,
                     status: FileStatus(device: 0, inode: 0, size: 0, modifiedNanoseconds: 0, changedNanoseconds: 0, mode: 0),
                     statTrusted: true)
    }
}

/// One way a compile under this direct key went: the files it read, the paths that did not exist and
/// would have been picked had they existed, and the result it produced.
public struct ManifestEntry: Equatable, Sendable {
    public var files: [RecordedFile]
    public var absentPaths: [String]
    public var result: Digest
    /// The deepest existing directory of the absent paths after the first `uncoveredAbsentPaths`, with its
    /// settled stat: while each is the same directory with the same modification and change times, nothing
    /// was created in it, so those paths are still absent without a stat of their own. When one changed,
    /// every path is checked.
    public var absentDirectories: [RecordedDirectory] = []
    public var uncoveredAbsentPaths: Int

    public init(files: [RecordedFile], absentPaths: [String], result: Digest,
                absentDirectories: [RecordedDirectory] = [], uncoveredAbsentPaths: Int? = nil) {
        self.files = files
        self.absentPaths = absentPaths
        self.result = result
        self.absentDirectories = absentDirectories
        self.uncoveredAbsentPaths = min(uncoveredAbsentPaths ?? absentPaths.count, absentPaths.count)
    }
}

/// A directory and the stat that shows its entries have not changed since.
public struct RecordedDirectory: Equatable, Sendable {
    public var path: String
    public var status: FileStatus
}

/// Everything seen under one direct key, newest entry first. Stored like a result, so it can be shared
/// the same way later.
public struct Manifest: Equatable, Sendable {
    public var entries: [ManifestEntry] = []

    /// Older entries beyond this are dropped: each costs stats on every lookup.
    public static let maximumEntries = 32
    static let formatVersion: UInt8 = 2

    public init(entries: [ManifestEntry] = []) {
        self.entries = entries
    }

    /// Puts `entry` first, dropping an older entry for the same result and the oldest beyond the limit.
    public mutating func add(_ entry: ManifestEntry) {
        entries.insertNewest(entry, limit: Self.maximumEntries) {
            $0.result == entry.result && $0.files.map(\.path) == entry.files.map(\.path)
        }
    }

    /// Files and absent paths shared between entries are written once and referred to by index. One entry
    /// holds each file and path once already: looking them up cost a small miss 0.6 M instructions.
    public func encode() -> [UInt8] {
        let shared = entries.count > 1
        var files = Interner<FileIdentity, RecordedFile>(deduplicating: shared)
        var paths = Interner<String, String>(deduplicating: shared)
        var writer = ByteWriter()
        writer.write(Self.formatVersion)
        var entryIndices: [([Int], [Int])] = []
        for entry in entries {
            let fileRefs = entry.files.map { files.index(of: $0, key: FileIdentity(path: $0.path, digest: $0.digest)) }
            let pathRefs = entry.absentPaths.map { paths.index(of: $0, key: $0) }
            entryIndices.append((fileRefs, pathRefs))
        }
        writer.write(UInt64(files.values.count))
        for file in files.values {
            writer.write(file.path)
            writer.write(file.digest)
            writer.write(file.status)
            writer.write(file.statTrusted ? 1 as UInt8 : 0)
        }
        writer.write(UInt64(paths.values.count))
        for path in paths.values { writer.write(path) }
        writer.write(UInt64(entries.count))
        for (entry, (fileRefs, pathRefs)) in zip(entries, entryIndices) {
            writer.write(entry.result)
            writer.write(UInt64(fileRefs.count))
            for ref in fileRefs { writer.write(UInt32(ref)) }
            writer.write(UInt64(pathRefs.count))
            for ref in pathRefs { writer.write(UInt32(ref)) }
            writer.write(UInt64(entry.uncoveredAbsentPaths))
            writer.write(UInt64(entry.absentDirectories.count))
            for directory in entry.absentDirectories {
                writer.write(directory.path)
                writer.write(directory.status)
            }
        }
        return writer.bytes
    }

    public static func decode(_ bytes: [UInt8]) throws(MalformedEntry) -> Manifest {
        var reader = ByteReader(bytes)
        guard try reader.readUInt8() == formatVersion else { throw MalformedEntry("manifest version") }
        let fileCount = try reader.readCount(minimumItemSize: 8 + 16 + 40 + 1)
        var files: [RecordedFile] = []
        files.reserveCapacity(fileCount)
        for _ in 0..<fileCount {
            let path = try reader.readString()
            let digest = try reader.readDigest()
            let status = try reader.readFileStatus()
            let trusted = try reader.readUInt8() == 1
            files.append(RecordedFile(path: path, digest: digest, status: status, statTrusted: trusted))
        }
        let pathCount = try reader.readCount(minimumItemSize: 8)
        var paths: [String] = []
        paths.reserveCapacity(pathCount)
        for _ in 0..<pathCount { paths.append(try reader.readString()) }
        let entryCount = try reader.readCount(minimumItemSize: 32)
        var entries: [ManifestEntry] = []
        for _ in 0..<entryCount {
            let result = try reader.readDigest()
            let refCount = try reader.readCount(minimumItemSize: 4)
            var entryFiles: [RecordedFile] = []
            for _ in 0..<refCount {
                let ref = Int(try reader.readUInt32())
                guard ref < files.count else { throw MalformedEntry("file index out of range") }
                entryFiles.append(files[ref])
            }
            let absentCount = try reader.readCount(minimumItemSize: 4)
            var absent: [String] = []
            for _ in 0..<absentCount {
                let ref = Int(try reader.readUInt32())
                guard ref < paths.count else { throw MalformedEntry("path index out of range") }
                absent.append(paths[ref])
            }
            let uncovered = try reader.readUInt64()
            guard uncovered <= UInt64(absent.count) else { throw MalformedEntry("uncovered count out of range") }
            let directoryCount = try reader.readCount(minimumItemSize: 8 + 40)
            var directories: [RecordedDirectory] = []
            for _ in 0..<directoryCount {
                directories.append(RecordedDirectory(path: try reader.readString(), status: try reader.readFileStatus()))
            }
            entries.append(ManifestEntry(files: entryFiles, absentPaths: absent, result: result,
                                         absentDirectories: directories, uncoveredAbsentPaths: Int(uncovered)))
        }
        guard reader.isAtEnd else { throw MalformedEntry("trailing bytes") }
        return Manifest(entries: entries)
    }
}

extension Array {
    /// Puts `element` first, dropping the entries `isSame` finds and the oldest beyond `limit`: how every
    /// kind of manifest keeps its newest entries.
    mutating func insertNewest(_ element: Element, limit: Int, replacing isSame: (Element) -> Bool) {
        removeAll(where: isSame)
        insert(element, at: 0)
        if count > limit { removeLast(count - limit) }
    }
}

/// A file version: the same path with the same content is written once however many entries share it.
struct FileIdentity: Hashable {
    var path: String
    var digest: Digest
}

/// Gives each distinct value an index in first-seen order, so shared values are written once.
struct Interner<Key: Hashable, Value> {
    private var indices: [Key: Int] = [:]
    private(set) var values: [Value] = []
    /// Off where every value is known to be distinct: each gets the next index.
    let deduplicating: Bool

    init(deduplicating: Bool = true) {
        self.deduplicating = deduplicating
    }

    mutating func index(of value: Value, key: @autoclosure () -> Key) -> Int {
        guard deduplicating else {
            values.append(value)
            return values.count - 1
        }
        let key = key()
        if let known = indices[key] { return known }
        indices[key] = values.count
        values.append(value)
        return values.count - 1
    }
}

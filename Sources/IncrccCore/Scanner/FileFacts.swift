import Glibc

/// What a miss and the scan need of one file: its digest, its references, and whether it names a time
/// macro (a result that depends on the clock is never stored).
public struct FileFacts: Equatable, Sendable {
    public var digest: Digest
    public var references: FileReferences
    public var timeMacros: TimeMacros

    public init(digest: Digest, references: FileReferences, timeMacros: TimeMacros = []) {
        self.digest = digest
        self.references = references
        self.timeMacros = timeMacros
    }

    public var mentionsTimeMacro: Bool { !timeMacros.isEmpty }

    /// Everything at once from a file's bytes.
    public init(reading bytes: [UInt8]) {
        self.init(digest: Digest.of(bytes), references: FileReferences.read(bytes),
                  timeMacros: Self.timeMacros(in: bytes))
    }

    /// Which clock a file's text may read. `__DATE__` and `__TIME__` follow `SOURCE_DATE_EPOCH` where it is
    /// set; gcc's `__TIMESTAMP__` never does (it is the file's own modification time, checked with gcc 12:
    /// `touch` changes it under any `SOURCE_DATE_EPOCH`).
    public struct TimeMacros: OptionSet, Sendable, Hashable {
        public let rawValue: UInt8
        public init(rawValue: UInt8) { self.rawValue = rawValue }
        public static let clock = TimeMacros(rawValue: 1)
        public static let timestamp = TimeMacros(rawValue: 2)
        /// Which of the clock's macros: facts remembered before these were told apart have neither.
        public static let date = TimeMacros(rawValue: 4)
        public static let timeOfDay = TimeMacros(rawValue: 8)

        /// `__DATE__` alone of the clock's macros (a date can be recorded; a time of day changes each second).
        public var readsDateOnly: Bool {
            contains(.clock) && contains(.date) && !contains(.timeOfDay) && !contains(.timestamp)
        }
    }

    static let clockMacros: [StaticString] = ["__DATE__", "__TIME__"]

    /// Jumps from underscore to underscore with memchr instead of testing every byte: a miss scans every
    /// header the compiler read, and the byte loop was a quarter of a small miss's instructions.
    public static func timeMacros(in bytes: [UInt8]) -> TimeMacros {
        bytes.withUnsafeBufferPointer { buffer in
            guard let base = buffer.baseAddress else { return [] }
            let n = buffer.count
            var found: TimeMacros = []
            var i = 0
            while i + 8 <= n, let hit = memchr(base + i, 0x5f, n - i - 7) {
                i = base.distance(to: hit.assumingMemoryBound(to: UInt8.self))
                if base[i + 1] == 0x5f, base[i + 2] == 0x44 || base[i + 2] == 0x54 {
                    if n - i >= 13, memcmp(base + i, "__TIMESTAMP__", 13) == 0 {
                        found.insert(.timestamp)
                    } else {
                        for name in clockMacros where n - i >= name.utf8CodeUnitCount {
                            if memcmp(base + i, name.utf8Start, name.utf8CodeUnitCount) == 0 {
                                found.insert(.clock)
                                found.insert(base[i + 2] == 0x44 ? .date : .timeOfDay)
                            }
                        }
                    }
                }
                i += 1
            }
            return found
        }
    }
}

/// The stored form of one file's facts, tied to the path and the stat they were read under.
struct FileFactsRecord: Equatable {
    var path: String
    var status: FileStatus
    var facts: FileFacts

    static let fallbackCodes: [ScanFallback] = [.computedInclude, .embeddedFile, .precompiledHeader, .unreadableFile]

    func encode() -> [UInt8] {
        var writer = ByteWriter()
        writer.write(path)
        writer.write(status)
        writer.write(facts.digest)
        writer.write(facts.timeMacros.rawValue)
        let fallback = facts.references.fallback.flatMap { Self.fallbackCodes.firstIndex(of: $0) }
        writer.write(fallback.map { UInt8($0 + 1) } ?? 0)
        for list in [facts.references.includes, facts.references.existenceTests] {
            writer.write(UInt64(list.count))
            for directive in list {
                writer.write((directive.isQuoted ? 1 as UInt8 : 0) | (directive.isNext ? 2 : 0))
                writer.write(directive.name)
            }
        }
        return writer.bytes
    }

    static func decode(_ bytes: [UInt8]) throws(MalformedEntry) -> FileFactsRecord {
        var reader = ByteReader(bytes)
        let path = try reader.readString()
        let status = try reader.readFileStatus()
        let digest = try reader.readDigest()
        let timeMacro = try reader.readUInt8()
        let fallbackCode = Int(try reader.readUInt8())
        guard timeMacro <= 15, fallbackCode <= fallbackCodes.count else { throw MalformedEntry("file facts flags") }
        var references = FileReferences()
        references.fallback = fallbackCode == 0 ? nil : fallbackCodes[fallbackCode - 1]
        for list in 0..<2 {
            let count = try reader.readCount(minimumItemSize: 1 + 8)
            var directives: [IncludeDirective] = []
            directives.reserveCapacity(count)
            for _ in 0..<count {
                let flags = try reader.readUInt8()
                guard flags <= 3 else { throw MalformedEntry("include flags") }
                directives.append(IncludeDirective(name: try reader.readString(), isQuoted: flags & 1 != 0,
                                                   isNext: flags & 2 != 0))
            }
            if list == 0 { references.includes = directives } else { references.existenceTests = directives }
        }
        guard reader.isAtEnd else { throw MalformedEntry("trailing bytes") }
        return FileFactsRecord(path: path, status: status,
                               facts: FileFacts(digest: digest, references: references,
                                                          timeMacros: FileFacts.TimeMacros(rawValue: timeMacro)))
    }
}

/// Every remembered file of one directory, in one entry: a miss reads its headers from a few directories,
/// and an entry per header took a file (and a 4 KiB block) each, 98 of a 16-compile cache's 164 files.
struct FileFactsDirectoryRecord {
    var directory: String
    /// By file name; each record's path is in `directory`.
    var records: [String: FileFactsRecord] = [:]

    /// The most files one record keeps (a directory's headers a build reads are far fewer).
    static let limit = 4096

    mutating func trim() {
        guard records.count > Self.limit else { return }
        for name in records.keys.sorted().dropFirst(Self.limit) { records[name] = nil }
    }

    func encode() -> [UInt8] {
        var writer = ByteWriter()
        writer.write(directory)
        writer.write(UInt64(records.count))
        for name in records.keys.sorted() {
            if let record = records[name] { writer.write(record.encode()) }
        }
        return writer.bytes
    }

    static func decode(_ bytes: [UInt8], directory: String) throws(MalformedEntry) -> FileFactsDirectoryRecord {
        var reader = ByteReader(bytes)
        guard try reader.readString() == directory else { throw MalformedEntry("another directory's facts") }
        let count = try reader.readCount(minimumItemSize: 8)
        var decoded = FileFactsDirectoryRecord(directory: directory)
        for _ in 0..<count {
            let record = try FileFactsRecord.decode(try reader.readBytes())
            guard Path.directory(of: record.path) == directory else { throw MalformedEntry("a file of another directory") }
            decoded.records[Path.baseName(record.path)] = record
        }
        guard reader.isAtEnd else { throw MalformedEntry("trailing bytes") }
        return decoded
    }
}

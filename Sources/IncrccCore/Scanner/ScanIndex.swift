/// The results a scan can reach under one direct key: each indexed by the digest of the include graph
/// that was scanned when it was compiled, and only after the compiler's own dependency list was found
/// inside that graph. Its presence is also what tells a lookup that a scan can hit at all.
public struct ScanIndex: Equatable, Sendable {
    public struct Entry: Equatable, Sendable {
        public var scanKey: Digest
        public var result: Digest
        /// The scan engine that built the graph; graphs from different engines never share a key.
        public var engine: ScanEngine
    }

    public var entries: [Entry] = []

    /// Like a manifest's: older entries beyond this are dropped.
    public static let maximumEntries = 32
    static let formatVersion: UInt8 = 1

    public init(entries: [Entry] = []) {
        self.entries = entries
    }

    public mutating func add(_ entry: Entry) {
        entries.removeAll { $0.scanKey == entry.scanKey }
        entries.insert(entry, at: 0)
        if entries.count > Self.maximumEntries { entries.removeLast(entries.count - Self.maximumEntries) }
    }

    public func result(for scanKey: Digest) -> Digest? {
        entries.first { $0.scanKey == scanKey }?.result
    }

    /// True when an entry came from this engine: whether scanning with it can find anything.
    public func holds(_ engine: ScanEngine) -> Bool { entries.contains { $0.engine == engine } }

    public func encode() -> [UInt8] {
        var writer = ByteWriter()
        writer.write(Self.formatVersion)
        writer.write(UInt64(entries.count))
        for entry in entries {
            writer.write(entry.scanKey)
            writer.write(entry.result)
            writer.write(entry.engine.rawValue)
        }
        return writer.bytes
    }

    public static func decode(_ bytes: [UInt8]) throws(MalformedEntry) -> ScanIndex {
        var reader = ByteReader(bytes)
        guard try reader.readUInt8() == formatVersion else { throw MalformedEntry("scan index version") }
        let count = try reader.readCount(minimumItemSize: 33)
        var entries: [Entry] = []
        for _ in 0..<count {
            let scanKey = try reader.readDigest()
            let result = try reader.readDigest()
            guard let engine = ScanEngine(rawValue: try reader.readUInt8()) else { throw MalformedEntry("scan engine") }
            entries.append(Entry(scanKey: scanKey, result: result, engine: engine))
        }
        guard reader.isAtEnd else { throw MalformedEntry("trailing bytes") }
        return ScanIndex(entries: entries)
    }
}

/// How an include graph was found.
public enum ScanEngine: UInt8, Sendable {
    /// incrcc's own reading of include directives in every branch: cheap, a superset of what is read.
    case directives = 1
    /// libclang parsing the translation unit with the real compiler's macros and directories: exact,
    /// and able to follow computed includes, but tens of milliseconds per scan.
    case libclang = 2
}

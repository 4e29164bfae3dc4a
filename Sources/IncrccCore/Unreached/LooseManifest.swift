/// Stored under a call's key taken without its macros and include directories (`PreprocessorOptions`):
/// for each way such a call was compiled, the options it had, what its files include, and its manifest
/// entry. A call whose own key misses is served from here when its options differ from an entry's only
/// in ways that reach no file it reads.
public struct LooseManifest: Equatable, Sendable {
    public struct Entry: Equatable, Sendable {
        public var options: PreprocessorOptions
        /// Every name the files include or test with `__has_include`, each once.
        public var spellings: [String]
        /// False when a file includes a computed name: then no directory may change.
        public var spellingsComplete: Bool
        public var entry: ManifestEntry
    }

    public var entries: [Entry] = []

    /// Each entry costs a comparison and, for the first that fits, a read of the files: a few suffice for
    /// the versions and configurations a build directory goes through.
    static let maximumEntries = 16
    /// Distinct from every `Manifest` version, so neither is ever read as the other.
    static let formatVersion: UInt8 = 0x41

    public mutating func add(_ entry: Entry) {
        entries.insertNewest(entry, limit: Self.maximumEntries) {
            $0.entry.result == entry.entry.result && $0.options == entry.options
        }
    }

    public func encode() -> [UInt8] {
        var writer = ByteWriter()
        writer.write(Self.formatVersion)
        writer.write(UInt64(entries.count))
        for item in entries {
            item.options.writeDefinition(to: &writer)
            writer.write(item.spellingsComplete ? 1 as UInt8 : 0)
            writer.write(UInt64(item.spellings.count))
            for spelling in item.spellings { writer.write(spelling) }
            writer.write(item.entry.result)
            writer.write(UInt64(item.entry.files.count))
            for file in item.entry.files {
                writer.write(file.path)
                writer.write(file.digest)
                writer.write(file.status)
                writer.write(file.statTrusted ? 1 as UInt8 : 0)
            }
            writer.write(UInt64(item.entry.absentPaths.count))
            for path in item.entry.absentPaths { writer.write(path) }
        }
        return writer.bytes
    }

    public static func decode(_ bytes: [UInt8]) throws(MalformedEntry) -> LooseManifest {
        var reader = ByteReader(bytes)
        guard try reader.readUInt8() == formatVersion else { throw MalformedEntry("loose manifest version") }
        var manifest = LooseManifest()
        let count = try reader.readCount(minimumItemSize: 16 + 1 + 8 + 16 + 16)
        for _ in 0..<count {
            let options = try PreprocessorOptions.readDefinition(from: &reader)
            let complete = try reader.readUInt8()
            guard complete <= 1 else { throw MalformedEntry("spelling flag") }
            let spellingCount = try reader.readCount(minimumItemSize: 8)
            var spellings: [String] = []
            for _ in 0..<spellingCount { spellings.append(try reader.readString()) }
            let result = try reader.readDigest()
            let fileCount = try reader.readCount(minimumItemSize: 8 + 16 + 40 + 1)
            var files: [RecordedFile] = []
            for _ in 0..<fileCount {
                let path = try reader.readString()
                let digest = try reader.readDigest()
                let status = try reader.readFileStatus()
                files.append(RecordedFile(path: path, digest: digest, status: status, statTrusted: try reader.readUInt8() == 1))
            }
            let absentCount = try reader.readCount(minimumItemSize: 8)
            var absent: [String] = []
            for _ in 0..<absentCount { absent.append(try reader.readString()) }
            manifest.entries.append(Entry(options: options, spellings: spellings, spellingsComplete: complete == 1,
                                          entry: ManifestEntry(files: files, absentPaths: absent, result: result)))
        }
        guard reader.isAtEnd else { throw MalformedEntry("trailing bytes") }
        return manifest
    }
}

/// The remembered SHA-256 (and XXH3) of the files of one directory, each with the stat it was read under.
struct StrongDigestRecord: Equatable {
    struct Entry: Equatable {
        var status: FileStatus
        var digest: Digest
        var strong: StrongDigest
    }

    var directory: String
    var entries: [String: Entry] = [:]

    /// A directory such as /usr/include holds thousands of headers; a record keeps at most this many.
    static let maximumEntries = 4096

    mutating func trim() {
        guard entries.count > Self.maximumEntries else { return }
        for name in entries.keys.sorted().dropFirst(Self.maximumEntries) { entries[name] = nil }
    }

    /// Entries in ascending order of their names' bytes, the order `StoredStrongDigests` searches.
    func encode() -> [UInt8] {
        var writer = ByteWriter()
        writer.write(directory)
        writer.write(UInt64(entries.count))
        for (name, entry) in entries.sorted(by: { $0.key.utf8.lexicographicallyPrecedes($1.key.utf8) }) {
            writer.write(name)
            writer.write(entry.status)
            writer.write(entry.digest)
            writer.appendRaw(entry.strong.bytes)
        }
        return writer.bytes
    }

    /// Refuses a record stored for another directory (a key collision or a planted file) or damaged, as
    /// `StoredStrongDigests` does.
    static func decode(_ bytes: [UInt8], directory: String) throws(MalformedEntry) -> StrongDigestRecord {
        let stored = try StoredStrongDigests(bytes, directory: directory)
        var record = StrongDigestRecord(directory: directory)
        record.entries.reserveCapacity(stored.count)
        for index in 0..<stored.count {
            let (name, entry) = try stored.entry(at: index)
            record.entries[name] = entry
        }
        return record
    }
}

/// A stored record as a lookup reads it: checked whole (its directory, lengths, no `/` in a name, nothing
/// after the last entry) and its names' places kept, but only the entries asked for are decoded. Decoding every entry cost about 2,500
/// instructions each (callgrind: 150,772 for the 59 headers of a small C shared hit), and a directory such
/// as /usr/include gathers entries from every build a machine runs, up to 4,096.
struct StoredStrongDigests {
    let bytes: [UInt8]
    /// Each entry's name (start and length in `bytes`); its fixed fields follow the name.
    private var names: [(start: Int, count: Int)] = []
    static let fixedSize = 40 + 16 + 32

    /// Refuses a damaged record, and names out of ascending byte order (which a search could not find; a
    /// miss, not a wrong answer).
    init(_ bytes: [UInt8], directory: String) throws(MalformedEntry) {
        self.bytes = bytes
        var reader = ByteReader(bytes)
        guard try reader.readString() == directory else { throw MalformedEntry("record of another directory") }
        let count = try reader.readCount(minimumItemSize: 8 + Self.fixedSize)
        names.reserveCapacity(count)
        for _ in 0..<count {
            let length = try reader.readUInt64()
            guard length <= 1 << 20 else { throw MalformedEntry("length out of range") }
            let start = reader.offset
            try reader.skip(Int(length))
            let name = (start: start, count: Int(length))
            let ordered = bytes.withUnsafeBufferPointer { buffer -> Bool in
                guard !buffer[name.start..<name.start + name.count].contains(UInt8(ascii: "/")) else { return false }
                guard let previous = names.last else { return true }
                return buffer[previous.start..<previous.start + previous.count]
                    .lexicographicallyPrecedes(buffer[name.start..<name.start + name.count])
            }
            guard ordered else { throw MalformedEntry("strong digest entry") }
            names.append(name)
            try reader.skip(Self.fixedSize)
        }
        guard reader.isAtEnd else { throw MalformedEntry("trailing bytes") }
    }

    var count: Int { names.count }

    /// The `index`th entry and its name, decoded.
    func entry(at index: Int) throws(MalformedEntry) -> (name: String, entry: StrongDigestRecord.Entry) {
        let name = names[index]
        let text = bytes.withUnsafeBufferPointer { String(decoding: $0[name.start..<name.start + name.count], as: UTF8.self) }
        return (text, try fields(after: name))
    }

    /// An entry's fixed fields, which follow its name.
    private func fields(after name: (start: Int, count: Int)) throws(MalformedEntry) -> StrongDigestRecord.Entry {
        var reader = ByteReader(bytes, offset: name.start + name.count)
        let status = try reader.readFileStatus()
        let digest = try reader.readDigest()
        return StrongDigestRecord.Entry(status: status, digest: digest, strong: try StrongDigest.read(&reader))
    }

    /// The entry named `name`, decoded; nil when the record has none.
    func entry(named name: String) -> StrongDigestRecord.Entry? {
        var name = name
        let found: Int? = name.withUTF8 { wanted in
            bytes.withUnsafeBufferPointer { buffer in
                var low = 0
                var high = names.count
                while low < high {
                    let middle = (low + high) / 2
                    let candidate = buffer[names[middle].start..<names[middle].start + names[middle].count]
                    if candidate.elementsEqual(wanted) { return middle }
                    if candidate.lexicographicallyPrecedes(wanted) { low = middle + 1 } else { high = middle }
                }
                return nil
            }
        }
        guard let found else { return nil }
        return try? fields(after: names[found])
    }
}

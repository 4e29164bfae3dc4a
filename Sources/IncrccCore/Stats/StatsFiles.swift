import Glibc

/// Counters live in one small file per top-level shard of the cache (16 of them), each updated under its own
/// `flock`, so parallel compiles rarely wait on each other.
///
/// A file is checked like an entry: a magic, the number of slots, little-endian UInt64 slots indexed by
/// `Counter.rawValue` (fewer slots, from an older version, read as zeros for the missing ones), and a digest
/// of all that. A file that fails the check (flipped bytes, a truncation, another format) is reset to zeros,
/// never summed, and reported once: the next statistics command prints one line for it.
public struct StatsFiles: Sendable {
    public static let shardCount = 16
    public let cacheDirectory: String

    public init(cacheDirectory: String) {
        self.cacheDirectory = cacheDirectory
    }

    func path(shard: Int) -> String {
        cacheDirectory + "/" + NumberText.hex(UInt64(shard)) + "/stats"
    }

    /// Adds `deltas` (which may be negative) to shard `shard`'s counters.
    public func update(shard: Int, _ deltas: [(Counter, Int64)]) throws(SystemError) {
        try overwrite(shard: shard) { values in
            for (counter, delta) in deltas {
                let current = values[counter]
                values[counter] = delta >= 0 ? current.saturatingAdding(UInt64(delta))
                    : current - min(current, delta.magnitude)
            }
        }
    }

    public func read(shard: Int) -> CounterValues {
        let bytes = (try? CacheFiles(root: cacheDirectory).readIfExists(path(shard: shard))) ?? []
        if let values = Self.decode(bytes) { return values }
        // Reset under the lock, where a writer's half-written file would have been read whole.
        var reset = CounterValues()
        try? overwrite(shard: shard) { reset = $0 }
        return reset
    }

    public func readAll() -> CounterValues {
        var total = CounterValues()
        for shard in 0..<Self.shardCount { total.add(read(shard: shard)) }
        return total
    }

    /// Replaces a shard's counters wholesale (zeroing, recounting after cleanup).
    public func overwrite(shard: Int, with mutate: (inout CounterValues) -> Void) throws(SystemError) {
        let file = path(shard: shard)
        // Never through a link planted in the cache: a victim's file would be overwritten with counters.
        let fd = try CacheFiles(root: cacheDirectory).open(file, O_RDWR | O_CREAT, create: true)
        defer { close(fd) }
        while flock(fd, LOCK_EX) != 0 {
            if errno != EINTR { throw SystemError("flock", file) }
        }
        let bytes = try FileSystem.readAll(fd, path: file)
        let decoded = Self.decode(bytes)
        if decoded == nil { reportDamage(file) }
        var values = decoded ?? CounterValues()
        mutate(&values)
        let encoded = Self.encode(values)
        let written = encoded.withUnsafeBytes { pwrite(fd, $0.baseAddress, $0.count, 0) }
        if written != encoded.count { throw SystemError("write", file) }
        if bytes.count > encoded.count, ftruncate(fd, off_t(encoded.count)) != 0 { throw SystemError("ftruncate", file) }
    }

    static let magic: [UInt8] = Array("incrccST".utf8)
    /// Room for counters added by later versions; a larger count is damage.
    static let maximumSlots = 1024

    /// The counters of a file, zeros for an empty one; nil when it fails its check.
    static func decode(_ bytes: [UInt8]) -> CounterValues? {
        var values = CounterValues()
        if bytes.isEmpty { return values }
        guard bytes.count >= magic.count + 8 + 16, Array(bytes[0..<magic.count]) == magic else { return nil }
        var reader = ByteReader(bytes, offset: magic.count)
        guard let count = try? reader.readUInt64(), count <= UInt64(maximumSlots),
              bytes.count == magic.count + 8 + Int(count) * 8 + 16 else { return nil }
        let body = Array(bytes[0..<bytes.count - 16])
        var tail = ByteReader(bytes, offset: bytes.count - 16)
        guard let digest = try? tail.readDigest(), digest == Digest.of(body) else { return nil }
        for index in 0..<Int(count) {
            guard let value = try? reader.readUInt64() else { return nil }
            if let counter = Counter(rawValue: index) { values[counter] = value }
        }
        return values
    }

    static func encode(_ values: CounterValues) -> [UInt8] {
        var writer = ByteWriter()
        for byte in magic { writer.write(byte) }
        writer.write(UInt64(values.values.count))
        for value in values.values { writer.write(value) }
        let digest = Digest.of(writer.bytes)
        writer.write(digest)
        return writer.bytes
    }

    /// Where damaged statistics files are noted until a statistics command reports them.
    var damageReport: String { cacheDirectory + "/stats-damaged" }

    func reportDamage(_ file: String) {
        let line = "incrcc: the statistics file \(file) was damaged and has been reset to zero\n"
        guard let fd = try? CacheFiles(root: cacheDirectory).open(damageReport, O_WRONLY | O_CREAT | O_APPEND, create: true)
        else { return }
        try? FileSystem.writeAll(fd, Array(line.utf8), path: damageReport)
        close(fd)
    }

    /// Prints the damaged files noted since the last report, once, to stderr.
    public func printDamageReport() {
        let files = CacheFiles(root: cacheDirectory)
        guard files.status(damageReport) != nil, let text = try? files.readIfExists(damageReport) else { return }
        files.remove(damageReport)
        Console.write(text, to: 2)
    }
}

import Glibc

/// Counters live in one small file per top-level shard of the cache (16 of them), each updated under its own
/// `flock`, so parallel compiles rarely wait on each other. A file is an array of little-endian UInt64 slots
/// indexed by `Counter.rawValue`; a shorter file (older version) reads as zeros for the missing slots.
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
        Self.decode((try? CacheFiles(root: cacheDirectory).readIfExists(path(shard: shard))) ?? [])
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
        var values = Self.decode(try FileSystem.readAll(fd, path: file))
        mutate(&values)
        let bytes = Self.encode(values)
        let written = bytes.withUnsafeBytes { pwrite(fd, $0.baseAddress, $0.count, 0) }
        if written != bytes.count { throw SystemError("write", file) }
    }

    static func decode(_ bytes: [UInt8]) -> CounterValues {
        var values = CounterValues()
        var reader = ByteReader(bytes)
        for counter in Counter.allCases {
            guard let value = try? reader.readUInt64() else { break }
            values[counter] = value
        }
        return values
    }

    static func encode(_ values: CounterValues) -> [UInt8] {
        var writer = ByteWriter()
        for value in values.values { writer.write(value) }
        return writer.bytes
    }
}

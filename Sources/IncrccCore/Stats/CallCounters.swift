import Glibc

/// What one process counts: added up while the call runs, written once at its end in one locked update of
/// one statistics file, and not at all under `stats = false`. A detached child (the store after returning,
/// a verifier) has an accumulator of its own and writes it when it is done.
public final class CallCounters {
    private var pending: [Int64]
    public let enabled: Bool
    /// `stats_log`: the file each write appends to, and the source the call compiled.
    public var log: (path: String, source: String)?

    public init(enabled: Bool) {
        self.enabled = enabled
        pending = Array(repeating: 0, count: Counter.allCases.count)
    }

    public func add(_ counter: Counter, by amount: Int64 = 1) {
        pending[counter.rawValue] += amount
    }

    public func add(_ counters: [Counter]) {
        for counter in counters { add(counter) }
    }

    /// Forgets what was added: a forked child starts from its parent's counts, which the parent writes.
    public func discard() {
        pending = Array(repeating: 0, count: Counter.allCases.count)
    }

    /// Writes what was added since the last write (to the shard of this process, so parallel calls rarely
    /// share a lock) and starts again from zero.
    public func write(to stats: StatsFiles) {
        defer { pending = Array(repeating: 0, count: Counter.allCases.count) }
        guard enabled else { return }
        let deltas = Counter.allCases.compactMap { counter in
            pending[counter.rawValue] != 0 ? (counter, pending[counter.rawValue]) : nil
        }
        guard !deltas.isEmpty else { return }
        try? stats.update(shard: Int(getpid()) % StatsFiles.shardCount, deltas)
        if let log { Self.append(deltas, to: log.path, source: log.source) }
    }

    /// ccache's stats log: `# SOURCE`, then each counter's key once per count, sorted, in one write so
    /// that parallel calls do not interleave.
    static func append(_ deltas: [(Counter, Int64)], to path: String, source: String) {
        var text = "# " + source + "\n"
        for (counter, amount) in deltas.sorted(by: { $0.0.key < $1.0.key }) where amount > 0 {
            for _ in 0..<min(amount, 1000) { text += counter.key + "\n" }
        }
        let fd = open(path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0o666)
        guard fd >= 0 else { return }
        defer { close(fd) }
        _ = Array(text.utf8).withUnsafeBytes { Glibc.write(fd, $0.baseAddress, $0.count) }
    }

    /// The counters a stats log holds, summed; lines that name no counter are skipped.
    static func summed(log text: [UInt8]) -> CounterValues {
        var keys: [String: Counter] = [:]
        for counter in Counter.allCases { keys[counter.key] = counter }
        var values = CounterValues()
        for line in text.split(separator: UInt8(ascii: "\n")) where line.first != UInt8(ascii: "#") {
            if let counter = keys[String(decoding: line, as: UTF8.self)] { values[counter] = values[counter].saturatingAdding(1) }
        }
        return values
    }
}

import Glibc

/// What one process counts: added up while the call runs, written once at its end in one locked update of
/// one statistics file, and not at all under `stats = false`. A detached child (the store after returning,
/// a verifier) has an accumulator of its own and writes it when it is done.
public final class CallCounters {
    private var pending: [Int64]
    public let enabled: Bool

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
    }
}

import Glibc

/// Wall-clock time in nanoseconds.
public enum Clock {
    public static func nowNanoseconds() -> Int64 {
        var ts = timespec()
        clock_gettime(CLOCK_REALTIME, &ts)
        return Int64(ts.tv_sec) * 1_000_000_000 + Int64(ts.tv_nsec)
    }
}

/// The `umask` setting applies to what incrcc creates in the cache, and to nothing else: the compiler it
/// runs and the outputs a hit writes keep the caller's mask. incrcc is single-threaded, so the process mask
/// is switched around the writes outside the cache.
public enum UserMask {
    nonisolated(unsafe) static var callers: mode_t?

    /// Makes `mask` the process's mask and remembers the caller's.
    public static func useForCache(_ mask: mode_t) {
        callers = umask(mask)
    }

    /// The caller's mask back for good (before handing the process over to the compiler).
    public static func restore() {
        if let callers { umask(callers) }
    }

    /// Runs `body` with the caller's mask (a compiler child, a hit's outputs).
    public static func asCaller<R, E: Error>(_ body: () throws(E) -> R) throws(E) -> R {
        guard let callers else { return try body() }
        let cache = umask(callers)
        defer { umask(cache) }
        return try body()
    }
}

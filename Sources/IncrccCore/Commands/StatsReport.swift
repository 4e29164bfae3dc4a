/// The three renderings of the counters: the human table of `-s`, `--print-stats` as tab-separated
/// `key<TAB>value` lines (ccache's keys), and the same as JSON.
public struct StatsReport {
    public var values: CounterValues
    public var maxSize: UInt64
    public var cacheDirectory: String
    /// When a statistics file was last written (seconds since the epoch; 0: never).
    public var updatedTimestamp: UInt64 = 0

    public init(values: CounterValues, maxSize: UInt64, cacheDirectory: String) {
        self.values = values
        self.maxSize = maxSize
        self.cacheDirectory = cacheDirectory
    }

    /// Pairs in print order; the size is reported in KiB like ccache's `cache_size_kibibyte`, and ccache's
    /// `max_cache_size_kibibyte` and `stats_updated_timestamp` follow the counters.
    public var pairs: [(String, UInt64)] {
        Counter.allCases.map { counter in
            counter == .cacheSizeBytes ? (counter.key, values[counter] / 1024) : (counter.key, values[counter])
        } + [("max_cache_size_kibibyte", maxSize / 1024), ("stats_updated_timestamp", updatedTimestamp)]
    }

    public func tabSeparated() -> String {
        pairs.map { $0.0 + "\t" + String($0.1) + "\n" }.joined()
    }

    public func json() -> String {
        "{\n" + pairs.map { "  \"" + $0.0 + "\": " + String($0.1) }.joined(separator: ",\n") + "\n}\n"
    }

    /// `verbose` (`-s -v`): every counter that is not zero follows, by its key, after the summary.
    public func table(verbose: Bool = false) -> String {
        let hits = values[.directHit].saturatingAdding(values[.scanHit])
        let cacheable = hits.saturatingAdding(values[.miss])
        var lines: [(String, String)] = [
            ("Cache directory", cacheDirectory),
            ("Cacheable calls", String(cacheable)),
            ("  Hits", String(hits) + percent(hits, of: cacheable)),
            ("    Direct", String(values[.directHit])),
            ("    Scan", String(values[.scanHit])),
            ("    Patched paths", String(values[.patchedHit])),
            ("    Across unread options", String(values[.unreachedOptionHit])),
            ("    Across skipped groups", String(values[.skippedGroupHit])),
            ("    Across comment edits", String(values[.commentEditHit])),
            ("    Across token-equal edits", String(values[.tokenEditHit])),
            ("    Compile-and-link calls", String(values[.linkHit])),
            ("  Misses", String(values[.miss]) + percent(values[.miss], of: cacheable)),
        ]
        let uncacheable = Counter.uncacheableReasons.filter { values[$0] > 0 }
        let uncacheableTotal = uncacheable.reduce(UInt64(0)) { $0.saturatingAdding(values[$1]) }
        lines.append(("Uncacheable calls", String(uncacheableTotal.saturatingAdding(values[.compileFailed]))))
        if values[.compileFailed] > 0 { lines.append(("  " + Counter.compileFailed.label, String(values[.compileFailed]))) }
        for counter in uncacheable { lines.append(("  " + counter.label, String(values[counter]))) }
        for counter in [Counter.recache, .missingCacheFile, .corruptEntryRemoved, .cleanupsPerformed] where values[counter] > 0 {
            lines.append((counter.label.prefix(1).uppercased() + counter.label.dropFirst(), String(values[counter])))
        }
        let verification: [Counter] = [.patchAgreed, .patchDisagreed, .patchUnitTrustedHit, .movedPathDependent,
                                       .verifySampled, .verifyMismatch, .verifyInconclusive, .distrustedClasses]
        if verification.contains(where: { values[$0] > 0 }) {
            lines.append(("Verification", ""))
            for counter in verification { lines.append(("  " + counter.label, String(values[counter]))) }
        }
        let scanning: [Counter] = [.scanIndexed, .scanMiss, .scanUnsound, .scanComputedInclude, .scanEmbeddedFile,
                                   .scanPrecompiledHeader, .scanUnreadableFile, .scannerUnavailable,
                                   .scanLibclangFailed]
        if scanning.contains(where: { values[$0] > 0 }) {
            lines.append(("Scanning", ""))
            for counter in scanning where values[counter] > 0 { lines.append(("  " + counter.label, String(values[counter]))) }
        }
        let remote: [Counter] = [.remoteStorageReadHit, .remoteStorageReadMiss, .remoteStorageWrite, .remoteStorageError,
                                 .remoteStorageTimeout]
        if remote.contains(where: { values[$0] > 0 }) {
            let reads = values[.remoteStorageReadHit].saturatingAdding(values[.remoteStorageReadMiss])
            lines.append(("Remote storage", ""))
            lines.append(("  " + Counter.remoteStorageReadHit.label,
                          String(values[.remoteStorageReadHit]) + percent(values[.remoteStorageReadHit], of: reads)))
            for counter in remote.dropFirst() { lines.append(("  " + counter.label, String(values[counter]))) }
        }
        let limit = maxSize == 0 ? "unlimited" : SizeText.format(maxSize)
        let used = maxSize == 0 ? "" : percent(values[.cacheSizeBytes], of: maxSize)
        lines.append(("Cache size", SizeText.format(values[.cacheSizeBytes]) + " / " + limit + used))
        lines.append(("Files in cache", String(values[.filesInCache])))
        if verbose {
            lines.append(("Counters", ""))
            for (key, value) in pairs where value != 0 { lines.append(("  " + key, String(value))) }
        }
        let width = lines.map { $0.0.count }.max() ?? 0
        return lines.map { label, value in
            label + String(repeating: " ", count: width - label.count + 2) + value + "\n"
        }.joined()
    }

    func percent(_ part: UInt64, of whole: UInt64) -> String {
        guard whole > 0 else { return "" }
        let tenths = UInt64(min(Double(part) / Double(whole) * 1000 + 0.5, 1e18))
        return " (" + String(tenths / 10) + "." + String(tenths % 10) + "%)"
    }
}

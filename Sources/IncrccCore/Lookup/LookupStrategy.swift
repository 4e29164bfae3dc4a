/// The ways a call finds a stored result, in the one order every lookup, every miss and `incrcc explain`
/// follow. Each has two faces (`CachedCompile.find` and `CachedCompile.record` in `Lookup.swift`): *find*
/// offers the results it would serve, best first, without serving any; *record* is what a miss stores so
/// that this strategy can find it next time.
enum LookupStrategy: CaseIterable, Sendable {
    /// The call's own direct key (and, for a checkout under `base_dir`, the key bound to its real root):
    /// an entry whose recorded files and absent paths all hold now.
    case manifest
    /// The call keyed by its real paths: where a unit that reads its moving path is kept once a patched
    /// result of it differed from a fresh compile (`miss_moved_path_dependent`).
    case realPaths
    /// A compile under other `-D`/`-U`/`-I` options that reach no file read (`Unreached/`).
    case unreadOptions
    /// An entry whose one changed header changed only in groups the preprocessor skips or in comments.
    case skippedGroups
    /// The include graph scanned now, looked up in the scan index (`Scanner/`).
    case scan
    /// The preprocessor's output (direct mode off, as ccache's preprocessor mode): `PreprocessedTextStrategy`.
    case preprocessedText
    /// The shared tier (`Remote/`), after every local strategy missed.
    case shared

    /// The order lookups try them in; a miss records them in the same order.
    static let order: [LookupStrategy] = [.manifest, .realPaths, .unreadOptions, .skippedGroups, .scan, .preprocessedText,
                                          .shared]

    /// Tried before a call waits for a writer of its key, and again after the wait; the shared tier only
    /// once, after them.
    static let local: [LookupStrategy] = [.manifest, .realPaths, .unreadOptions, .skippedGroups, .scan, .preprocessedText]

    /// Whether it finds calls that read more than headers (compile-and-link calls, module units): those are
    /// found by their own manifest only, whose entries hold what the link read (`LinkInputs`) or the
    /// compiled interfaces imported (`ModuleInputs`); the other strategies reason about headers alone.
    var servesOwnInputs: Bool { self == .manifest || self == .realPaths }

    /// Its name in `incrcc explain` and the log.
    var name: String {
        switch self {
        case .manifest: return "manifest"
        case .realPaths: return "real-path key"
        case .unreadOptions: return "unread options"
        case .skippedGroups: return "skipped groups and comments"
        case .scan: return "include scan"
        case .preprocessedText: return "preprocessor output"
        case .shared: return "shared tier"
        }
    }

    /// Whether the configuration lets it look at all; nil when it does, otherwise why not.
    func disabledReason(_ configuration: Configuration) -> String? {
        switch self {
        case .manifest, .realPaths, .unreadOptions, .skippedGroups:
            return configuration.directMode ? nil : "direct mode is off"
        case .scan:
            return configuration.scan == .never ? "scan = never" : nil
        case .preprocessedText:
            // Each lookup runs the preprocessor: only where ccache would (its preprocessor mode).
            return configuration.directMode ? "direct mode is on (the preprocessor's output is keyed only without it)" : nil
        case .shared:
            if !configuration.remote.isEnabled { return "no remote_storage is set" }
            return configuration.directMode ? nil : "direct mode is off"
        }
    }
}

/// One stored result a strategy would serve, and what serving it leaves to record.
struct LookupCandidate {
    var strategy: LookupStrategy
    /// The keyed call it was found for (the call itself, or it bound to its checkout or its real paths).
    var call: CachedCompile.Call
    var result: Digest
    /// The result's payload when the strategy read it already (the shared tier).
    var preloaded: [UInt8]? = nil
    /// What the hit is counted under besides the ordinary hit counters: one counter per hit.
    var counter: Counter? = nil
    var settlement: Settlement

    /// What a served candidate records so that the next identical call is a plain manifest hit.
    enum Settlement {
        /// Mark the manifest used; stats that settled since the entry was stored are trusted from now on.
        case manifestEntry(Manifest, index: Int, settled: [Int: FileStatus])
        /// A new entry under the call's own key (found across options or an edit); the changed header's
        /// skeleton kept for its next edit.
        case directEntry(files: [RecordedFile], absentPaths: [String], skeleton: CachedCompile.SkippedGroupsProof?)
        /// The scanned graph becomes a manifest entry.
        case scanned(IncludeGraph)
        /// Copied from the shared tier into the local store.
        case shared(CachedCompile.SharedFind)
        /// Found by the preprocessor's text: its entry marked used.
        case preprocessedText
    }
}

/// What `incrcc explain` collects while strategies look: one line per thing tried. Nil on the hit path,
/// where nothing is phrased (`notes?.add(…)` builds no string then).
final class LookupNotes {
    var lines: [String] = []
    /// The candidate being offered, named for the verdict's line.
    var subject = ""

    func add(_ line: String) { lines.append(line) }
}

import Glibc

/// The management commands: statistics, cleanup, size limit, configuration, version and help.
public struct Commands {
    public var configuration: Configuration

    public init(configuration: Configuration) {
        self.configuration = configuration
    }

    var store: CacheStore {
        CacheStore(directory: configuration.cacheDirectory, compressionLevel: configuration.compressionLevel,
                   uncompressedAbove: configuration.uncompressedAbove)
    }

    public static let version = "0.1.0"

    public func run(_ arguments: [String]) -> Int32 {
        // `-d DIR` / `--dir DIR` before a command: that cache instead of the configured one, as ccache's.
        if let first = arguments.first, first == "-d" || first == "--dir" || first.hasPrefix("--dir=") {
            let inline = first.hasPrefix("--dir=")
            guard inline || arguments.count > 1 else {
                Console.error("option '\(first)' needs a directory")
                return 1
            }
            var other = self
            other.configuration.cacheDirectory = inline ? String(first.dropFirst(6)) : arguments[1]
            return other.run(Array(arguments.dropFirst(inline ? 1 : 2)))
        }
        guard let first = arguments.first else {
            Console.write(Array(Self.usage.utf8), to: 2)
            return 1
        }
        // Commands that change the cache say so when its directory cannot be one, instead of reporting success.
        if ["-C", "--clear", "-c", "--cleanup", "-z", "--zero-stats"].contains(first),
           let status = try? FileSystem.statusIfExists(configuration.cacheDirectory), !status.isDirectory {
            Console.error("\(configuration.cacheDirectory) is not a directory: no cache to change")
            return 1
        }
        // Counts and entries of misses still being written after their calls returned are waited for.
        if ["-s", "--show-stats", "--print-stats", "-z", "--zero-stats", "-C", "--clear", "-c", "--cleanup", "-M", "--max-size",
            "-F", "--max-files"].contains(first) {
            BackgroundStore(store: store).waitForAllWriters()
        }
        if ["-M", "--max-size", "-k", "--get-config", "-o", "--set-config", "-F", "--max-files", "--evict-older-than",
            "--checksum-file", "--inspect", "-X", "--recompress"].contains(first), arguments.count < 2 {
            Console.error("option '\(first)' needs a value (see incrcc --help)")
            return 1
        }
        switch first {
        case "-s", "--show-stats":
            let verbose = arguments.dropFirst().contains { $0 == "-v" || $0 == "--verbose" }
            print(report().table(verbose: verbose), terminator: "")
        case "--print-stats":
            let format = arguments.count == 3 ? arguments[2]
                : arguments.count == 2 ? String(arguments[1].dropFirst("--format=".count)) : "tsv"
            switch format {
            case "tsv": print(report().tabSeparated(), terminator: "")
            case "json": print(report().json(), terminator: "")
            default:
                Console.error("unknown stats format '\(format)' (tsv or json)")
                return 1
            }
        case "-z", "--zero-stats":
            let now = UInt64(Clock.nowNanoseconds() / 1_000_000_000)
            for shard in 0..<StatsFiles.shardCount {
                do {
                    try store.stats.overwrite(shard: shard) { values in
                        for counter in Counter.allCases where counter != .filesInCache && counter != .cacheSizeBytes
                            && counter != .distrustedClasses {
                            values[counter] = 0
                        }
                        values[.statsZeroedTimestamp] = now
                    }
                } catch {
                    Console.error("cannot zero statistics: \(error)")
                    return 1
                }
            }
            print("Statistics zeroed")
        case "-C", "--clear":
            // Temporary files of calls still running stay (their compiles would fail without them); those
            // older than any compile are removed with the entries.
            Cleanup(store: store, maxSize: 0).cleanAll(limit: 0, now: Clock.nowNanoseconds())
            print("Cache cleared")
        case "-c", "--cleanup":
            Cleanup(store: store, maxSize: configuration.maxSize, maxFiles: configuration.maxFiles)
                .cleanAll(limit: configuration.maxSize == 0 ? UInt64.max : configuration.maxSize,
                          files: configuration.maxFiles == 0 ? UInt64.max : configuration.maxFiles, now: Clock.nowNanoseconds())
            print("Cleaned up cache")
        case "-M", "--max-size":
            return setMaxSize(arguments[1])
        case "-F", "--max-files":
            return setMaxFiles(arguments[1])
        case "--evict-older-than":
            return evict(olderThan: arguments[1], dryRun: arguments.dropFirst(2).contains("--dry-run"))
        case "--config-path":
            print(configuration.configurationFilePath)
        case "--checksum-file":
            return checksum(arguments[1])
        case "--show-log-stats":
            guard !configuration.statsLog.isEmpty else {
                Console.error("no stats_log is set (INCRCC_STATSLOG)")
                return 1
            }
            let text = (try? FileSystem.readFileIfExists(configuration.statsLog)) ?? nil
            let report = StatsReport(values: CallCounters.summed(log: text ?? []), maxSize: configuration.maxSize,
                                     cacheDirectory: configuration.cacheDirectory)
            print(report.table(verbose: arguments.dropFirst().contains { $0 == "-v" || $0 == "--verbose" }), terminator: "")
        case "-x", "--show-compression":
            for line in CompressionCommands(store: store, now: Clock.nowNanoseconds()).show() { print(line) }
        case "-X", "--recompress":
            return recompress(arguments[1])
        case "--inspect":
            switch EntryInspection(path: arguments[1]).lines() {
            case .success(let lines): for line in lines { print(line) }
            case .failure(let error):
                Console.error("cannot read \(arguments[1]): \(error)")
                return 1
            }
        case "-p", "--show-config":
            for (name, _) in Configuration.settings {
                let origin = configuration.origin(of: name)
                print("(\(origin)) \(name) = \(configuration.value(of: name))")
            }
        case "--version", "-V":
            print("incrcc version \(Self.version)")
        case "--print-version":
            print(Self.version)
        case "-k", "--get-config":
            return getConfig(arguments[1])
        case "-o", "--set-config":
            return setConfig(arguments[1])
        case "-h", "--help":
            print(Self.usage, terminator: "")
        default:
            if first.hasPrefix("--max-size=") { return setMaxSize(String(first.dropFirst("--max-size=".count))) }
            if first.hasPrefix("--max-files=") { return setMaxFiles(String(first.dropFirst("--max-files=".count))) }
            if first.hasPrefix("--evict-older-than=") {
                return evict(olderThan: String(first.dropFirst("--evict-older-than=".count)),
                             dryRun: arguments.dropFirst().contains("--dry-run"))
            }
            if first.hasPrefix("--checksum-file=") { return checksum(String(first.dropFirst("--checksum-file=".count))) }
            if first.hasPrefix("--get-config=") { return getConfig(String(first.dropFirst("--get-config=".count))) }
            if first.hasPrefix("--set-config=") { return setConfig(String(first.dropFirst("--set-config=".count))) }
            Console.error("unknown option '\(first)'")
            Console.write(Array(Self.usage.utf8), to: 2)
            return 1
        }
        return 0
    }

    func report() -> StatsReport {
        var values = store.stats.readAll()
        store.stats.printDamageReport()
        let trust = PatchTrust(cacheDirectory: configuration.cacheDirectory, requiredAgreements: configuration.trustAfter)
        values[.distrustedClasses] = UInt64(trust.distrustedCount())
        var report = StatsReport(values: values, maxSize: configuration.maxSize, cacheDirectory: configuration.cacheDirectory)
        report.updatedTimestamp = (0..<StatsFiles.shardCount).compactMap { shard in
            store.files.status(store.stats.path(shard: shard)).map { UInt64(max($0.modifiedNanoseconds, 0) / 1_000_000_000) }
        }.max() ?? 0
        return report
    }

    /// `-k KEY`: a setting's effective value, as ccache prints it (the key as in `incrcc.conf`).
    func getConfig(_ name: String) -> Int32 {
        guard Configuration.settings.contains(where: { $0.name == name }) else {
            Console.error("unknown configuration option '\(name)'")
            return 1
        }
        print(configuration.value(of: name))
        return 0
    }

    /// `-o KEY=VALUE`: checked as a setting, then written to the cache directory's `incrcc.conf`.
    func setConfig(_ assignment: String) -> Int32 {
        guard let equals = assignment.firstIndex(of: "=") else {
            Console.error("missing equal sign in '\(assignment)' (KEY=VALUE)")
            return 1
        }
        let name = String(assignment[..<equals]).trimmingSpaces()
        let value = String(assignment[assignment.index(after: equals)...]).trimmingSpaces()
        guard Configuration.settings.contains(where: { $0.name == name }) else {
            Console.error("unknown configuration option '\(name)'")
            return 1
        }
        var checked = configuration
        do {
            try checked.set(name, value, origin: .file(configuration.configurationFilePath))
        } catch {
            Console.error(error.message)
            return 1
        }
        if name == "max_size" { return setMaxSize(value) }
        return writeSetting(name, value) ? 0 : 1
    }

    /// Replaces `name`'s line in the cache directory's configuration file (adds one where there is none),
    /// keeping every other line as it was, blank lines and comments included.
    func writeSetting(_ name: String, _ value: String) -> Bool {
        let path = configuration.configurationFilePath
        let existing = (try? FileSystem.readFileIfExists(path)) ?? nil
        var lines = existing.map { String(decoding: $0, as: UTF8.self).split(separator: "\n", omittingEmptySubsequences: false)
            .map(String.init) } ?? []
        if lines.last == "" { lines.removeLast() }
        // The setting replaced where it stands (a later duplicate dropped), every other line kept as it is.
        let setting = "\(name) = \(value)"
        var placed = false
        lines = lines.compactMap { line in
            let trimmed = line.trimmingSpaces()
            guard trimmed.hasPrefix(name), trimmed.dropFirst(name.count).trimmingSpaces().hasPrefix("=") else { return line }
            defer { placed = true }
            return placed ? nil : setting
        }
        if !placed { lines.append(setting) }
        do {
            try FileSystem.makeDirectories(configuration.cacheDirectory)
            try FileSystem.writeAtomically(path, Array((lines.joined(separator: "\n") + "\n").utf8))
        } catch {
            Console.error("cannot write \(path): \(error)")
            return false
        }
        return true
    }

    /// Rewrites `max_size` in the cache directory's configuration file, keeping its other lines.
    func setMaxSize(_ text: String) -> Int32 {
        guard let size = SizeText.parse(text) else {
            Console.error("'\(text)' is not a size (examples: 500M, 5G, 2GiB, 0 for no limit)")
            return 1
        }
        guard writeSetting("max_size", text) else { return 1 }
        if size > 0 {
            Cleanup(store: store, maxSize: size).cleanAll(limit: size, now: Clock.nowNanoseconds())
            print("Set cache size limit to \(SizeText.format(size))")
        } else {
            print("Set cache size limit to unlimited")
        }
        return 0
    }

    func setMaxFiles(_ text: String) -> Int32 {
        guard let count = UInt64(text) else {
            Console.error("'\(text)' is not a number of files (0 for no limit)")
            return 1
        }
        guard writeSetting("max_files", text) else { return 1 }
        if count > 0 {
            Cleanup(store: store, maxSize: configuration.maxSize, maxFiles: count)
                .cleanAll(limit: configuration.maxSize == 0 ? .max : configuration.maxSize, files: count, now: Clock.nowNanoseconds())
            print("Set cache file limit to \(count)")
        } else {
            print("Set cache file limit to unlimited")
        }
        return 0
    }

    /// `--evict-older-than AGE`: entries not used for AGE (`30d`, `12h`, `90m`, `3600s`, or seconds alone)
    /// are removed; with `--dry-run` only counted.
    func evict(olderThan text: String, dryRun: Bool) -> Int32 {
        guard let seconds = Self.ageSeconds(text) else {
            Console.error("'\(text)' is not an age (examples: 30d, 12h, 90m, 3600s)")
            return 1
        }
        BackgroundStore(store: store).waitForAllWriters()
        let now = Clock.nowNanoseconds()
        let removed = Cleanup(store: store, maxSize: configuration.maxSize)
            .evict(usedBefore: now - Int64(clamping: seconds) * 1_000_000_000, dryRun: dryRun, now: now)
        print((dryRun ? "Would evict " : "Evicted ") + "\(removed.entries) entries (\(SizeText.format(UInt64(max(removed.bytes, 0)))))")
        return 0
    }

    /// An age as ccache writes it: a number with `d`, `h`, `m` or `s` (seconds when none).
    static func ageSeconds(_ text: String) -> UInt64? {
        guard let last = text.last else { return nil }
        let units: [Character: UInt64] = ["d": 86_400, "h": 3_600, "m": 60, "s": 1]
        let unit = units[last]
        guard let number = UInt64(unit == nil ? text : String(text.dropLast())) else { return nil }
        return number.multipliedReportingOverflow(by: unit ?? 1).overflow ? nil : number * (unit ?? 1)
    }

    /// `-X LEVEL`: every entry framed again at zstd `LEVEL` (1 to 19), or stored raw (`uncompressed`, 0).
    func recompress(_ value: String) -> Int32 {
        let level: Int32?
        if value == "uncompressed" || value == "0" {
            level = nil
        } else if let number = Int32(value), (1...19).contains(number) {
            level = number
        } else {
            Console.error("recompress: '\(value)' is not a level from 1 to 19, or uncompressed")
            return 1
        }
        BackgroundStore(store: store).waitForAllWriters()
        let count = CompressionCommands(store: store, now: Clock.nowNanoseconds())
            .recompress(level: level, uncompressedAbove: configuration.uncompressedAbove)
        print("Recompressed \(count) entries" + (level.map { " at level \($0)" } ?? ", stored uncompressed"))
        return 0
    }

    /// `--checksum-file PATH`: the XXH3-128 digest of a file (`-`: standard input) in hexadecimal.
    func checksum(_ path: String) -> Int32 {
        let bytes: [UInt8]
        do {
            if path == "-" {
                bytes = try Self.readStream(0, path: "standard input")
            } else {
                let fd = try FileSystem.open(path, O_RDONLY)
                defer { close(fd) }
                bytes = try Self.readStream(fd, path: path)
            }
        } catch {
            Console.error("cannot read \(path): \(error)")
            return 1
        }
        print(Digest.of(bytes).hex)
        return 0
    }

    /// A file to its end, whatever it is (a pipe or a device has no size).
    static func readStream(_ fd: Int32, path: String) throws(SystemError) -> [UInt8] {
        var bytes: [UInt8] = []
        var chunk = [UInt8](repeating: 0, count: 65_536)
        while true {
            let n = chunk.withUnsafeMutableBytes { Glibc.read(fd, $0.baseAddress, $0.count) }
            if n == 0 { return bytes }
            if n < 0 {
                if errno == EINTR { continue }
                throw SystemError("read", path)
            }
            bytes += chunk[..<n]
        }
    }

    public static let usage = """
        Usage:
            incrcc COMPILER [COMPILER OPTIONS]   compile through the cache (incrcc gcc -c foo.c)
            incrcc [COMPILER OPTIONS]            the same with cc (incrcc++: c++), as CC=incrcc
            incrcc OPTION                        manage the cache

        Options:
            -s, --show-stats         show statistics
                --print-stats        statistics as key<TAB>value lines (--format json for JSON)
            -z, --zero-stats         zero statistics (cache size and file count are kept)
            -C, --clear              remove every cached entry
            -c, --cleanup            shrink the cache to its size limit
            -M, --max-size SIZE      set the size limit in the cache's incrcc.conf (0: no limit)
            -F, --max-files N        set the limit of results and manifests (0: no limit)
                --evict-older-than AGE  remove entries unused for AGE (30d, 12h, 90m, 3600s); --dry-run counts
            -d, --dir DIR            use the cache in DIR for the command that follows
                --config-path        print the path of the cache's incrcc.conf
                --checksum-file PATH print the XXH3-128 digest of PATH (- for standard input)
                --inspect PATH       print what one cache entry holds (kind, compression, files, digests)
            -x, --show-compression   show what compression saves across the entries
                --show-log-stats     show the counters the stats_log file holds (one build's, say)
            -X, --recompress LEVEL   frame every entry again at zstd LEVEL (1-19), or uncompressed
            -p, --show-config        show the effective configuration and where each value came from
            -k, --get-config KEY     print the effective value of one setting
            -o, --set-config KEY=VAL set a setting in the cache's incrcc.conf
                --print-version      print the version number alone
                explain COMPILER ARGS  whether the call would hit, and what differs when not
            -V, --version            print the version
            -h, --help               print this help

        Environment: INCRCC_DIR, INCRCC_CC, INCRCC_CXX, INCRCC_DISABLE, INCRCC_RECACHE, INCRCC_MAXSIZE,
        INCRCC_COMPRESSLEVEL, INCRCC_LOGFILE, INCRCC_NODIRECT, INCRCC_UMASK, INCRCC_NORMALIZE,
        INCRCC_STORE_DIRS, INCRCC_TEMP_DIRS, INCRCC_BASEDIR, INCRCC_VERIFY_RATE, INCRCC_TRUST_AFTER, INCRCC_MAXFILES,
        INCRCC_SCAN, INCRCC_PREFIX, INCRCC_REMOTE_STORAGE.
        See incrcc(1).

        """
}

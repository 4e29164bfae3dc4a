import Glibc

/// Where a setting's effective value came from, shown by `incrcc -p`.
public enum SettingOrigin: Equatable, Sendable, CustomStringConvertible {
    case defaultValue
    case file(String)
    case environment(String)

    public var description: String {
        switch self {
        case .defaultValue: return "default"
        case .file(let path): return path
        case .environment(let name): return "environment " + name
        }
    }
}

/// A configuration problem: the message names the file or variable and the bad value.
public struct ConfigurationError: Error, Sendable, CustomStringConvertible {
    public var message: String
    /// The call stops with this error instead of compiling without the cache (a value whose meaning is in
    /// doubt, which ccache refuses too).
    public var isFatal = false
    public init(_ message: String, isFatal: Bool = false) {
        self.message = message
        self.isFatal = isFatal
    }
    public var description: String { message }
}

/// Every setting incrcc reads, with its effective value and origin. Layering: defaults, then
/// `/etc/incrcc.conf`, then `<cache dir>/incrcc.conf`, then `INCRCC_*` variables.
public struct Configuration: Sendable {
    public var cacheDirectory: String
    public var maxSize: UInt64 = 5_000_000_000
    /// The most results and manifests the cache keeps (ccache's `max_files`); 0: no limit.
    public var maxFiles: UInt64 = 0
    /// Loaded for a management command: a bad setting is kept in `problems` and its default used, so that
    /// `-M` or `-o` can mend the file that holds it.
    var lenient = false
    public var problems: [ConfigurationError] = []
    /// zstd level 1: the store's write cost stays far below a compile's, and objects still shrink about 3×.
    public var compressionLevel: Int32 = 1
    /// Entries at least this large are stored uncompressed (`CacheStore.uncompressedAbove`); 0: none.
    public var uncompressedAbove = 1 << 20
    public var cCompiler: String = "cc"
    public var cxxCompiler: String = "c++"
    public var disable = false
    public var recache = false
    /// `read_only`: look up, never store (a CI job reading a cache it must not change); counted as usual.
    public var readOnly = false
    /// Which links are cached (`LinkOptions`). `probes` (the default): compile-and-link calls of one source,
    /// configure's probes, whose programs are small; `all`: links of objects too, which store every
    /// program's bytes (binutils' 17 programs took its cache from 32 to 124 MB, for 5-7 % of a warm
    /// rebuild); `none`: every link runs uncached, as with ccache.
    public var linkCache = LinkCache.probes

    public enum LinkCache: String, Sendable { case none, probes, all }
    public var logFile: String = ""
    /// `stats_log`: a file each call appends its counters to (ccache's format), for one build's statistics.
    public var statsLog: String = ""
    /// `temporary_dir`: where a call's temporary files go (empty: the cache's `tmp`).
    public var temporaryDirectory: String = ""
    public var directMode = true
    public var umask: UInt32? = nil
    /// Replace store hashes and other throw-away path parts by placeholders in keys and stored outputs.
    public var normalize = true
    /// Store directories besides `NIX_STORE` (default `/nix/store`) whose hashes are normalized.
    public var storeDirectories: [String] = []
    /// `mkdtemp`-style templates (`/scratch/build-XXXXXXXX`) of throw-away directories to normalize
    /// besides the built-in ones.
    public var temporaryDirectoryTemplates: [String] = []
    /// Checkouts under this directory share results: the checkout a call builds in is keyed as a token,
    /// as ccache's `base_dir` lets several checkouts share entries. Empty: off.
    public var baseDirectory: String = ""
    /// The share of ordinary hits compiled anyway and compared with what the cache would serve.
    public var verifyRate: Double = 0.01
    /// Agreeing verifications after moves before a unit that reads a moving path is served patched. Every
    /// failure mode measured (gcc `-g` with a moved `-frandom-seed`, compressed debug sections, a wide or
    /// hashed `__FILE__`) disagreed on the very first comparison; one agreement keeps a reinstall's second
    /// round free of compiles.
    public var trustAfter = 1
    /// When the include scan runs. `auto`: with direct mode off, every miss indexes its result under its
    /// directive graph and every lookup scans; with direct mode on, nothing is indexed, and a lookup scans only
    /// where no manifest exists but an index does (written with direct mode off, or under `always`). Indexing
    /// in direct mode would serve only calls whose manifest is gone, and the size-limit cleanup removes an
    /// index before its manifest (direct hits refresh manifests, never indexes), while it cost a third of a
    /// miss: a small C miss 8.2 M instructions with it, 5.5 M without; a binutils cold build +6.6 % against
    /// +1.3 % over plain. `always` indexes every miss (with libclang where directives cannot be followed)
    /// and scans whenever the manifest gives no hit (its load alone costs more than a whole directive scan,
    /// measured in bench/RESULTS.md).
    public var scan = ScanMode.auto
    /// Write a miss's entries after the call returns (see `BackgroundStore`); off: before it returns.
    public var backgroundStore = true
    /// ccache's trades, under its names (`CompatibilitySettings`).
    public var compatibility = CompatibilitySettings()
    public var remote = RemoteSettings()
    /// Origins in the order of `settings`; an array, not a dictionary: this runs on every compile, and
    /// a dictionary's first use costs more instructions here than the rest of the lookup.
    var originList: [SettingOrigin] = Array(repeating: .defaultValue, count: Configuration.settings.count)

    public func origin(of name: String) -> SettingOrigin {
        guard let index = Self.settings.firstIndex(where: { $0.name == name }) else { return .defaultValue }
        return originList[index]
    }

    mutating func setOrigin(_ name: String, _ origin: SettingOrigin) {
        if let index = Self.settings.firstIndex(where: { $0.name == name }) { originList[index] = origin }
    }

    /// Setting names in the order `-p` prints them, with their environment variable.
    public static let settings: [(name: String, variable: String)] = [
        ("cache_dir", "INCRCC_DIR"), ("max_size", "INCRCC_MAXSIZE"), ("max_files", "INCRCC_MAXFILES"),
        ("compression_level", "INCRCC_COMPRESSLEVEL"), ("uncompressed_above", "INCRCC_UNCOMPRESSED_ABOVE"),
        ("cc", "INCRCC_CC"), ("cxx", "INCRCC_CXX"),
        ("disable", "INCRCC_DISABLE"), ("recache", "INCRCC_RECACHE"), ("link_cache", "INCRCC_LINK_CACHE"), ("log_file", "INCRCC_LOGFILE"), ("stats_log", "INCRCC_STATSLOG"), ("temporary_dir", "INCRCC_TEMPDIR"),
        ("direct_mode", "INCRCC_DIRECT"), ("umask", "INCRCC_UMASK"), ("normalize", "INCRCC_NORMALIZE"),
        ("store_dirs", "INCRCC_STORE_DIRS"),
        ("temp_dirs", "INCRCC_TEMP_DIRS"), ("base_dir", "INCRCC_BASEDIR"), ("verify_rate", "INCRCC_VERIFY_RATE"), ("trust_after", "INCRCC_TRUST_AFTER"),
        ("scan", "INCRCC_SCAN"), ("background_store", "INCRCC_BACKGROUND_STORE"), ("read_only", "INCRCC_READONLY"),
    ] + CompatibilitySettings.names + RemoteSettings.names

    public static let systemConfigurationPath = "/etc/incrcc.conf"

    public init(cacheDirectory: String) {
        self.cacheDirectory = cacheDirectory
    }

    public var configurationFilePath: String { cacheDirectory + "/incrcc.conf" }

    /// Reads the whole layered configuration. `lookup` reads a variable, `readFile` a file (nil when absent),
    /// so tests can drive it without touching the process.
    public static func load(
        lookup: (String) -> String? = Environment.value,
        readFile: (String) -> [UInt8]? = { try? FileSystem.readFileIfExists($0) },
        systemPath: String = systemConfigurationPath,
        lenient: Bool = false
    ) throws(ConfigurationError) -> Configuration {
        var config = Configuration(cacheDirectory: defaultCacheDirectory(lookup: lookup))
        config.lenient = lenient
        if let bytes = readFile(systemPath) {
            try config.apply(file: bytes, path: systemPath)
        }
        if let dir = lookup("INCRCC_DIR"), !dir.isEmpty {
            try config.set("cache_dir", dir, origin: .environment("INCRCC_DIR"))
        }
        if let bytes = readFile(config.configurationFilePath) {
            let path = config.configurationFilePath
            try config.apply(file: bytes, path: path)
            if config.origin(of: "cache_dir") == .file(path) {
                throw ConfigurationError("\(path): cache_dir cannot be set in the cache directory's own file")
            }
        }
        for (name, variable) in settings where name != "cache_dir" {
            if let value = lookup(variable) {
                do {
                    try config.set(name, value, origin: .environment(variable))
                } catch {
                    guard lenient, !error.isFatal else { throw error }
                    config.problems.append(ConfigurationError("\(variable): \(error.message)"))
                }
            }
        }
        try config.applyNegativeForms(lookup: lookup)
        return config
    }

    static func defaultCacheDirectory(lookup: (String) -> String?) -> String {
        if let xdg = lookup("XDG_CACHE_HOME"), xdg.hasPrefix("/") { return xdg + "/incrcc" }
        if let home = lookup("HOME"), !home.isEmpty { return home + "/.cache/incrcc" }
        // Per user: a fixed name in /tmp could be created first by someone else.
        return "/tmp/incrcc-" + String(geteuid())
    }

    /// Applies `key = value` lines; `#` starts a comment line.
    mutating func apply(file bytes: [UInt8], path: String) throws(ConfigurationError) {
        var lineNumber = 0
        for rawLine in String(decoding: bytes, as: UTF8.self).split(separator: "\n", omittingEmptySubsequences: false) {
            lineNumber += 1
            let line = rawLine.trimmingSpaces()
            if line.isEmpty || line.hasPrefix("#") { continue }
            do throws(ConfigurationError) {
                guard let eq = line.firstIndex(of: "=") else {
                    throw ConfigurationError("\(path):\(lineNumber): expected 'key = value', got '\(line)'")
                }
                let key = line[..<eq].trimmingSpaces()
                let value = line[line.index(after: eq)...].trimmingSpaces()
                do {
                    try set(key, value, origin: .file(path))
                } catch {
                    throw ConfigurationError("\(path):\(lineNumber): \(error.message)")
                }
            } catch {
                guard lenient else { throw error }
                problems.append(error)
            }
        }
    }

    /// Sets one named setting from text.
    public mutating func set(_ name: String, _ value: String, origin: SettingOrigin) throws(ConfigurationError) {
        switch name {
        case "cache_dir":
            guard value.hasPrefix("/") else { throw ConfigurationError("cache_dir must be an absolute path, got '\(value)'") }
            cacheDirectory = value
        case "max_size":
            guard let size = SizeText.parse(value) else {
                throw ConfigurationError("max_size: '\(value)' is not a size (examples: 500M, 5G, 2GiB, 0 for no limit)")
            }
            maxSize = size
        case "max_files":
            guard let count = UInt64(value) else {
                throw ConfigurationError("max_files: '\(value)' is not a number of files (0 for no limit)")
            }
            maxFiles = count
        case "compression_level":
            guard let level = Int32(value), (-5...19).contains(level) else {
                throw ConfigurationError("compression_level: '\(value)' is not a zstd level from -5 to 19")
            }
            compressionLevel = level
        case "uncompressed_above":
            guard let size = SizeText.parse(value), size <= UInt64(Int.max) else {
                throw ConfigurationError("uncompressed_above: '\(value)' is not a size (examples: 1M, 512k, 0 to compress all)")
            }
            uncompressedAbove = size == 0 ? Int.max : Int(size)
        case "cc":
            guard !value.isEmpty else { throw ConfigurationError("cc: empty compiler name") }
            cCompiler = value
        case "cxx":
            guard !value.isEmpty else { throw ConfigurationError("cxx: empty compiler name") }
            cxxCompiler = value
        case "disable": disable = try Self.boolean(name, value, origin: origin)
        case "recache": recache = try Self.boolean(name, value, origin: origin)
        case "link_cache":
            switch value {
            case "probes": linkCache = .probes
            case "all", "true": linkCache = .all
            case "none", "false": linkCache = .none
            default: throw ConfigurationError("link_cache: '\(value)' is not probes, all or none")
            }
        case "direct_mode": directMode = try Self.boolean(name, value, origin: origin)
        case "log_file": logFile = value
        case "stats_log": statsLog = value
        case "temporary_dir":
            guard value.isEmpty || value.hasPrefix("/") else {
                throw ConfigurationError("temporary_dir: '\(value)' is not an absolute directory")
            }
            temporaryDirectory = value
        case "umask":
            guard let mask = UInt32(value, radix: 8), mask <= 0o777 else {
                throw ConfigurationError("umask: '\(value)' is not an octal mask such as 002")
            }
            umask = mask
        case "normalize": normalize = try Self.boolean(name, value, origin: origin)
        case "store_dirs":
            let directories = value.split(separator: ":").map(String.init)
            guard directories.allSatisfy({ $0.hasPrefix("/") && $0.count > 1 }) else {
                throw ConfigurationError("store_dirs: '\(value)' is not a colon-separated list of absolute directories")
            }
            storeDirectories = directories.map { $0.hasSuffix("/") ? String($0.dropLast()) : $0 }
        case "temp_dirs":
            let templates = value.split(separator: ":").map(String.init)
            for template in templates where EphemeralPathRule.template(template) == nil {
                throw ConfigurationError("temp_dirs: '\(template)' is not a directory template ending in at least "
                                         + "\(EphemeralPathRule.minimumRandomLength) Xs, such as /scratch/build-XXXXXXXX")
            }
            temporaryDirectoryTemplates = templates
        case "base_dir":
            let directories = value.split(separator: ":").map { $0.count > 1 && $0.hasSuffix("/") ? $0.dropLast() : $0 }
            guard directories.allSatisfy({ $0.hasPrefix("/") }) else {
                throw ConfigurationError("base_dir: '\(value)' is not an absolute directory (or a colon-separated list)")
            }
            baseDirectory = directories.joined(separator: ":")
        case "verify_rate":
            guard let rate = Self.fraction(value) else {
                throw ConfigurationError("verify_rate: '\(value)' is not a fraction from 0 to 1 (or a percentage such as 1%)")
            }
            verifyRate = rate
        case "trust_after":
            guard let count = Int(value), (1...1000).contains(count) else {
                throw ConfigurationError("trust_after: '\(value)' is not a count from 1 to 1000")
            }
            trustAfter = count
        case "scan":
            guard let mode = ScanMode(rawValue: value.lowercased()) else {
                throw ConfigurationError("scan: '\(value)' is not auto, always or never")
            }
            scan = mode
        case "background_store": backgroundStore = try Self.boolean(name, value, origin: origin)
        case "read_only": readOnly = try Self.boolean(name, value, origin: origin)
        default:
            var known = try compatibility.set(name, value, origin: origin)
            if !known { known = try remote.set(name, value, origin: origin) }
            guard known else {
                throw ConfigurationError("unknown setting '\(name)'")
            }
        }
        setOrigin(name, origin)
    }

    /// Files take true/false; a variable that is set counts as true unless it says 0, false, no or off.
    static func boolean(_ name: String, _ value: String, origin: SettingOrigin) throws(ConfigurationError) -> Bool {
        if case .environment(let variable) = origin {
            guard let boolean = presenceBooleans.first(where: { $0.variable == variable }) else { return isTrue(value) }
            return try presenceBoolean(variable, value, other: boolean.negative)
        }
        switch value.lowercased() {
        case "true", "yes", "1", "on": return true
        case "false", "no", "0", "off": return false
        default: throw ConfigurationError("\(name): '\(value)' is not true or false")
        }
    }

    /// `0.01`, `1%`, `0` or `1`.
    static func fraction(_ value: String) -> Double? {
        let number = value.hasSuffix("%") ? Double(value.dropLast()).map { $0 / 100 } : Double(value)
        guard let number, number >= 0, number <= 1 else { return nil }
        return number
    }

    static func isTrue(_ value: String) -> Bool {
        !["0", "false", "no", "off"].contains(value.lowercased())
    }

    /// The effective value of a setting, as text.
    public func value(of name: String) -> String {
        switch name {
        case "cache_dir": return cacheDirectory
        case "max_size": return SizeText.format(maxSize)
        case "max_files": return String(maxFiles)
        case "compression_level": return String(compressionLevel)
        case "uncompressed_above": return uncompressedAbove == Int.max ? "0" : SizeText.format(UInt64(uncompressedAbove))
        case "cc": return cCompiler
        case "cxx": return cxxCompiler
        case "disable": return String(disable)
        case "recache": return String(recache)
        case "link_cache": return linkCache.rawValue
        case "log_file": return logFile
        case "stats_log": return statsLog
        case "temporary_dir": return temporaryDirectory.isEmpty ? cacheDirectory + "/tmp" : temporaryDirectory
        case "direct_mode": return String(directMode)
        case "umask": return umask.map { "0" + String($0, radix: 8) } ?? ""
        case "normalize": return String(normalize)
        case "store_dirs": return storeDirectories.joined(separator: ":")
        case "temp_dirs": return temporaryDirectoryTemplates.joined(separator: ":")
        case "base_dir": return baseDirectory
        case "verify_rate": return String(verifyRate)
        case "trust_after": return String(trustAfter)
        case "scan": return scan.rawValue
        case "background_store": return String(backgroundStore)
        case "read_only": return String(readOnly)
        default: return compatibility.value(of: name) ?? remote.value(of: name) ?? ""
        }
    }
}

extension Configuration {
    /// Whether a miss indexes its result for scans.
    var indexesForScans: Bool {
        switch scan {
        case .always: return true
        case .auto: return !directMode
        case .never: return false
        }
    }
}

/// When incrcc scans a translation unit's includes (see `Configuration.scan`).
public enum ScanMode: String, Sendable {
    /// Index misses and scan lookups with direct mode off; with it on, scan only where an index exists and
    /// no manifest does.
    case auto
    /// Index every miss (with libclang where directives cannot be followed), scan whenever the manifest
    /// gives no hit.
    case always
    /// Neither index nor scan.
    case never
}

extension StringProtocol {
    func trimmingSpaces() -> String {
        var scalars = Substring(self)
        while let first = scalars.first, first == " " || first == "\t" || first == "\r" { scalars.removeFirst() }
        while let last = scalars.last, last == " " || last == "\t" || last == "\r" { scalars.removeLast() }
        return String(scalars)
    }
}

import Glibc

/// One kind of path part that changes from build to build while what it names stays the same. Every rule
/// finds such parts in a byte string; everything else (collecting, placeholders, patching back, trust) is
/// shared, so a new kind of throw-away path is one more case here.
public enum EphemeralPathRule: Sendable, Equatable {
    /// `<store dir>/<32 characters of Nix base32>-<name>`: the hash. The name stays in the key, so a
    /// version bump that changes it is simply another key.
    case storeHash(directory: String)
    /// A directory made by `mkdtemp` and friends: `needle` (a literal path ending in the name's fixed
    /// prefix, such as `/tmp/tmp` or `/builds-v0/.tmp`) followed by `length` random name characters that
    /// end the path component. Parsed from templates such as `/tmp/tmpXXXXXXXX`.
    case randomName(needle: [UInt8], length: Int)

    /// Nix's base32 alphabet: digits and lowercase letters without e, o, t, u.
    static let nixBase32: [Bool] = {
        var table = [Bool](repeating: false, count: 256)
        for byte in "0123456789abcdfghijklmnpqrsvwxyz".utf8 { table[Int(byte)] = true }
        return table
    }()

    static let storeHashLength = 32

    /// The byte ranges of the ephemeral parts in `bytes`, in order.
    public func parts(in bytes: [UInt8]) -> [Range<Int>] {
        switch self {
        case .storeHash(let directory):
            let prefix = Array((directory.hasSuffix("/") ? directory : directory + "/").utf8)
            var found: [Range<Int>] = []
            var offset = 0
            while let start = ByteSearch.find(prefix, in: bytes, from: offset) {
                let hashStart = start + prefix.count
                let hashEnd = hashStart + Self.storeHashLength
                offset = hashStart
                guard hashEnd < bytes.count, bytes[hashEnd] == UInt8(ascii: "-") else { continue }
                guard bytes[hashStart..<hashEnd].allSatisfy({ Self.nixBase32[Int($0)] }) else { continue }
                found.append(hashStart..<hashEnd)
                offset = hashEnd
            }
            return found
        case .randomName(let needle, let length):
            var found: [Range<Int>] = []
            var offset = 0
            while let start = ByteSearch.find(needle, in: bytes, from: offset) {
                let nameStart = start + needle.count
                let nameEnd = nameStart + length
                offset = start + 1
                guard nameEnd <= bytes.count, bytes[nameStart..<nameEnd].allSatisfy({ Self.randomNameCharacters[Int($0)] })
                else { continue }
                if nameEnd < bytes.count, Self.nameContinues[Int(bytes[nameEnd])] { continue }
                found.append(nameStart..<nameEnd)
                offset = nameEnd
            }
            return found
        }
    }

    /// What `mkdtemp`-style names are drawn from: Python's `tempfile` uses lowercase letters, digits and
    /// `_`; Rust's `tempfile` (uv) and `mkdtemp(3)` use both cases and digits.
    static let randomNameCharacters: [Bool] = {
        var table = [Bool](repeating: false, count: 256)
        for byte in "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_".utf8 { table[Int(byte)] = true }
        return table
    }()

    /// Bytes that would make a matched name longer than the template says, so not that directory.
    static let nameContinues: [Bool] = {
        var table = randomNameCharacters
        for byte in ".-".utf8 { table[Int(byte)] = true }
        return table
    }()

    /// Shortest random part a template may have: a placeholder needs five letters for its slot and one more
    /// so that it cannot be mistaken for a real name that happens to use the same letters.
    public static let minimumRandomLength = 6

    /// Parses a template: a path (absolute, or a tail such as `builds-v0/.tmp` that may sit in any
    /// directory) ending in at least six `X`s, which stand for the random characters.
    public static func template(_ text: String) -> EphemeralPathRule? {
        var head = Array(text.utf8)
        var length = 0
        while head.last == UInt8(ascii: "X") {
            head.removeLast()
            length += 1
        }
        guard length >= minimumRandomLength, !head.isEmpty, head.last != UInt8(ascii: "/") || head.count > 1,
              !head.contains(UInt8(ascii: " ")) else { return nil }
        if head.first != UInt8(ascii: "/") { head.insert(UInt8(ascii: "/"), at: 0) }
        return .randomName(needle: head, length: length)
    }

    /// Templates for the throw-away directories of Python builds, in any temp directory: uv's isolated
    /// build environments (`<uv cache>/builds-v0/.tmpXXXXXX`), pip's (`pip-build-env-XXXXXXXX` and its
    /// other work dirs), and `tempfile.mkdtemp()` (`tmpXXXXXXXX`), which scikit-build-core and setuptools'
    /// isolated builds use for their build trees; uv's own temp dirs are `.tmpXXXXXX`. Build systems' own
    /// check compiles: CMake's `try_compile` dirs and meson's compiler checks.
    public static func builtinTemplates(lookup: (String) -> String?) -> [String] {
        var templates = ["builds-v0/.tmpXXXXXX", "CMakeScratch/TryCompile-XXXXXX", "meson-private/tmpXXXXXXXX"]
        for kind in ["build-env", "req-build", "install", "wheel", "modern-metadata", "ephem-wheel-cache", "unpack"] {
            templates.append("pip-\(kind)-XXXXXXXX")
        }
        var temporaryDirectories: [String] = []
        for candidate in [lookup("TMPDIR"), lookup("TEMP"), lookup("TMP"), "/tmp", "/var/tmp"] {
            guard var directory = candidate, directory.hasPrefix("/"), directory.count > 1 else { continue }
            while directory.count > 1, directory.hasSuffix("/") { directory.removeLast() }
            if !temporaryDirectories.contains(directory) { temporaryDirectories.append(directory) }
        }
        for directory in temporaryDirectories {
            templates += [directory + "/tmpXXXXXXXX", directory + "/.tmpXXXXXX"]
        }
        return templates
    }

    /// The rules in force: the Nix store (`NIX_STORE`, default `/nix/store`) and any extra store dirs, the
    /// built-in temp-dir templates and the configured ones.
    public static func rules(configuration: Configuration, lookup: (String) -> String?) -> [EphemeralPathRule] {
        guard configuration.normalize else { return [] }
        var directories = [lookup("NIX_STORE").flatMap { $0.hasPrefix("/") ? $0 : nil } ?? "/nix/store"]
        for directory in configuration.storeDirectories where !directories.contains(directory) {
            directories.append(directory)
        }
        var rules = directories.map { EphemeralPathRule.storeHash(directory: $0) }
        for text in builtinTemplates(lookup: lookup) + configuration.temporaryDirectoryTemplates {
            if let rule = template(text), !rules.contains(rule) { rules.append(rule) }
        }
        return rules
    }
}

/// Builds one call's `PathMapping` from the inputs that reach its key.
public struct PathMappingBuilder {
    public var rules: [EphemeralPathRule]

    public init(rules: [EphemeralPathRule]) {
        self.rules = rules
    }

    static let seedOption = Array("-frandom-seed=".utf8)

    /// `keyed` are the key's inputs in key order; `related` gives values that name paths of this build
    /// without being keyed (`$out`, whose hash prefix nixpkgs uses as `-frandom-seed`), asked only when a
    /// seed is there to normalize. Empty when nothing is ephemeral, or when normalizing would not be
    /// exactly reversible for some input.
    public func mapping(keyed: [String], related: () -> [String] = { [] }, normalizeSeeds: Bool = true) -> PathMapping {
        var mapping = PathMapping()
        guard !rules.isEmpty else { return mapping }
        let keyedBytes = keyed.map { Array($0.utf8) }
        let seeded = normalizeSeeds && keyedBytes.contains { ByteSearch.find(Self.seedOption, in: $0) != nil }
        for bytes in keyedBytes + (seeded ? related().map { Array($0.utf8) } : []) {
            var ranges: [Range<Int>] = []
            for rule in rules { ranges += rule.parts(in: bytes) }
            ranges.sort { $0.lowerBound < $1.lowerBound }
            for range in ranges where !mapping.add(Array(bytes[range])) { return PathMapping() }
        }
        guard !mapping.isEmpty, normalizeSeeds else { return mapping }
        for bytes in keyedBytes {
            var offset = 0
            while let start = ByteSearch.find(Self.seedOption, in: bytes, from: offset) {
                let valueStart = start + Self.seedOption.count
                var valueEnd = valueStart
                while valueEnd < bytes.count, bytes[valueEnd] != UInt8(ascii: " "), bytes[valueEnd] != UInt8(ascii: "\t") {
                    valueEnd += 1
                }
                offset = valueEnd
                if valueEnd - valueStart > PathMapping.slotLetters {
                    _ = mapping.addPrefix(Array(bytes[valueStart..<valueEnd]))
                }
            }
        }
        for bytes in keyedBytes where !mapping.roundTrips(bytes) { return PathMapping() }
        return mapping
    }
}

extension CompileRequest {
    /// Whether the `-frandom-seed` value lands in the debug info, where it cannot be patched: gcc records
    /// its switches in DW_AT_producer (`-grecord-gcc-switches` is on by default) and orders `.debug_str` by
    /// string hash, so a new seed moves strings around. Measured: patching a moved seed into gcc `-g`
    /// objects failed in most trials but not all, so verification alone would sometimes trust it. Such
    /// seeds stay raw in the key. clang records no switches unless asked to.
    public func seedReachesDebugInfo(_ family: CompilerFamily) -> Bool {
        var debugInfo = false
        var recordsCommandLine = family != .clang
        for argument in keyedArguments where argument.hasPrefix("-g") || argument.hasPrefix("-f") {
            switch argument {
            case "-g0":
                debugInfo = false
            case "-gno-record-gcc-switches", "-gno-record-command-line", "-fno-record-command-line",
                 "-fno-record-gcc-switches":
                recordsCommandLine = false
            case "-grecord-gcc-switches", "-grecord-command-line", "-frecord-command-line", "-frecord-gcc-switches":
                recordsCommandLine = true
            default:
                if argument.hasPrefix("-g") && !argument.hasPrefix("-gno-") && !argument.hasPrefix("-gz") {
                    debugInfo = true
                }
            }
        }
        return debugInfo && recordsCommandLine
    }
}

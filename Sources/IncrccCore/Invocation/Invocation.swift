/// How incrcc was called, decided from argv[0] and the first argument.
public enum Invocation: Equatable, Sendable {
    /// `incrcc -s`, `incrcc --help`, …
    case command([String])
    /// A compile: which compiler to find, and the arguments after it.
    /// `defaultC`/`defaultCXX`: incrcc stands in for the compiler (`CC=incrcc`, `incrcc++`);
    /// `masquerade`: called through a link named like the compiler; `explicit`: `incrcc gcc …`.
    case compile(CompilerChoice, [String])

    public enum CompilerChoice: Equatable, Sendable {
        case defaultC
        case defaultCXX
        case masquerade(String)
        case explicit(String)
    }

    /// Commands are recognised only in the forms they take, so that `CC=incrcc` compiles such as
    /// `incrcc -c foo.c` still reach the compiler.
    public static func decide(_ argv: [String], exists: (String) -> Bool = FileSystem.exists,
                              isCompilerName: (String) -> Bool) -> Invocation {
        let name = Path.baseName(argv.first ?? "incrcc")
        var rest = Array(argv.dropFirst())
        let isOwnName = name.hasPrefix("incrcc")
        guard isOwnName else { return .compile(.masquerade(name), rest) }
        let isCXX = name.hasSuffix("++")
        if !isCXX {
            if rest.isEmpty || isCommand(rest) { return .command(rest) }
        }
        // `incrcc incrcc gcc …` (a wrapper that adds incrcc to a command that already has it): once is enough.
        while let first = rest.first, Path.baseName(first).hasPrefix("incrcc"), !first.hasPrefix("-") {
            rest.removeFirst()
        }
        if let first = rest.first, !first.hasPrefix("-") {
            if isCompilerName(first) { return .compile(.explicit(first), Array(rest.dropFirst())) }
            // A word without an extension that names no file is a compiler that is not there (exit 127),
            // not an input for cc.
            if !Path.baseName(first).contains("."), !exists(first) {
                return .compile(.explicit(first), Array(rest.dropFirst()))
            }
        }
        return .compile(isCXX ? .defaultCXX : .defaultC, rest)
    }

    static let singleCommands: Set<String> = [
        "-s", "--show-stats", "-z", "--zero-stats", "-C", "--clear", "-c", "--cleanup", "-p", "--show-config",
        "--version", "-V", "-h", "--help", "--print-stats", "--print-version", "--config-path", "-x", "--show-compression", "--show-log-stats",
    ]

    static func isCommand(_ rest: [String]) -> Bool {
        // `explain` names no compiler: alone it is a usage error of incrcc's, not a compiler to run.
        if rest.first == "explain" { return true }
        // `-d DIR COMMAND`: the command decides.
        if let first = rest.first, first == "-d" || first == "--dir" { return rest.count > 2 && isCommand(Array(rest.dropFirst(2))) }
        if let first = rest.first, first.hasPrefix("--dir=") { return rest.count > 1 && isCommand(Array(rest.dropFirst())) }
        if let first = rest.first, ["--evict-older-than", "-F", "--max-files", "--checksum-file"].contains(first) {
            return rest.count >= 2 && rest.count <= 3 && (rest.count == 2 || rest[2] == "--dry-run")
        }
        if let first = rest.first, ["--evict-older-than=", "--max-files=", "--checksum-file="].contains(where: first.hasPrefix) {
            return rest.count == 1 || rest.count == 2 && rest[1] == "--dry-run"
        }
        if rest.count == 1 {
            // The options that take a value, given none, are incrcc's to refuse, not the compiler's.
            return singleCommands.contains(rest[0])
                || ["--max-size=", "--get-config=", "--set-config="].contains { rest[0].hasPrefix($0) }
                || ["-k", "--get-config", "-o", "--set-config", "-M", "--max-size", "--inspect", "--recompress"].contains(rest[0])
        }
        if rest.count == 2 {
            if ["-k", "--get-config", "-o", "--set-config", "--inspect", "--recompress"].contains(rest[0]) { return true }
            if rest[0] == "-X" { return rest[1] == "uncompressed" || Int(rest[1]) != nil }
            if rest[0] == "-M" || rest[0] == "--max-size" { return SizeText.parse(rest[1]) != nil }
            if rest[0] == "--print-stats" { return rest[1].hasPrefix("--format=") }
            if rest[0] == "-s" || rest[0] == "--show-stats" || rest[0] == "--show-log-stats" {
                return rest[1] == "-v" || rest[1] == "--verbose"
            }
        }
        if rest.count == 3 { return rest[0] == "--print-stats" && rest[1] == "--format" }
        return false
    }
}

/// Finds the real compiler in PATH, skipping anything that is incrcc itself (a masquerade link), so that
/// a link named `gcc` first in PATH runs the next `gcc`.
public struct CompilerLocator {
    public var path: [String]
    public var selfPath: String?

    public init(pathVariable: String?, selfPath: String?) {
        var directories: [String] = []
        var current: [UInt8] = []
        for byte in (pathVariable ?? "/usr/local/bin:/usr/bin:/bin").utf8 {
            if byte == UInt8(ascii: ":") {
                directories.append(current.isEmpty ? "." : String(decoding: current, as: UTF8.self))
                current.removeAll(keepingCapacity: true)
            } else {
                current.append(byte)
            }
        }
        directories.append(current.isEmpty ? "." : String(decoding: current, as: UTF8.self))
        self.path = directories
        self.selfPath = selfPath
    }

    /// A name with a slash is used as it is; otherwise the first executable in PATH that is not incrcc.
    public func locate(_ name: String) -> String? {
        if name.contains("/") {
            guard FileSystem.isExecutableFile(name), !isSelf(name) else { return nil }
            return name
        }
        for directory in path {
            let candidate = directory + "/" + name
            if FileSystem.isExecutableFile(candidate) && !isSelf(candidate) { return candidate }
        }
        return nil
    }

    /// The same file as this program (a link to it), or a copy of it: same size and same bytes. A copy of
    /// incrcc named `gcc` earlier in PATH would otherwise be run as the compiler, and run itself.
    func isSelf(_ candidate: String) -> Bool {
        guard let selfPath else { return false }
        if FileSystem.realPath(candidate) == selfPath { return true }
        guard let own = try? FileSystem.status(selfPath), let other = try? FileSystem.status(candidate),
              own.size == other.size, own.size > 0 else { return false }
        guard let ownBytes = try? FileSystem.readFile(selfPath), let otherBytes = try? FileSystem.readFile(candidate)
        else { return false }
        return ownBytes == otherBytes
    }
}

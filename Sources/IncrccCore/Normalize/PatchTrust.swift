import Glibc

/// Whether results that read a moving path may be served with paths patched back, for a unit (a stored
/// result) and for its class of compile.
///
/// A result whose compile read a moving path (`PathDependence`) is served in another place only once a
/// fresh compile there gave exactly the patched result: `requiredAgreements` such agreements of the unit
/// itself (`trust_after`, default 1). Nothing else stands in for them — not agreements of other units of
/// its class — since a path can reach an object as a length, a character or a hash, which patching cannot
/// follow and only a compile of that unit shows.
///
/// A disagreement is held against what caused it: the unit, when its own text reads the path (its
/// results are stored under its real paths from then on); the class — the compiler (by content), the
/// language and the options that decide how paths sit in the output — when only the compiler's own
/// records do (debug information, instrumentation), so its calls are keyed by their real paths for good.
///
/// State lives in `<cache>/trust/`: `<class>.distrusted`, `<result>.unit` (a line per agreement of that
/// unit) and `<result>.unit-disagreed`: files of their own, appended or created, so concurrent writers
/// never lose a distrust.
public struct PatchTrust {
    public var directory: String
    public var requiredAgreements: Int
    let files: CacheFiles

    public init(cacheDirectory: String, requiredAgreements: Int) {
        directory = cacheDirectory + "/trust"
        files = CacheFiles(root: cacheDirectory)
        self.requiredAgreements = requiredAgreements
    }

    /// The class of a compile.
    public static func classDigest(compiler: Digest, request: CompileRequest) -> Digest {
        var hasher = StreamingHasher()
        hasher.update("incrcc patch class 1")
        hasher.update(compiler)
        hasher.update(request.language.rawValue)
        hasher.update(request.producesAssembly ? 1 : 0)
        for argument in profileArguments(request.keyedArguments) { hasher.update(argument) }
        return hasher.finalize()
    }

    /// The keyed arguments that can change how paths sit in the output. Options with a value that only adds
    /// search directories, macros or forced includes are left out with their value; warnings too, except
    /// `-Wa,`/`-Wp,` which pass options on. A seed's value is left out, its presence is kept.
    static func profileArguments(_ arguments: [String]) -> [String] {
        let options = [
            "-I", "-D", "-U", "-isystem", "-iquote", "-idirafter", "-include", "-imacros", "-iprefix", "-iwithprefix",
            "-isysroot",
        ]
        var kept: [String] = []
        var index = 0
        while index < arguments.count {
            let argument = arguments[index]
            index += 1
            if options.contains(argument) {
                index += 1
            } else if options.contains(where: { argument.hasPrefix($0) }) {
                continue
            } else if argument.hasPrefix("-W") && !argument.hasPrefix("-Wa,") && !argument.hasPrefix("-Wp,") {
                continue
            } else if argument.hasPrefix("-frandom-seed=") {
                kept.append("-frandom-seed=")
            } else {
                kept.append(argument)
            }
        }
        return kept
    }

    func path(_ classDigest: Digest, _ suffix: String) -> String {
        directory + "/" + classDigest.hex + suffix
    }

    /// One stat: whether the class was distrusted. Asked on every call whose paths would be normalized.
    public func isDistrusted(_ classDigest: Digest) -> Bool {
        // Anything at that name, a link included, distrusts: doubt never serves a patch.
        files.status(path(classDigest, ".distrusted")) != nil
    }

    /// One line per agreement: the count is the file's size, so parallel verifiers appending at once (a
    /// single small `O_APPEND` write each) never lose a count, with no lock.
    func lineCount(_ file: String) -> Int {
        guard let status = files.status(file), status.isRegularFile else { return 0 }
        return Int(status.size) / 2
    }

    func appendLine(_ file: String) {
        guard let fd = try? files.open(file, O_WRONLY | O_CREAT | O_APPEND, create: true) else { return }
        defer { close(fd) }
        try? FileSystem.writeAll(fd, Array("a\n".utf8), path: file)
    }

    /// Marks the class distrusted; `reason` says what disagreed, for whoever looks at the file.
    public func distrust(_ classDigest: Digest, reason: String) {
        try? files.writeAtomically(path(classDigest, ".distrusted"), Array((reason + "\n").utf8))
    }

    /// A unit (a stored result, by key) whose patched outputs agreed with fresh compiles after moves as often
    /// as required: it has shown that it patches exactly, so further moves serve it.
    public func unitAgreed(_ result: Digest) -> Bool {
        lineCount(path(result, ".unit")) >= requiredAgreements
    }

    public func recordUnitAgreement(_ result: Digest) {
        appendLine(path(result, ".unit"))
    }

    /// A unit whose patched outputs differed from a fresh compile: never served patched again.
    public func unitDisagreed(_ result: Digest) -> Bool {
        files.status(path(result, ".unit-disagreed")) != nil
    }

    public func recordUnitDisagreement(_ result: Digest, reason: String) {
        try? files.writeAtomically(path(result, ".unit-disagreed"), Array((reason + "\n").utf8))
    }

    /// How many classes are distrusted, for `incrcc -s`.
    public func distrustedCount() -> Int {
        files.list(directory).filter { $0.name.hasSuffix(".distrusted") }.count
    }
}

import Glibc

/// Whether results of one class of compile may be served with paths patched back.
///
/// A class is the compiler (by content), the language and the options that decide how paths are laid out
/// in the output (debug level and format, compression, LTO, coverage, a random seed); not include
/// directories, macros or warnings. Trust is earned by agreements: a would-be patched hit is compiled
/// anyway and compared byte for byte with the patched result. One disagreement distrusts the class for
/// good, and from then on its calls are keyed by their real paths.
///
/// State lives in `<cache>/trust/<class>.agreed` (a count, rewritten atomically; a lost increment only
/// delays trust) and `<class>.distrusted` (a file of its own, so a concurrent agreement can never
/// overwrite a distrust).
public struct PatchTrust {
    public var directory: String
    public var requiredAgreements: Int
    let files: CacheFiles

    public init(cacheDirectory: String, requiredAgreements: Int) {
        directory = cacheDirectory + "/trust"
        files = CacheFiles(root: cacheDirectory)
        self.requiredAgreements = requiredAgreements
    }

    public enum State: Equatable {
        case distrusted
        case proving(agreements: Int)
        case trusted
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

    public func state(of classDigest: Digest) -> State {
        if isDistrusted(classDigest) { return .distrusted }
        let agreements = agreementCount(classDigest)
        return agreements >= requiredAgreements ? .trusted : .proving(agreements: agreements)
    }

    /// One line per agreement: the count is the file's size, so parallel verifiers appending at once (a
    /// single small `O_APPEND` write each) never lose a count, with no lock.
    func agreementCount(_ classDigest: Digest) -> Int {
        guard let status = files.status(path(classDigest, ".agreed")), status.isRegularFile else { return 0 }
        return Int(status.size) / 2
    }

    public func recordAgreement(_ classDigest: Digest) {
        let file = path(classDigest, ".agreed")
        guard let fd = try? files.open(file, O_WRONLY | O_CREAT | O_APPEND, create: true) else { return }
        defer { close(fd) }
        try? FileSystem.writeAll(fd, Array("a\n".utf8), path: file)
    }

    /// Marks the class distrusted; `reason` says what disagreed, for whoever looks at the file.
    public func distrust(_ classDigest: Digest, reason: String) {
        try? files.writeAtomically(path(classDigest, ".distrusted"), Array((reason + "\n").utf8))
    }

    /// A unit (a stored result, by key) whose patched outputs agreed with a fresh compile after a move: it
    /// has shown that it patches exactly, so further moves serve it while its class is still proving.
    public func unitAgreed(_ result: Digest) -> Bool {
        files.status(path(result, ".unit"))?.isRegularFile == true
    }

    public func recordUnitAgreement(_ result: Digest) {
        if let fd = try? files.open(path(result, ".unit"), O_WRONLY | O_CREAT, create: true) { close(fd) }
    }

    /// How many classes are distrusted, for `incrcc -s`.
    public func distrustedCount() -> Int {
        files.list(directory).filter { $0.name.hasSuffix(".distrusted") }.count
    }
}

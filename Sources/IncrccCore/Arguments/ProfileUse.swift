/// `-fprofile-use[=PATH]` or `-fbranch-probabilities`: a compile that reads profile data, which is then an
/// input of its key. Where the data is read from depends on the compiler, so the classifier keeps the
/// options and the path is worked out once the compiler is known.
public struct ProfileUse: Equatable, Sendable {
    /// What follows `-fprofile-use=`, if anything.
    public var value: String?
    /// gcc's data directory: the value of the last of `-fprofile-dir=`, `-fprofile-generate=` and
    /// `-fprofile-use=` (gcc's option handling sets one prefix from each of them).
    public var dataDirectory: String?
    /// Whether `-fprofile-dir=` or `-fprofile-generate=` was given, which clang does not follow as gcc does.
    public var directoryFromOtherOption = false
    /// The last `-fprofile-prefix-path=`, if any.
    public var prefixPath: String?

    public init(value: String?, dataDirectory: String? = nil, directoryFromOtherOption: Bool = false,
                prefixPath: String? = nil) {
        self.value = value
        self.dataDirectory = dataDirectory ?? value
        self.directoryFromOtherOption = directoryFromOtherOption
        self.prefixPath = prefixPath
    }

    /// The file the compiler reads; nil when incrcc cannot tell (another compiler, or clang with gcc's
    /// directory options).
    ///
    /// gcc 12 (checked with `-Wmissing-profile`, which names the file it looked for): without a data
    /// directory, the object's path made absolute
    /// (the working directory joined as it is, `..` kept) with `.gcda` for its extension. With one and an
    /// absolute object path, `D/` followed by that path (`pd//tmp/out/t.gcda`). With one and a relative
    /// object path, the absolute path with the `-fprofile-prefix-path` string stripped from its start (and
    /// the slashes after it), then mangled: each `..` component becomes `^` and each `/` a `#`
    /// (`pd/#tmp#src#^#out#t.gcda`). clang: the `.profdata` file named, or `default.profdata` in a
    /// directory or in the working directory.
    public func path(family: CompilerFamily, object: String, currentDirectory: String) -> String? {
        switch family {
        case .gcc:
            let stem = Path.replacingExtension(object, with: "gcda")
            let absolute = stem.hasPrefix("/") ? stem : currentDirectory + "/" + stem
            guard let chosen = dataDirectory, !chosen.isEmpty else { return absolute }
            if stem.hasPrefix("/") { return chosen + "/" + stem }
            var relative = Substring(absolute)
            if let prefix = prefixPath, !prefix.isEmpty, relative.hasPrefix(prefix) {
                relative = relative.dropFirst(prefix.count).drop { $0 == "/" }
            }
            return chosen + "/" + Self.mangled(relative)
        case .clang:
            if directoryFromOtherOption || prefixPath != nil { return nil }
            guard let value, !value.isEmpty else { return Path.join(currentDirectory, "default.profdata") }
            let path = Path.absolute(value, cwd: currentDirectory)
            if let status = try? FileSystem.status(path), status.isDirectory {
                return Path.join(path, "default.profdata")
            }
            return path
        case .unknown:
            return nil
        }
    }

    /// gcc's mangling of a data file's path into one file name: `..` components as `^`, `/` as `#`.
    static func mangled(_ path: Substring) -> String {
        var out = ""
        var first = true
        for component in path.split(separator: "/", omittingEmptySubsequences: false) {
            if !first { out += "#" }
            first = false
            out += component == ".." ? "^" : String(component)
        }
        return out
    }
}

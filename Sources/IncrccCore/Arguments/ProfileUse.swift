/// `-fprofile-use[=PATH]`: a compile that reads profile data, which is then an input of its key. Where the
/// data is read from depends on the compiler, so the classifier keeps the option and the path is worked out
/// once the compiler is known.
public struct ProfileUse: Equatable, Sendable {
    /// What follows `=`, if anything.
    public var value: String?

    /// The file the compiler reads; nil when incrcc cannot tell (another compiler).
    ///
    /// gcc 12 (checked with `-Wmissing-profile`, which names the file it looked for): without a value, the
    /// object's absolute path with `.gcda` for its extension (`out/t.x.y` reads `out/t.x.gcda`); with a
    /// directory, that path mangled (`/` as `#`) inside it (`pd/#tmp#prof#out#t.gcda`), also when the value
    /// names a file. clang: the `.profdata` file named, or `default.profdata` in a directory or in the
    /// working directory.
    public func path(family: CompilerFamily, object: String, currentDirectory: String) -> String? {
        switch family {
        case .gcc:
            let data = Path.replacingExtension(Path.absolute(object, cwd: currentDirectory), with: "gcda")
            guard let value, !value.isEmpty else { return data }
            let mangled = String(data.map { $0 == "/" ? "#" : $0 })
            return Path.join(Path.absolute(value, cwd: currentDirectory), mangled)
        case .clang:
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
}

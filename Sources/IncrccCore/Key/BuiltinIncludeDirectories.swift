/// The compiler's own include directories, as `-E -v` prints them, remembered per compiler digest,
/// language and the options that change them. Only a miss needs them (to find negative probes).
public enum BuiltinIncludeDirectories {
    public static func lookup(compiler: CompilerIdentity, language: SourceLanguage, affecting: [String],
                              cacheDirectory: String) -> [String] {
        var hasher = StreamingHasher()
        hasher.update(compiler.digest)
        hasher.update(language.rawValue)
        for arg in affecting { hasher.update(arg) }
        let record = cacheDirectory + "/compilers/" + hasher.finalize().hex + ".dirs"
        let files = CacheFiles(root: cacheDirectory)
        if let bytes = try? files.readIfExists(record) {
            return String(decoding: bytes, as: UTF8.self).split(separator: "\n").map(String.init)
        }
        let args = [compiler.path] + affecting + ["-x", language.rawValue, "-E", "-v", "/dev/null"]
        guard let run = try? ChildProcess.runCapturing(compiler.path, args), run.status.succeeded else { return [] }
        let directories = parse(run.stderr)
        try? files.writeAtomically(record, Array(directories.joined(separator: "\n").utf8))
        return directories
    }

    /// The directories listed after `#include <...> search starts here:` up to `End of search list.`
    public static func parse(_ stderr: [UInt8]) -> [String] {
        var inList = false
        var directories: [String] = []
        for line in String(decoding: stderr, as: UTF8.self).split(separator: "\n") {
            if line.hasPrefix("#include <...> search starts here:") { inList = true; continue }
            if line.hasPrefix("End of search list.") { break }
            if inList && line.hasPrefix(" ") {
                var directory = line.trimmingSpaces()
                // clang marks framework directories; they never hold plain headers on Linux.
                if directory.hasSuffix(" (framework directory)") { continue }
                while directory.count > 1 && directory.hasSuffix("/") { directory.removeLast() }
                directories.append(directory)
            }
        }
        return directories
    }
}

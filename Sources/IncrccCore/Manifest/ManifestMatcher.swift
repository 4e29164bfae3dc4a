/// Finds the newest manifest entry that still describes the files on disk; a file is hashed only when its
/// stat cannot stand for its content. No memo tables: a manifest rarely has more than one entry that gets
/// as far as a second file, and a dictionary's set-up costs more than the stats it would save.
/// Paths are stored normalized; `mapping` turns them into this call's real paths.
public struct ManifestMatcher {
    public var mapping: PathMapping
    /// Reads a variable a result depends on (entries name them as `\0NAME`).
    public var variable: (String) -> String?

    public init(mapping: PathMapping = PathMapping(), variable: @escaping (String) -> String? = Environment.value) {
        self.mapping = mapping
        self.variable = variable
    }

    public func match(_ manifest: Manifest) -> ManifestEntry? {
        for entry in manifest.entries where matches(entry) { return entry }
        return nil
    }

    func matches(_ entry: ManifestEntry) -> Bool {
        let checked = absentDirectoriesUnchanged(entry) ? entry.absentPaths.prefix(entry.uncoveredAbsentPaths)
            : entry.absentPaths[...]
        for path in checked where !isAbsent(mapping.restore(path)) { return false }
        for file in entry.files {
            if file.path.utf8.first == 0 {
                // A variable the result read (`SOURCE_DATE_EPOCH` for a time macro), not a file.
                guard DependencyRecorder.variableDigest(variable(String(file.path.dropFirst()))) == file.digest
                else { return false }
                continue
            }
            let path = mapping.restore(file.path)
            // A path that cannot be stat'ed for another reason (permissions) counts as changed.
            guard let current = (try? FileSystem.statusIfExists(path)) ?? nil else { return false }
            if current.size != file.status.size { return false }
            if file.statTrusted && current.sameContentAs(file.status) { continue }
            guard let bytes = try? FileSystem.readFile(path) else { return false }
            if Digest.of(bytes) == file.digest { continue }
            // Recorded over its normalized text (it held an ephemeral path part): compared the same way.
            let contents = mapping.withoutCheckout
            guard !contents.pairs.isEmpty, let normalized = contents.normalizeReversibly(bytes), normalized != bytes,
                  Digest.of(normalized) == file.digest else { return false }
        }
        return true
    }

    /// One stat per directory instead of one per absent path: a C++ unit with 49 standard headers has 905
    /// absent include candidates in about 20 directories.
    func absentDirectoriesUnchanged(_ entry: ManifestEntry) -> Bool {
        guard !entry.absentDirectories.isEmpty else { return false }
        for directory in entry.absentDirectories {
            guard let current = try? FileSystem.status(mapping.restore(directory.path)),
                  current.isDirectory, current.sameContentAs(directory.status) else { return false }
        }
        return true
    }

    /// True only when the path certainly does not exist; a stat failing for another reason is a doubt.
    func isAbsent(_ path: String) -> Bool {
        do {
            return try FileSystem.statusIfExists(path) == nil
        } catch {
            return false
        }
    }
}

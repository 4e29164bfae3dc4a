/// Finds the newest manifest entry that still describes the files on disk. Each path is stat'ed at most
/// once per lookup and hashed only when its stat cannot stand for its content.
public struct ManifestMatcher {
    private var statuses: [String: FileStatus?] = [:]
    private var digests: [String: Digest?] = [:]

    public init() {}

    public mutating func match(_ manifest: Manifest) -> ManifestEntry? {
        for entry in manifest.entries where matches(entry) { return entry }
        return nil
    }

    mutating func matches(_ entry: ManifestEntry) -> Bool {
        for path in entry.absentPaths where !isAbsent(path) { return false }
        for file in entry.files {
            guard let current = status(file.path) else { return false }
            if current.size != file.status.size { return false }
            if file.statTrusted && current.sameContentAs(file.status) { continue }
            guard let digest = digest(file.path), digest == file.digest else { return false }
        }
        return true
    }

    mutating func status(_ path: String) -> FileStatus? {
        if let known = statuses[path] { return known }
        // A path that cannot be stat'ed for another reason (permissions) counts as changed: never a hit on doubt.
        let current = (try? FileSystem.statusIfExists(path)) ?? nil
        statuses[path] = current
        return current
    }

    /// True only when the path certainly does not exist; a stat failing for another reason is a doubt.
    mutating func isAbsent(_ path: String) -> Bool {
        do {
            if let known = statuses[path] { return known == nil }
            let current = try FileSystem.statusIfExists(path)
            statuses[path] = current
            return current == nil
        } catch {
            return false
        }
    }

    mutating func digest(_ path: String) -> Digest? {
        if let known = digests[path] { return known }
        let value = (try? FileSystem.readFile(path)).map(Digest.of)
        digests[path] = value
        return value
    }
}

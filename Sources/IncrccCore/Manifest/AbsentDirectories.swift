/// Finds, for absent include candidates, the directories whose unchanged entries prove them still absent:
/// each candidate's deepest existing directory (the missing name must be created there for the candidate
/// to appear, which moves the directory's modification time; a directory swapped in under the same path
/// has another inode). Every directory's stat must be settled, as for a header's: a change in the same
/// clock tick as the recording could leave the times equal.
enum AbsentDirectories {
    /// The directories, each once, and the absent paths reordered so that those no settled directory
    /// covers come first (`uncovered` of them: a directory the build writes into, such as the source's, is
    /// never settled, and its candidates are checked one by one on a lookup).
    static func settled(for absentPaths: [String], now: Int64)
        -> (directories: [RecordedDirectory], paths: [String], uncovered: Int) {
        var known: [String: FileStatus?] = [:]
        var order: [String] = []
        var ordered: Set<String> = []
        var covered: [String] = []
        var uncovered: [String] = []
        func status(_ directory: String) -> FileStatus? {
            if let cached = known[directory] { return cached }
            let found = (try? FileSystem.statusIfExists(directory)) ?? nil
            known[directory] = found
            return found
        }
        // The answer depends on the candidate's directory alone: each is walked once.
        var provenIn: [String: Bool] = [:]
        for path in absentPaths {
            let start = Path.directory(of: path)
            if let earlier = provenIn[start] {
                if earlier { covered.append(path) } else { uncovered.append(path) }
                continue
            }
            var directory = start
            var proven = false
            while true {
                // An existing non-directory on the way: the name that blocks is in its parent.
                if let found = status(directory), found.isDirectory {
                    proven = StatTrust.isSettled(found, now: now)
                    if proven && ordered.insert(directory).inserted { order.append(directory) }
                    break
                }
                let parent = Path.directory(of: directory)
                if parent == directory { break }
                directory = parent
            }
            provenIn[start] = proven
            if proven { covered.append(path) } else { uncovered.append(path) }
        }
        let directories = order.compactMap { path in
            (known[path] ?? nil).map { RecordedDirectory(path: path, status: $0) }
        }
        return (directories, uncovered + covered, uncovered.count)
    }
}

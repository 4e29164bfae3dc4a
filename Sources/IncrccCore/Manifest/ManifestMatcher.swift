import Glibc

/// Finds the newest manifest entry that still describes the files on disk; a file is hashed only when its
/// stat cannot stand for its content. No memo tables: a manifest rarely has more than one entry that gets
/// as far as a second file, and a dictionary's set-up costs more than the stats it would save.
/// Paths are stored normalized; `mapping` turns them into this call's real paths.
public struct ManifestMatcher {
    public var mapping: PathMapping
    /// Reads a variable a result depends on (entries name them as `\0NAME`).
    public var variable: (String) -> String?
    /// Where a compiled module interface's identity is looked up (`ModuleProvenance`); nil: by its bytes.
    var moduleProvenance: ModuleProvenance? = nil

    public init(mapping: PathMapping = PathMapping(), variable: @escaping (String) -> String? = Environment.value) {
        self.mapping = mapping
        self.variable = variable
    }

    public func match(_ manifest: Manifest) -> ManifestEntry? {
        for entry in manifest.entries where matches(entry) { return entry }
        return nil
    }

    /// The newest matching entry's index, and the files of it that had to be hashed although their stat
    /// is settled now (recorded too soon after a change to be trusted): their new stats, by file index.
    public func matchRefreshing(_ manifest: Manifest) -> (entry: Int, settled: [Int: FileStatus])? {
        let now = Clock.nowNanoseconds()
        for (index, entry) in manifest.entries.enumerated() {
            var settled: [Int: FileStatus] = [:]
            if matches(entry, hashed: { file, status in if StatTrust.isSettled(status, now: now) { settled[file] = status } }) {
                return (index, settled)
            }
        }
        return nil
    }

    func matches(_ entry: ManifestEntry) -> Bool { matches(entry, hashed: { _, _ in }) }

    /// `hashed` hears of each file whose bytes matched (index, stat) where its stat could not stand for them.
    func matches(_ entry: ManifestEntry, hashed: (Int, FileStatus) -> Void) -> Bool {
        guard absentPathsHold(entry) else { return false }
        for (fileIndex, file) in entry.files.enumerated() {
            switch check(file) {
            case .same: continue
            case .hashedSame(let status): hashed(fileIndex, status)
            case .differs, .unknown: return false
            }
        }
        return true
    }

    /// Whether every path the entry found absent still is.
    func absentPathsHold(_ entry: ManifestEntry) -> Bool {
        allAbsent(absentDirectoriesUnchanged(entry) ? entry.absentPaths.prefix(entry.uncoveredAbsentPaths)
            : entry.absentPaths[...])
    }

    /// How one recorded file stands now.
    enum FileCheck {
        case same
        /// The same bytes, found by reading them: the stat they were read under.
        case hashedSame(FileStatus)
        /// Other bytes (read under `status`).
        case differs(bytes: [UInt8], status: FileStatus)
        /// Missing, unreadable, or a variable that changed.
        case unknown
    }

    /// A file whose size changed is not read unless `readingChanged` (it cannot match).
    func check(_ file: RecordedFile, readingChanged: Bool = false) -> FileCheck {
        let path: String
        switch file.input {
        case .variable(let name):
            let value = name == CompileDate.variableName ? CompileDate.text(atNanoseconds: Clock.nowNanoseconds()) : variable(name)
            return DependencyRecorder.variableDigest(value) == file.digest ? .same : .unknown
        case .moduleFile(let stored, let byProvenance):
            return checkModule(file, path: stored, byProvenance: byProvenance)
        case .file(let stored):
            path = mapping.restore(stored)
        }
        // A path that cannot be stat'ed for another reason (permissions) counts as changed.
        guard let current = (try? FileSystem.statusIfExists(path)) ?? nil else { return .unknown }
        if current.size != file.status.size && !readingChanged { return .unknown }
        if file.statTrusted && current.sameContentAs(file.status) { return .same }
        guard let bytes = try? FileSystem.readFile(path) else { return .unknown }
        if Digest.of(bytes) == file.digest {
            if let after = try? FileSystem.status(path), after.sameContentAs(current) { return .hashedSame(current) }
            return .same
        }
        // Recorded over its normalized text (it held an ephemeral path part): compared the same way.
        let contents = mapping.withoutCheckout
        if !contents.pairs.isEmpty, let normalized = contents.normalizeReversibly(bytes), normalized != bytes {
            return Digest.of(normalized) == file.digest ? .same : .unknown
        }
        return .differs(bytes: bytes, status: current)
    }

    /// A compiled module interface: the same stat, or bytes of the same identity. Its size may differ in
    /// another build directory (the directory is recorded inside), so it is read whatever its size.
    func checkModule(_ file: RecordedFile, path: String, byProvenance: Bool) -> FileCheck {
        guard let current = (try? FileSystem.statusIfExists(path)) ?? nil, current.isRegularFile else { return .unknown }
        if file.statTrusted && current.sameContentAs(file.status) { return .same }
        guard let bytes = try? FileSystem.readFile(path),
              let after = try? FileSystem.status(path), after.sameContentAs(current) else { return .unknown }
        let digest = Digest.of(bytes)
        let identity = byProvenance ? moduleProvenance?.identity(of: digest) ?? digest : digest
        return identity == file.digest ? .same : .differs(bytes: bytes, status: current)
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

    /// Whether every path (stored normalized) is still absent: a stat each, or a listing per directory
    /// when there are many.
    func allAbsent(_ paths: ArraySlice<String>) -> Bool {
        if paths.count >= Self.listingThreshold { return allAbsentByListing(paths) }
        for path in paths where !isAbsent(mapping.restore(path)) { return false }
        return true
    }

    /// From this many absent paths to check on, each directory is read once instead of a stat per path: a
    /// unit including 5,000 headers from its own directory (never settled, since outputs are written
    /// there) had 15,000 of them, and a stat costs about what reading 20 names of a listing does.
    static let listingThreshold = 256

    /// Whether every path is absent, with one listing per directory: a name the listing lacks is absent;
    /// one it holds is stat'ed (a dangling link is absent to the compiler too). A directory that cannot be
    /// listed has each path stat'ed. Names are kept as 64-bit hashes and paths taken apart over their
    /// bytes: building a string per name and path tripled the instructions of a 5,000-header hit.
    func allAbsentByListing(_ paths: ArraySlice<String>) -> Bool {
        var listings: [[UInt8]: Set<UInt64>?] = [:]
        var lastDirectory: [UInt8] = [UInt8(ascii: "\u{0}")]
        var lastListing: Set<UInt64>?
        for path in paths {
            var real = mapping.restore(path)
            let present: Bool = real.withUTF8 { bytes in
                guard let base = bytes.baseAddress else { return true }
                var slash = bytes.count - 1
                while slash >= 0, bytes[slash] != UInt8(ascii: "/") { slash -= 1 }
                let directoryLength = slash < 0 ? 0 : max(slash, 1)
                let same = lastDirectory.count == directoryLength && lastDirectory.withUnsafeBufferPointer {
                    guard directoryLength > 0, let kept = $0.baseAddress else { return true }
                    return memcmp(kept, base, directoryLength) == 0
                }
                if !same {
                    lastDirectory = Array(bytes[0..<directoryLength])
                    if let known = listings[lastDirectory] {
                        lastListing = known
                    } else {
                        let name = directoryLength == 0 ? "." : String(decoding: lastDirectory, as: UTF8.self)
                        lastListing = Self.nameHashes(in: name)
                        listings[lastDirectory] = lastListing
                    }
                }
                guard let listing = lastListing else { return true }
                return listing.contains(Self.nameHash(UnsafeBufferPointer(rebasing: bytes[(slash + 1)...])))
            }
            if present && !isAbsent(real) { return false }
        }
        return true
    }

    static func nameHash<Bytes: Sequence<UInt8>>(_ bytes: Bytes) -> UInt64 {
        var hash: UInt64 = 0xcbf2_9ce4_8422_2325
        for byte in bytes { hash = (hash ^ UInt64(byte)) &* 0x100_0000_01b3 }
        return hash
    }

    /// The hashes of a directory's names; empty when it does not exist, nil when it cannot be read.
    static func nameHashes(in directory: String) -> Set<UInt64>? {
        guard let dir = opendir(directory) else { return errno == ENOENT || errno == ENOTDIR ? [] : nil }
        defer { closedir(dir) }
        var hashes: Set<UInt64> = []
        while let entry = readdir(dir) {
            let hash = withUnsafeBytes(of: entry.pointee.d_name) { raw in
                nameHash(UnsafeRawBufferPointer(rebasing: raw[..<(raw.firstIndex(of: 0) ?? raw.count)]))
            }
            hashes.insert(hash)
        }
        return hashes
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

extension ManifestMatcher {
    /// What no longer holds for an entry, first found; nil when it matches.
    func firstDifference(_ entry: ManifestEntry) -> String? {
        for path in entry.absentPaths {
            let real = mapping.restore(path)
            if !isAbsent(real) { return "\(real) exists now and would be included instead" }
        }
        for file in entry.files {
            let single = ManifestEntry(files: [file], absentPaths: [], result: entry.result)
            guard !matches(single) else { continue }
            if case .variable(let name) = file.input { return "variable \(name) changed" }
            if case .moduleFile(let path, _) = file.input {
                return FileSystem.exists(path) ? "module file \(path) changed" : "module file \(path) is gone"
            }
            let real = mapping.restore(file.path)
            return FileSystem.exists(real) ? "\(real) changed" : "\(real) is gone"
        }
        return nil
    }
}

/// The real compiler, identified by its content. The digest is remembered per path together with the
/// file's stat, so a hit stats the compiler instead of hashing it; a new file at the same path (another
/// inode, size, mtime or ctime) is hashed again. A same-size compiler with the same mtime still has a new
/// ctime and inode, which is why ctime is part of the check.
public struct CompilerIdentity: Sendable {
    public var path: String
    public var digest: Digest
    public var family: CompilerFamily

    static let recordSize = 8 * 5 + 16 + 1

    public static func identify(_ path: String, cacheDirectory: String, now: Int64) throws(SystemError) -> CompilerIdentity {
        let status = try FileSystem.status(path)
        var nameHasher = StreamingHasher()
        nameHasher.update("compiler record 2")
        nameHasher.update(path)
        let record = cacheDirectory + "/compilers/" + nameHasher.finalize().hex
        let files = CacheFiles(root: cacheDirectory)
        if let bytes = try? files.readIfExists(record), bytes.count == recordSize {
            var reader = ByteReader(bytes)
            if let stored = try? Self.decode(&reader), stored.status.sameContentAs(status) {
                return CompilerIdentity(path: path, digest: stored.digest, family: stored.family)
            }
        }
        let content = try FileSystem.readFile(path)
        let digest = Digest.of(content)
        let family = CompilerFamily.detect(path)
        // Only remember a stat that is old enough that a later change must show in it.
        if StatTrust.isSettled(status, now: now) {
            var writer = ByteWriter()
            writer.write(status)
            writer.write(digest)
            writer.write(family.rawValue)
            try? files.writeAtomically(record, writer.bytes)
        }
        return CompilerIdentity(path: path, digest: digest, family: family)
    }

    static func decode(_ reader: inout ByteReader) throws(MalformedEntry) -> (status: FileStatus, digest: Digest, family: CompilerFamily) {
        let status = try reader.readFileStatus()
        let digest = try reader.readDigest()
        return (status, digest, CompilerFamily(rawValue: try reader.readUInt8()) ?? .unknown)
    }
}

/// Which compiler a path runs, as its `--version` says: wrappers (nixpkgs' cc-wrapper, distribution
/// scripts) pass the option through to the compiler behind them. A function of the compiler's content,
/// so it is asked once, when the content digest is computed, and remembered with it.
public enum CompilerFamily: UInt8, Sendable {
    case unknown = 0
    case gcc = 1
    case clang = 2

    static func detect(_ path: String) -> CompilerFamily {
        guard let run = try? ChildProcess.runCapturing(path, [path, "--version"]), run.status.succeeded
        else { return .unknown }
        let text = run.stdout + run.stderr
        let firstLine = String(decoding: text.prefix { $0 != UInt8(ascii: "\n") }, as: UTF8.self)
        if firstLine.holds("clang version") { return .clang }
        // Debian's `cc` and `c++` print their own name first; gcc's copyright line names the FSF.
        if firstLine.holds("gcc") || firstLine.holds("GCC") || firstLine.holds("g++")
            || String(decoding: text.prefix(400), as: UTF8.self).holds("Free Software Foundation") { return .gcc }
        return .unknown
    }
}

/// When a recorded stat may stand for a content digest.
public enum StatTrust {
    /// A file whose mtime and ctime are at least this old when recorded cannot change again without its
    /// ctime moving: 2 s covers file systems with whole-second timestamps.
    public static let settleNanoseconds: Int64 = 2_000_000_000

    /// Whether a stat taken now is old enough to stand for the content it was taken with.
    public static func isSettled(_ status: FileStatus, now: Int64) -> Bool {
        max(status.modifiedNanoseconds, status.changedNanoseconds) < now - settleNanoseconds
    }
}

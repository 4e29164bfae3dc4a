/// The real compiler, identified by its content. The digest is remembered per path together with the
/// file's stat, so a hit stats the compiler instead of hashing it; a new file at the same path (another
/// inode, size, mtime or ctime) is hashed again. A same-size compiler with the same mtime still has a new
/// ctime and inode, which is why ctime is part of the check.
public struct CompilerIdentity: Sendable {
    public var path: String
    public var digest: Digest

    static let recordSize = 8 * 5 + 16

    public static func identify(_ path: String, cacheDirectory: String, now: Int64) throws(SystemError) -> CompilerIdentity {
        let status = try FileSystem.status(path)
        var nameHasher = StreamingHasher()
        nameHasher.update(path)
        let record = cacheDirectory + "/compilers/" + nameHasher.finalize().hex
        if let bytes = try? FileSystem.readFile(record), bytes.count == recordSize {
            var reader = ByteReader(bytes)
            if let stored = try? Self.decode(&reader), stored.status.sameContentAs(status) {
                return CompilerIdentity(path: path, digest: stored.digest)
            }
        }
        let content = try FileSystem.readFile(path)
        let digest = Digest.of(content)
        // Only remember a stat that is old enough that a later change must show in it.
        if max(status.modifiedNanoseconds, status.changedNanoseconds) < now - StatTrust.settleNanoseconds {
            var writer = ByteWriter()
            writer.write(status)
            writer.write(digest)
            try? FileSystem.makeDirectories(Path.directory(of: record))
            try? FileSystem.writeAtomically(record, writer.bytes)
        }
        return CompilerIdentity(path: path, digest: digest)
    }

    static func decode(_ reader: inout ByteReader) throws(MalformedEntry) -> (status: FileStatus, digest: Digest) {
        let status = try reader.readFileStatus()
        return (status, try reader.readDigest())
    }
}

/// When a recorded stat may stand for a content digest.
public enum StatTrust {
    /// A file whose mtime and ctime are at least this old when recorded cannot change again without its
    /// ctime moving: 2 s covers file systems with whole-second timestamps.
    public static let settleNanoseconds: Int64 = 2_000_000_000
}

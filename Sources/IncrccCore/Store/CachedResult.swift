/// The files a compile produces besides its console output.
public enum OutputKind: UInt8, Sendable, CaseIterable {
    case object = 1
    /// Stored without its target when the target is the object path, so that it can be written for any path.
    case dependencyWithoutTarget = 2
    case dependencyVerbatim = 3
    case splitDwarf = 4
    case coverageNotes = 5
    case stackUsage = 6
}

/// One stored output file.
public struct OutputFile: Equatable, Sendable {
    public var kind: OutputKind
    public var bytes: [UInt8]

    public init(_ kind: OutputKind, _ bytes: [UInt8]) {
        self.kind = kind
        self.bytes = bytes
    }
}

/// A successful compile's outputs, as stored.
public struct CachedResult: Equatable, Sendable {
    public var stdout: [UInt8]
    public var stderr: [UInt8]
    public var files: [OutputFile]

    public init(stdout: [UInt8], stderr: [UInt8], files: [OutputFile]) {
        self.stdout = stdout
        self.stderr = stderr
        self.files = files
    }

    public func file(_ kind: OutputKind) -> [UInt8]? {
        files.first { $0.kind == kind }?.bytes
    }

    static let formatVersion: UInt8 = 1

    public func encode() -> [UInt8] {
        var writer = ByteWriter()
        writer.write(Self.formatVersion)
        writer.write(stdout)
        writer.write(stderr)
        writer.write(UInt64(files.count))
        for file in files {
            writer.write(file.kind.rawValue)
            writer.write(file.bytes)
        }
        return writer.bytes
    }

    public static func decode(_ bytes: [UInt8]) throws(MalformedEntry) -> CachedResult {
        var reader = ByteReader(bytes)
        guard try reader.readUInt8() == formatVersion else { throw MalformedEntry("result version") }
        let stdout = try reader.readBytes()
        let stderr = try reader.readBytes()
        let count = try reader.readCount(minimumItemSize: 9)
        var files: [OutputFile] = []
        for _ in 0..<count {
            guard let kind = OutputKind(rawValue: try reader.readUInt8()) else { throw MalformedEntry("output kind") }
            files.append(OutputFile(kind, try reader.readBytes()))
        }
        guard reader.isAtEnd else { throw MalformedEntry("trailing bytes") }
        return CachedResult(stdout: stdout, stderr: stderr, files: files)
    }
}

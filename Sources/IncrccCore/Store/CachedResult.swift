/// The files a compile produces besides its console output.
public enum OutputKind: UInt8, Sendable, CaseIterable {
    case object = 1
    /// Stored without its target when the target is the object path, so that it can be written for any path.
    case dependencyWithoutTarget = 2
    case dependencyVerbatim = 3
    case splitDwarf = 4
    case coverageNotes = 5
    case stackUsage = 6
    /// The program a compile-and-link call wrote, restored executable.
    case executable = 7
    /// A module unit's compiled interface (`-fmodule-output`).
    case moduleInterface = 8
    /// The working directory that interface was written in (it is recorded inside it): never written out.
    case moduleContext = 9
    /// gcc's `-fcallgraph-info` file (`.ci`), named after the object as `.su` is.
    case callgraphInfo = 10
    /// The assembler's listing (`-Wa,-a…=FILE`). It names gcc's temporary assembly file, another on every
    /// compile, so two compiles never write the same bytes: never compared.
    case assemblerListing = 11
    /// The linker's map (`-Wl,-Map=FILE`).
    case linkMap = 12

    /// Files whose bytes a compiler lays out itself (sections, string tables, compression), where a patched
    /// path may not give what a compile at that path writes. The others are text the compiler prints paths
    /// into verbatim: same-length patching there is exact by construction.
    public var isBinary: Bool {
        switch self {
        case .object, .splitDwarf, .coverageNotes, .executable, .moduleInterface, .moduleContext: return true
        case .dependencyWithoutTarget, .dependencyVerbatim, .stackUsage, .callgraphInfo, .assemblerListing, .linkMap:
            return false
        }
    }
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

/// A successful compile's outputs, as stored: with the paths of the compile that stored them normalized.
public struct CachedResult: Equatable, Sendable {
    public var stdout: [UInt8]
    public var stderr: [UInt8]
    public var files: [OutputFile]
    /// `PathMapping.realPartsDigest` of the compile that stored it: a call with the same digest gets the
    /// bytes back exactly; any other call gets them patched.
    public var pathsDigest: Digest
    /// What the compile that stored it read of its moving paths: only a result that read none serves a
    /// call with other paths as it is (its text outputs patched, which same-length replacement does
    /// exactly); any other must first agree with a fresh compile there (`PatchTrust`).
    public var pathDependence: PathDependence

    /// Whether serving it to a call with other paths needs a unit's agreement.
    public var movesOnlyWithProof: Bool { pathDependence.kind != .none }

    public init(stdout: [UInt8], stderr: [UInt8], files: [OutputFile], pathsDigest: Digest = PathMapping().realPartsDigest,
                pathDependence: PathDependence = .independent) {
        self.stdout = stdout
        self.stderr = stderr
        self.files = files
        self.pathsDigest = pathsDigest
        self.pathDependence = pathDependence
    }

    /// Every byte string replaced by `transform`.
    func mapped(_ transform: ([UInt8]) -> [UInt8]) -> CachedResult {
        CachedResult(stdout: transform(stdout), stderr: transform(stderr),
                     files: files.map { OutputFile($0.kind, transform($0.bytes)) }, pathsDigest: pathsDigest,
                     pathDependence: pathDependence)
    }

    /// This call's real paths put back. A dependency file whose length changed (a checkout at a path of
    /// another length) is laid out again as `layout`'s compiler writes it, for `target` (asked only then);
    /// without a layout such a result cannot be written exactly and nil comes back.
    public func restored(with mapping: PathMapping, layout: DependencyLayout? = nil,
                         target: () -> [UInt8] = { [] }) -> CachedResult? {
        if mapping.isEmpty && (layout == nil || !files.contains(where: { $0.kind == .dependencyWithoutTarget })) {
            return self
        }
        var result = mapping.isEmpty ? self : mapped(mapping.restore)
        for index in result.files.indices {
            let kind = result.files[index].kind
            // A rule without its target was laid out after the stored call's target, whose length may
            // differ from this call's: laid out again, as the compiler would for this output name.
            guard kind == .dependencyWithoutTarget
                    || kind == .dependencyVerbatim && result.files[index].bytes.count != files[index].bytes.count
            else { continue }
            guard let layout else { return nil }
            let prefix = kind == .dependencyWithoutTarget ? target() : []
            guard let rewrapped = layout.rewrap(prefix + result.files[index].bytes), rewrapped.starts(with: prefix)
            else { return nil }
            result.files[index].bytes = Array(rewrapped[prefix.count...])
        }
        return result
    }

    /// The form to store: nil when some output cannot be normalized reversibly (it already holds a
    /// placeholder), since such bytes could not be patched back exactly.
    ///
    /// `dependence` is what the compile read (decided from its inputs). A binary output found to hold a
    /// moving part, or one whose bytes no search can read (compressed sections, LTO bytecode, not ELF),
    /// adds doubt on top; a search that finds nothing never removes any.
    public func normalized(with mapping: PathMapping, dependence: PathDependence = .independent) -> CachedResult? {
        guard let stdout = mapping.normalizeReversibly(stdout), let stderr = mapping.normalizeReversibly(stderr)
        else { return nil }
        var normalizedFiles: [OutputFile] = []
        var dependence = dependence
        for file in files {
            guard let bytes = mapping.normalizeReversibly(file.bytes) else { return nil }
            if file.kind.isBinary && !mapping.isEmpty {
                if bytes != file.bytes {
                    dependence = dependence.joined(PathDependence(.compiler, "the \(file.kind) holds a moving path"))
                } else if !ObjectTransparency.isTransparent(file.bytes) {
                    dependence = dependence.joined(PathDependence(.compiler, "the \(file.kind) has sections no search can read"))
                }
            }
            normalizedFiles.append(OutputFile(file.kind, bytes))
        }
        return CachedResult(stdout: stdout, stderr: stderr, files: normalizedFiles, pathsDigest: mapping.realPartsDigest,
                            pathDependence: dependence)
    }

    /// What differs from `other`, by name: `object`, `stderr`, …
    public func differences(from other: CachedResult) -> [String] {
        var names: [String] = []
        if stdout != other.stdout { names.append("stdout") }
        if stderr != other.stderr { names.append("stderr") }
        for kind in OutputKind.allCases where kind != .assemblerListing && file(kind) != other.file(kind) {
            names.append(String(describing: kind))
        }
        return names
    }

    /// Same outputs, whoever stored them.
    public func sameOutputs(as other: CachedResult) -> Bool {
        stdout == other.stdout && stderr == other.stderr
            && files.filter { $0.kind != .assemblerListing } == other.files.filter { $0.kind != .assemblerListing }
    }

    public func file(_ kind: OutputKind) -> [UInt8]? {
        files.first { $0.kind == kind }?.bytes
    }

    /// 4: the path dependence (kind and reason) replaced version 3's flag for binary outputs holding a path.
    static let formatVersion: UInt8 = 4

    public func encode() -> [UInt8] {
        var writer = ByteWriter()
        writer.write(Self.formatVersion)
        writer.write(pathsDigest)
        writer.write(pathDependence.kind.rawValue)
        writer.write(pathDependence.reason)
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
        let pathsDigest = try reader.readDigest()
        guard let kind = PathDependence.Kind(rawValue: try reader.readUInt8()) else { throw MalformedEntry("path dependence") }
        let dependence = PathDependence(kind, try reader.readString())
        let stdout = try reader.readBytes()
        let stderr = try reader.readBytes()
        let count = try reader.readCount(minimumItemSize: 9)
        var files: [OutputFile] = []
        for _ in 0..<count {
            guard let kind = OutputKind(rawValue: try reader.readUInt8()) else { throw MalformedEntry("output kind") }
            files.append(OutputFile(kind, try reader.readBytes()))
        }
        guard reader.isAtEnd else { throw MalformedEntry("trailing bytes") }
        return CachedResult(stdout: stdout, stderr: stderr, files: files, pathsDigest: pathsDigest,
                            pathDependence: dependence)
    }
}

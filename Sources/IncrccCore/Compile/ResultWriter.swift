import CFileExchange
import Glibc

/// Writes a cached result's files where this call wants them, then its console output.
///
/// All or nothing, as far as a file system allows: every file is written in full to an unnamed temporary
/// file (`O_TMPFILE`, which a kill leaves no trace of) before any is put in place, so a full disk or a
/// failed write leaves the outputs as they were and the caller runs the compiler instead, which then says
/// and leaves what it would. An output path that is a symlink is treated as the compiler treats it
/// (`linksReplaced`).
struct ResultWriter {
    var request: CompileRequest
    /// The stored diagnostics are coloured and this caller's stderr is no terminal.
    var plainDiagnostics = false
    /// Whose outputs these are: gcc and clang differ in which output links they replace.
    var family: CompilerFamily = .unknown

    /// Whether the compiler replaces a symlink at this output's path with a file of its own (true) or writes
    /// into the link's target. Checked with gcc 12 and clang: both replace the object (the assembler removes
    /// an old output first, clang renames a temporary over it) and gcc the split DWARF file; gcc writes the
    /// dependency file, stack usage and coverage notes through the link, clang its coverage notes too, and
    /// clang replaces the dependency file.
    static func linksReplaced(_ kind: OutputKind, family: CompilerFamily) -> Bool {
        switch kind {
        // ld removes an ordinary file or link at its output before it writes the program.
        case .object, .splitDwarf, .executable, .moduleInterface, .moduleContext: return true
        case .dependencyWithoutTarget, .dependencyVerbatim: return family == .clang
        case .stackUsage, .coverageNotes, .callgraphInfo: return false
        // The assembler opens the listing for writing: through a link; ld its map too.
        case .assemblerListing, .linkMap: return false
        }
    }

    func outputPath(_ path: String, _ kind: OutputKind) -> String {
        Self.linksReplaced(kind, family: family) ? path : FileSystem.resolvingLinks(path)
    }

    /// `streamed`: files left in an entry (`StreamedResult`), copied from it by the kernel.
    func write(_ result: CachedResult, streamed: StreamedResult? = nil) throws(SystemError) {
        var planned: [(path: String, bytes: [UInt8], executable: Bool)] = []
        var copied: [(path: String, offset: Int, count: Int)] = []
        for file in streamed?.external ?? [] {
            guard let path = path(of: file.kind) else { continue }
            copied.append((outputPath(path, file.kind), file.offset, file.count))
        }
        for file in result.files {
            guard let path = path(of: file.kind) else { continue }
            let target = file.kind == .dependencyWithoutTarget ? request.dependencyTargetText : []
            planned.append((outputPath(path, file.kind), target + file.bytes, file.kind == .executable))
        }
        var prepared: [PreparedOutput] = []
        do throws(SystemError) {
            for (path, bytes, executable) in planned {
                let output = try PreparedOutput(path: path, bytes: bytes)
                prepared.append(output)
                // As the linker creates a program: every permission the caller's mask leaves.
                if executable {
                    let mask = umask(0)
                    umask(mask)
                    guard fchmod(output.fd, 0o777 & ~mask) == 0 else { throw SystemError("fchmod", path) }
                }
            }
            if let source = streamed?.fd {
                for (path, offset, count) in copied {
                    prepared.append(try PreparedOutput(path: path, copying: count, from: source, at: offset))
                }
            }
            for index in prepared.indices { try prepared[index].place() }
        } catch {
            for output in prepared { output.discard() }
            throw error
        }
        for output in prepared { output.discard() }
        Console.write(result.stdout, to: 1)
        Console.write(plainDiagnostics ? DiagnosticColors.strip(result.stderr) : result.stderr, to: 2)
    }
}

/// The terminal escapes gcc and clang colour diagnostics with (`ESC [ … m`, `ESC [ K`).
enum DiagnosticColors {
    static func strip(_ bytes: [UInt8]) -> [UInt8] {
        guard bytes.contains(0x1b) else { return bytes }
        var out: [UInt8] = []
        out.reserveCapacity(bytes.count)
        var index = 0
        while index < bytes.count {
            if bytes[index] == 0x1b, index + 1 < bytes.count, bytes[index + 1] == UInt8(ascii: "[") {
                var end = index + 2
                while end < bytes.count, (0x30...0x3f).contains(bytes[end]) { end += 1 }
                if end < bytes.count, (0x40...0x7e).contains(bytes[end]) {
                    index = end + 1
                    continue
                }
            }
            out.append(bytes[index])
            index += 1
        }
        return out
    }
}

extension ResultWriter {
    /// Where an output of this kind goes for this call (nil: the call writes none).
    func path(of kind: OutputKind) -> String? {
        switch kind {
        case .object: return request.discardsObject ? nil : request.output
        case .executable: return request.links ? request.output : nil
        case .splitDwarf: return request.splitDwarfOutput
        case .coverageNotes: return request.coverageNotesOutput
        case .stackUsage: return request.stackUsageOutput
        case .callgraphInfo: return request.callgraphInfoOutput
        case .assemblerListing: return request.assemblerListingOutput
        case .linkMap: return request.linkMapOutput
        case .moduleInterface: return request.modules.interfaceOutput
        case .moduleContext: return nil
        case .dependencyWithoutTarget, .dependencyVerbatim:
            return request.dependencyFile.flatMap { $0.isDiscarded ? nil : $0.path }
        }
    }
}

/// One output written in full but not yet in place.
struct PreparedOutput {
    var path: String
    /// An unnamed file (`O_TMPFILE`) when the file system has them, else a named temporary beside `path`.
    var fd: Int32
    var temporaryName: String?
    var placed = false
    /// Bytes written.
    var size = 0

    /// `O_TMPFILE` (with `O_DIRECTORY`, as the kernel defines it); Glibc's headers keep it behind _GNU_SOURCE.
    static let unnamedFile: Int32 = 0o20000000 | O_DIRECTORY

    init(path: String, bytes: [UInt8]) throws(SystemError) {
        try self.init(path: path) { fd throws(SystemError) in try FileSystem.writeAll(fd, bytes, path: path) }
        size = bytes.count
    }

    /// `count` bytes of `source` from `offset`, copied by the kernel (`sendfile`), in chunks where it stops.
    init(path: String, copying count: Int, from source: Int32, at offset: Int) throws(SystemError) {
        try self.init(path: path) { fd throws(SystemError) in
            var position = off_t(offset)
            var remaining = count
            while remaining > 0 {
                let n = sendfile(fd, source, &position, remaining)
                if n < 0 && errno == EINTR { continue }
                guard n > 0 else { throw SystemError("sendfile", path, code: n == 0 ? EIO : errno) }
                remaining -= n
            }
        }
        size = count
    }

    private init(path: String, fill: (Int32) throws(SystemError) -> Void) throws(SystemError) {
        self.path = path
        var fd = Glibc.open(Path.directory(of: path), Self.unnamedFile | O_WRONLY | O_CLOEXEC, 0o666)
        var name: String?
        if fd < 0 {
            let temporary = FileSystem.temporaryName(beside: path)
            fd = try FileSystem.open(temporary, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW)
            name = temporary
        }
        self.fd = fd
        self.temporaryName = name
        do {
            try fill(fd)
        } catch {
            discard()
            throw error
        }
    }

    /// Gives the unnamed file a name, then renames it over the output.
    mutating func place() throws(SystemError) {
        if temporaryName == nil {
            let temporary = FileSystem.temporaryName(beside: path)
            if linkat(AT_FDCWD, "/proc/self/fd/" + NumberText.decimal(Int(fd)), AT_FDCWD, temporary, AT_SYMLINK_FOLLOW) != 0 {
                throw SystemError("link", path)
            }
            temporaryName = temporary
        }
        guard let temporary = temporaryName else { return }
        // ext4 (auto_da_alloc) writes out a file renamed over another before the rename returns: 5.4 ms of
        // a 12 ms hit on a 5 MB object, 0.2-0.8 ms of a 3 ms small one here. Exchanging the two names
        // instead (the old file then goes by the temporary name and is removed) costs 0.03 ms, and the
        // output path holds a whole file at every instant. Where the file system cannot exchange, a large
        // output's old file is removed first and a small one is renamed over.
        if incrcc_exchange(temporary, path) == 0 {
            placed = true
            unlink(temporary)
            return
        }
        if size >= Self.largeOutput { unlink(path) }
        try FileSystem.rename(temporary, path)
        placed = true
    }

    /// Outputs at least this large replace the old file by removing it first (see `place`).
    static let largeOutput = 1 << 20

    /// Closes the file; a named temporary that was not put in place is removed.
    func discard() {
        close(fd)
        if !placed, let temporaryName { unlink(temporaryName) }
    }
}

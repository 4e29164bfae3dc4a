import Glibc

/// Writes a cached result's files where this call wants them, then its console output.
///
/// All or nothing, as far as a file system allows: every file is written in full to an unnamed temporary
/// file (`O_TMPFILE`, which a kill leaves no trace of) before any is put in place, so a full disk or a
/// failed write leaves the outputs as they were and the caller runs the compiler instead, which then says
/// and leaves what it would. An output path that is a symlink is written through, as the compiler does.
struct ResultWriter {
    var request: CompileRequest
    /// The stored diagnostics are coloured and this caller's stderr is no terminal.
    var plainDiagnostics = false

    func write(_ result: CachedResult) throws(SystemError) {
        var planned: [(path: String, bytes: [UInt8])] = []
        for file in result.files {
            switch file.kind {
            case .object: planned.append((request.output, file.bytes))
            case .dependencyWithoutTarget:
                guard let dependency = request.dependencyFile, !dependency.isDiscarded else { continue }
                planned.append((dependency.path, DependencyFile.escapeTarget(request.output) + file.bytes))
            case .dependencyVerbatim:
                guard let dependency = request.dependencyFile, !dependency.isDiscarded else { continue }
                planned.append((dependency.path, file.bytes))
            case .splitDwarf:
                if let path = request.splitDwarfOutput { planned.append((path, file.bytes)) }
            case .coverageNotes:
                if let path = request.coverageNotesOutput { planned.append((path, file.bytes)) }
            case .stackUsage:
                if let path = request.stackUsageOutput { planned.append((path, file.bytes)) }
            }
        }
        var prepared: [PreparedOutput] = []
        do throws(SystemError) {
            for (path, bytes) in planned {
                prepared.append(try PreparedOutput(path: FileSystem.resolvingLinks(path), bytes: bytes))
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

/// One output written in full but not yet in place.
struct PreparedOutput {
    var path: String
    /// An unnamed file (`O_TMPFILE`) when the file system has them, else a named temporary beside `path`.
    var fd: Int32
    var temporaryName: String?
    var placed = false

    /// `O_TMPFILE` (with `O_DIRECTORY`, as the kernel defines it); Glibc's headers keep it behind _GNU_SOURCE.
    static let unnamedFile: Int32 = 0o20000000 | O_DIRECTORY

    init(path: String, bytes: [UInt8]) throws(SystemError) {
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
            try FileSystem.writeAll(fd, bytes, path: path)
        } catch {
            discard()
            throw error
        }
    }

    /// Gives the unnamed file a name, then renames it over the output.
    mutating func place() throws(SystemError) {
        if temporaryName == nil {
            let temporary = FileSystem.temporaryName(beside: path)
            if linkat(AT_FDCWD, "/proc/self/fd/\(fd)", AT_FDCWD, temporary, AT_SYMLINK_FOLLOW) != 0 {
                throw SystemError("link", path)
            }
            temporaryName = temporary
        }
        guard let temporary = temporaryName else { return }
        try FileSystem.rename(temporary, path)
        placed = true
    }

    /// Closes the file; a named temporary that was not put in place is removed.
    func discard() {
        close(fd)
        if !placed, let temporaryName { unlink(temporaryName) }
    }
}

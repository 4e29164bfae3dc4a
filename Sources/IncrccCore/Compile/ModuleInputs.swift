import Glibc

/// The compiled module interfaces (BMIs) a compile may have loaded, found after it ran.
///
/// clang loads the files `-fmodule-file=` names, and for each module a loaded BMI imports, the file the
/// command line maps that module's name to or, without one, the path stored inside the importing BMI
/// (checked with clang 16: a mapping wins over the stored path). A compiler's dependency list misses some
/// of them (clang 16's `-MD` names the BMIs of a module unit's imports, not those of an ordinary unit), so
/// they are found here: the named files, then what each one imports (`clang -module-file-info`, remembered
/// by the BMI's content), transitively. Each is hashed before the call returns, as a link's inputs are.
struct ModuleInputs {
    struct Read {
        var path: String
        var status: FileStatus
        var digest: Digest
    }

    var files: [Read]
    /// Every module reached has a `NAME=FILE` mapping on the command line: no path stored inside a BMI is
    /// followed, so a BMI incrcc wrote can be keyed by the compile that wrote it (`ModuleProvenance`)
    /// rather than by its bytes, which hold its build directory.
    var allMapped: Bool
}

extension CachedCompile {
    /// The BMIs this call's compile may have read; nil when that cannot be told (a file missing, changed
    /// since the compile began, or not a BMI clang can describe).
    func moduleInputs(compileStart: Int64) -> ModuleInputs? {
        let mapped = Set(request.modules.mappedNames)
        var queue = request.modules.files.map(\.path)
        var seen: Set<String> = []
        var reads: [ModuleInputs.Read] = []
        var allMapped = true
        var position = 0
        while position < queue.count {
            let path = queue[position]
            position += 1
            guard seen.insert(path).inserted else { continue }
            guard let status = try? FileSystem.status(path), status.isRegularFile,
                  status.modifiedNanoseconds < compileStart, status.changedNanoseconds < compileStart,
                  let bytes = try? FileSystem.readFile(path),
                  let after = try? FileSystem.status(path), after.sameContentAs(status) else {
                log.write("module file \(path) is missing or changed during the compile")
                return nil
            }
            let digest = Digest.of(bytes)
            guard let imports = moduleImports(path, bytes: bytes, digest: digest) else {
                log.write("module file \(path): its imports cannot be read")
                return nil
            }
            reads.append(ModuleInputs.Read(path: path, status: status, digest: digest))
            for (name, stored) in imports where !mapped.contains(name) {
                allMapped = false
                queue.append(stored)
            }
        }
        return ModuleInputs(files: reads, allMapped: allMapped)
    }

    /// The modules a BMI imports, with the paths stored for them: remembered under its content digest,
    /// else asked of the compiler. nil for a file that is no BMI the compiler can describe.
    func moduleImports(_ path: String, bytes: [UInt8], digest: Digest) -> [(name: String, path: String)]? {
        if let known = store.read(digest, kind: .moduleImports), let imports = Self.decodeImports(known) { return imports }
        // clang's AST files begin with `CPCH`; `-module-file-info` exits 0 even for a file that is not one.
        guard bytes.starts(with: Array("CPCH".utf8)),
              let (status, stdout, _) = try? ChildProcess.runCapturing(compilerPath, [compilerPath, "-module-file-info", path]),
              status.succeeded, ByteSearch.find(Array("\n  Module name: ".utf8), in: stdout) != nil else { return nil }
        var imports: [(name: String, path: String)] = []
        let marker = Array("  Imports module '".utf8)
        for line in stdout.split(separator: UInt8(ascii: "\n")) where line.starts(with: marker) {
            let rest = line.dropFirst(marker.count)
            guard let quote = rest.firstIndex(of: UInt8(ascii: "'")),
                  rest[quote...].starts(with: Array("': ".utf8)) else { return nil }
            let name = String(decoding: rest[..<quote], as: UTF8.self)
            let stored = String(decoding: rest[(quote + 3)...], as: UTF8.self)
            guard !name.isEmpty, !stored.isEmpty else { return nil }
            imports.append((name, stored))
        }
        try? store.write(digest, kind: .moduleImports, payload: Self.encodeImports(imports))
        return imports
    }

    /// `name NUL path NUL` for each import.
    static func encodeImports(_ imports: [(name: String, path: String)]) -> [UInt8] {
        var out: [UInt8] = []
        for (name, path) in imports {
            out += Array(name.utf8) + [0] + Array(path.utf8) + [0]
        }
        return out
    }

    static func decodeImports(_ bytes: [UInt8]) -> [(name: String, path: String)]? {
        if bytes.isEmpty { return [] }
        guard bytes.last == 0 else { return nil }
        let fields = bytes.dropLast().split(separator: 0, omittingEmptySubsequences: false)
        guard fields.count % 2 == 0, !fields.contains(where: \.isEmpty) else { return nil }
        var imports: [(name: String, path: String)] = []
        var index = 0
        while index < fields.count {
            imports.append((String(decoding: fields[index], as: UTF8.self), String(decoding: fields[index + 1], as: UTF8.self)))
            index += 2
        }
        return imports
    }

    /// What the manifest records of the BMIs read: each by its provenance where every module is mapped and
    /// incrcc wrote it, else by its bytes. Their paths are left out of the key's dependency list otherwise.
    func moduleRecords(_ inputs: ModuleInputs) -> [RecordedFile] {
        let now = Clock.nowNanoseconds()
        let provenance = ModuleProvenance(store: store)
        return inputs.files.map { read in
            RecordedFile.moduleFile(read.path, byProvenance: inputs.allMapped,
                                    digest: inputs.allMapped ? provenance.identity(of: read.digest) : read.digest,
                                    status: read.status, statTrusted: StatTrust.isSettled(read.status, now: now))
        }
    }
}

extension CachedResult {
    /// The same result with its module interface (and the directory it records) replaced.
    func placingInterface(_ interface: [UInt8], writtenIn directory: String) -> CachedResult {
        var copy = self
        for index in copy.files.indices {
            switch copy.files[index].kind {
            case .moduleInterface: copy.files[index].bytes = interface
            case .moduleContext: copy.files[index].bytes = Array(directory.utf8)
            default: break
            }
        }
        return copy
    }
}

/// Which compile wrote a compiled module interface: the BMI's content digest maps to an identity of the
/// result that holds it (its result key, and the working directory when the source was named relative
/// to it). Two BMIs with one identity differ only in the build directory recorded inside them, which a
/// compile that imports them through `NAME=FILE` mappings does not read; so importers in a fresh build
/// directory find their results. A BMI incrcc did not write is keyed by its bytes.
struct ModuleProvenance {
    var store: CacheStore

    /// The identity a BMI with these bytes is keyed by.
    func identity(of digest: Digest) -> Digest {
        guard let payload = store.read(digest, kind: .moduleProvenance), payload.count == 16 else { return digest }
        var reader = ByteReader(payload)
        return (try? reader.readDigest()) ?? digest
    }

    /// Remembers that a BMI with these bytes came from the result `identity` names.
    func remember(_ bmi: [UInt8], identity: Digest) {
        let digest = Digest.of(bmi)
        guard self.identity(of: digest) != identity else { return }
        var writer = ByteWriter()
        writer.write(identity)
        try? store.write(digest, kind: .moduleProvenance, payload: writer.bytes)
    }

    /// The identity of the interface a result holds.
    static func identity(result: Digest, source: String, currentDirectory: String) -> Digest {
        var hasher = StreamingHasher()
        hasher.update("incrcc module provenance 1")
        hasher.update(result)
        hasher.update(source.hasPrefix("/") ? "" : currentDirectory)
        return hasher.finalize()
    }
}

extension CachedCompile {
    /// Writes the module unit's interface again in this directory (`--precompile`, the same bytes as
    /// `-fmodule-output` writes: compared with clang 16 under `-O2`, `-g` and `-fPIC`), for a result
    /// stored in another one. nil when the compiler did not write it.
    func rebuiltInterface() -> [UInt8]? {
        let temporary = store.temporaryDirectory
        store.makeTemporaryDirectory()
        let path = FileSystem.temporaryName(beside: temporary + "/interface") + ".pcm"
        defer { FileSystem.remove(path) }
        let arguments = request.argumentsWithoutOutputs().filter { !$0.hasPrefix("-fmodule-output") }
            + ["--precompile", "-o", path] + (colorDiagnostics ? ["-fdiagnostics-color"] : [])
        let command = prefix + [compilerPath] + arguments
        guard let (status, _, _) = try? ChildProcess.runCapturing(command[0], command),
              status.succeeded, let bytes = try? FileSystem.readFile(path), !bytes.isEmpty else {
            log.write("the module interface could not be written again here: compiling")
            return nil
        }
        log.write("module interface written again for this directory")
        return bytes
    }

    /// Remembers which result the interface a call writes came from, so that importers key it by that.
    func rememberInterface(_ result: CachedResult, resultKey: Digest) {
        guard request.modules.writesInterface else { return }
        let interface = request.modules.precompiles ? result.file(.object) : result.file(.moduleInterface)
        guard let interface else { return }
        let identity = ModuleProvenance.identity(result: resultKey, source: request.source,
                                                 currentDirectory: currentDirectory)
        ModuleProvenance(store: store).remember(interface, identity: identity)
    }
}

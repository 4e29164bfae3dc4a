import Glibc

/// The key of one call, as the lookup and `incrcc explain` see it.
extension CachedCompile {
    /// Everything up to the lookup: the outputs and source checked, the compiler identified, the key built
    /// (normalized where the call has ephemeral path parts); the reason the call runs uncached otherwise.
    func prepareCall() -> Result<Call, Counter> {
        let now = Clock.nowNanoseconds()
        for path in outputPaths where path != "/dev/null" {
            guard let status = try? FileSystem.statusIfExists(path) else {
                // An object whose directory is missing: the compiler says so, uncached (as ccache counts it).
                // Asked only when the object is absent, so a hit over an existing one pays nothing for it.
                if path == request.output, !request.discardsObject, !FileSystem.exists(Path.directory(of: path)) {
                    return .failure(.badOutputFile)
                }
                continue
            }
            if !status.isRegularFile { return .failure(.badOutputFile) }
        }
        guard let sourceStatus = try? FileSystem.status(request.source) else { return .failure(.noInputFile) }
        // `-x c /dev/null` (configure's and CMake's probes) compiles an empty source.
        let emptySource = request.source == "/dev/null"
        guard sourceStatus.isRegularFile || emptySource else { return .failure(.badOutputFile) }
        guard let source = emptySource ? [] : try? FileSystem.readFile(request.source) else {
            return .failure(.noInputFile)
        }
        // A source may opt out, as with ccache (`// incrcc:disable`, and `ccache:disable` as ccache spells it).
        if ByteSearch.find(Array("incrcc:disable".utf8), in: source) != nil
            || ByteSearch.find(Array("ccache:disable".utf8), in: source) != nil {
            return .failure(.disabled)
        }
        let compiler: CompilerIdentity
        do {
            compiler = try CompilerIdentity.identify(compilerPath, cacheDirectory: store.directory, now: now)
        } catch {
            log.write("cannot identify compiler: \(error)")
            return .failure(.couldNotFindCompiler)
        }
        // clang's precompiled headers record their headers' modification times and refuse to load when a
        // header's differs, so one cannot be served from another time: only gcc's are cached.
        if request.language.isHeader && compiler.family != .gcc { return .failure(.unsupportedPrecompiledHeader) }
        let compatibility = configuration.compatibility
        guard let compilerDigest = compilerCheckDigest(compiler) else {
            log.write("compiler_check '\(configuration.compatibility.compilerCheck)' failed: running uncached")
            return .failure(.compilerCheckFailed)
        }
        var key = DirectKeyInput(compiler: compilerDigest, request: compatibility.adjusting(request),
                                 sourceDigest: Digest.of(source), currentDirectory: currentDirectory,
                                 colorDiagnostics: !storesColoredDiagnostics(compiler) && colorDiagnostics,
                                 lookup: lookup)
        // Stored coloured and shown as asked: gcc's colour options decide nothing else.
        if request.colorChoice != nil && storesColoredDiagnostics(compiler) {
            key.request.keyedArguments.removeAll(where: CompileRequest.isGCCColorOption)
        }
        if let program = prefix.first {
            // distcc's pump mode (its include server announced in INCLUDE_SERVER_PORT, a per-build socket)
            // preprocesses on the host from a mirror of the headers; Debian 12's include server fails and
            // falls back to plain mode, so no pump object could be compared here: keyed apart, every call.
            if let pump = lookup("INCLUDE_SERVER_PORT"), !pump.isEmpty {
                key.compiledThrough = Path.baseName(program) + " pump"
            } else if request.debugInfo {
                key.compiledThrough = Path.baseName(program)
            }
        }
        if compatibility.sloppiness.contains(.locale) {
            key.environment.removeAll { $0.name == "LANG" || $0.name == "LANGUAGE" || $0.name.hasPrefix("LC_") }
        }
        // An `extra_files_to_hash` file that cannot be read runs the call uncached, as with ccache; missing
        // profile data is keyed as missing (the compiler warns and compiles without it).
        for path in compatibility.extraFilesToHash {
            guard let bytes = try? FileSystem.readFile(path) else {
                log.write("extra file \(path) cannot be read")
                return .failure(.errorHashingExtraFile)
            }
            key.extraInputs.append(Digest.of(bytes))
        }
        var extraFiles = compatibility.extraFilesToHash
        if let profile = request.profileUse {
            guard let path = profile.path(family: compiler.family, object: request.output,
                                          currentDirectory: currentDirectory) else {
                return .failure(.unsupportedCompilerOption)
            }
            extraFiles.append(path)
            key.extraInputs.append(Self.extraInputDigest(try? FileSystem.readFile(path)))
        }
        var patchClass: Digest?
        let mapping = pathMapping(key: key, family: compiler.family)
        // A program is keyed by its real paths; one linked in a throw-away directory or under moving paths
        // could never be found again, so it runs uncached as before.
        if request.links && !mapping.isEmpty { return .failure(.calledForLink) }
        // A compiled module interface records the paths it was built at, bit-packed, where no patch reaches:
        // module units under moving paths run uncached.
        if request.modules.isUsed && !mapping.isEmpty {
            log.write("module unit under moving paths: compiled uncached")
            return .failure(.moduleInputsUnknown)
        }
        if !mapping.isEmpty {
            let digest = PatchTrust.classDigest(compiler: compiler.digest, request: request)
            patchClass = digest
            if trust.isDistrusted(digest) {
                log.write("patch class \(digest.hex) is distrusted: keying real paths")
            } else {
                key.mapping = mapping
                // A source that holds a path part of the call (generated into a throw-away build dir) is
                // keyed by its normalized text, as headers are.
                let contents = mapping.withoutCheckout
                if !contents.pairs.isEmpty, let normalized = contents.normalizeReversibly(source), normalized != source {
                    key.sourceDigest = Digest.of(normalized)
                }
            }
        }
        let call = Call(source: source, compiler: compiler, key: key, directKey: key.digest(), patchClass: patchClass,
                        extraInputPaths: extraFiles, sourceStatus: emptySource ? nil : sourceStatus)
        log.write("\(request.source): direct key \(call.directKey.hex)")
        return .success(call)
    }

    /// What the key holds of an extra input (profile data, `extra_files_to_hash`): its bytes' digest, or
    /// zero for a file that cannot be read, so its appearing later is a new key.
    static func extraInputDigest(_ bytes: [UInt8]?) -> Digest {
        bytes.map(Digest.of) ?? Digest(high: 0, low: 0)
    }
}

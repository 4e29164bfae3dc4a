import Glibc

/// What the preprocessor-text route learnt during the lookup, kept for the miss that follows: the key is
/// computed once (one preprocessor run per call), and a miss stores its result under it.
final class PreprocessedTextMemo {
    var key: Digest?
    /// When the preprocessor started: a file the compile read that changed after it may not be the text
    /// that was hashed.
    var startedAt: Int64 = 0
    var tried = false
}

/// The preprocessor-text route, ccache's preprocessor mode (direct mode off): the key hashes what the
/// preprocessor made of the call (its output, its diagnostics, the files it read and their contents) and
/// leaves out the options that only steer it (`-D`, `-I`, …), so a call with other such options finds the
/// result when the preprocessor made the same of it.
///
/// Why the contents stay in the key although the text holds the tokens: the object depends on where each
/// token stood in its file, which the text does not keep. gcc 12's `-g` records columns, and a macro
/// expanded earlier on a line moves them (compiling a source and compiling its own `-E` output give other
/// `.debug_line` columns); clang 16's DWARF 5 records each file's MD5; `__builtin_COLUMN()`,
/// `std::source_location` and the sanitizers' reports hold columns too. With the contents keyed, a
/// preprocessor-only option can change the object only through the text or the files read, both keyed;
/// checked by compiling and comparing with gcc 12 and clang 16, with and without `-g`. Not tried: macro
/// debug info (`-g3`: every macro defined is recorded), options that record the command line, a
/// precompiled header or module the text does not show, and paths with moving parts.
extension CachedCompile {
    /// Options that only decide what the preprocessor reads and defines: left out of this key.
    static let preprocessorOnlyOptions: Set<String> = ["-D", "-U", "-I", "-iquote", "-isystem", "-idirafter",
                                                       "-include", "-imacros"]

    /// Why the route is not tried for this call; nil when it is.
    func preprocessedTextBlocker(_ call: Call) -> String? {
        switch request.language {
        case .c, .cxx, .objc, .objcxx: break
        default: return "the source is not preprocessor input (its own key holds all it reads)"
        }
        guard call.compiler.family != .unknown else { return "the compiler is neither gcc nor clang" }
        if !call.mapping.isEmpty { return "the call has moving path parts" }
        for argument in request.keyedArguments {
            if argument.hasPrefix("-g"), argument.hasSuffix("3"), argument != "-gdwarf-3" {
                return "macro debug info (\(argument)) records the macros defined"
            }
            if argument == "-fdebug-macro" || argument == "-frecord-gcc-switches" || argument == "-frecord-command-line"
                || argument == "-grecord-command-line" || argument == "-include-pch" || argument.hasPrefix("-fmodule")
                || argument == "-Xclang" || argument == "-fpch-preprocess" || argument == "-traditional-cpp"
                || (argument.hasPrefix("-Wp,") && argument != "-Wp,-P") {
                return "\(argument) is not followed by this route"
            }
        }
        return nil
    }

    /// The find face: preprocesses the source (once per call) and offers the result stored under its text.
    func findByPreprocessedText(_ call: Call, notes: LookupNotes?, consider: Consider) -> Bool {
        if let blocker = preprocessedTextBlocker(call) {
            notes?.add("not tried: \(blocker)")
            return false
        }
        guard let key = preprocessedTextKey(call) else {
            notes?.add("the preprocessor failed, or a precompiled header may stand in for a header")
            return false
        }
        guard let payload = store.read(key, kind: .preprocessedText), let result = try? Self.decodeTextEntry(payload) else {
            log.write("nothing stored under the preprocessor's text \(key.hex)")
            notes?.add("nothing was stored under this preprocessor output (key \(key.hex))")
            return false
        }
        var keyed = call
        keyed.directKey = key
        notes?.subject = "the preprocessor output's entry (result \(result.hex))"
        return consider(self, LookupCandidate(strategy: .preprocessedText, call: keyed, result: result,
                                              counter: .scanHit, settlement: .preprocessedText))
    }

    /// The key: the call's own key with what the preprocessor made of it (text, diagnostics, the files read
    /// and their contents) in place of the source, and without the options that only steer the
    /// preprocessor. nil when the preprocessor fails or a precompiled header may be used.
    func preprocessedTextKey(_ call: Call) -> Digest? {
        guard let memo = preprocessedText else { return nil }
        if memo.tried { return memo.key }
        memo.tried = true
        var input = call.key
        var kept: [String] = []
        request.forEachKeyedOption { option, value in
            if let value {
                if !Self.preprocessorOnlyOptions.contains(option) { kept += [option, value] }
                return
            }
            let joined = ["-D", "-U", "-I"].contains { option.hasPrefix($0) }
                || ["-iquote", "-isystem", "-idirafter", "-imacros"].contains { option.hasPrefix($0) }
                || (option.hasPrefix("-include") && !option.hasPrefix("-include-"))
            // `-c` says nothing `producesAssembly`, `links` and `discardsObject` do not.
            if !joined && option != "-c" { kept.append(option) }
        }
        input.request.keyedArguments = kept
        input.request.source = ""
        let builtin = recorder(call).builtinDirectories()
        let candidates = recorder(call).precompiledHeaderCandidates(source: call.source, builtin: builtin)
        if candidates.contains(where: FileSystem.exists) {
            log.write("a precompiled header may stand in for a header: the preprocessor's text is not keyed")
            return nil
        }
        memo.startedAt = Clock.nowNanoseconds()
        guard let output = runPreprocessor() else { return nil }
        var hasher = StreamingHasher()
        hasher.update(output.text)
        hasher.update(output.diagnostics)
        // The files read, in the order read, each with its content (the source's was read for the call).
        for path in DependencyFile.prerequisites(output.dependencies) where path != "/dev/null" {
            hasher.update(path)
            if path == request.source {
                hasher.update(call.key.sourceDigest)
            } else {
                guard let (facts, _) = facts.facts(of: path) else { return nil }
                hasher.update(facts.digest)
            }
        }
        input.sourceDigest = hasher.finalize()
        let key = input.digest(label: "incrcc preprocessed text key 1")
        log.write("preprocessed text key \(key.hex)")
        memo.key = key
        return key
    }

    /// Runs the preprocessor as the call would, with `-E`: its text, its diagnostics, and the list of files
    /// it read (its own `-MD` list, whatever the call asked).
    private func runPreprocessor() -> (text: [UInt8], diagnostics: [UInt8], dependencies: [UInt8])? {
        let base = FileSystem.temporaryName(beside: store.temporaryDirectory + "/cpp")
        let textPath = base + ".i", diagnosticsPath = base + ".log", dependencyPath = base + ".d"
        defer {
            FileSystem.remove(textPath)
            FileSystem.remove(diagnosticsPath)
            FileSystem.remove(dependencyPath)
        }
        store.makeTemporaryDirectory()
        // `-Wp,-P` only drops the line markers from `-E` output; the compile proper ignores it, so the text is
        // taken with them.
        let arguments = request.argumentsWithoutOutputs().filter { $0 != "-Wp,-P" }
            + ["-MD", "-MF", dependencyPath, "-E"]
        guard let status = try? ChildProcess.run(compilerPath, [compilerPath] + arguments, stdoutPath: textPath,
                                                 stderrPath: diagnosticsPath),
              status.succeeded, let text = try? FileSystem.readFile(textPath),
              let diagnostics = try? FileSystem.readFile(diagnosticsPath),
              let dependencies = try? FileSystem.readFile(dependencyPath) else {
            log.write("the preprocessor failed: no preprocessed text to key")
            return nil
        }
        return (text, diagnostics, dependencies)
    }

    /// The record face: the miss's result stored under the text's key, unless a file the compile read (or
    /// the source) changed after the preprocessor ran.
    func recordPreprocessedText(_ miss: StoredMiss) -> [Counter] {
        guard let memo = preprocessedText, let key = memo.key else { return [] }
        let compatibility = configuration.compatibility
        let statuses = miss.recorded.files.filter { !$0.isVariable }.map(\.status)
            + [(try? FileSystem.status(request.source))].compactMap { $0 }
        guard statuses.allSatisfy({ compatibility.acceptsNewDependency($0, compileStart: memo.startedAt) }) else {
            log.write("not stored under the preprocessed text: a file changed after the preprocessor ran")
            return []
        }
        var writer = ByteWriter()
        writer.write(miss.entry.result)
        do {
            try store.write(key, kind: .preprocessedText, payload: writer.bytes)
        } catch {
            log.write("cannot store the preprocessed text's entry: \(error)")
        }
        // Beside the result, as the scan index is: ccache's preprocessor mode writes the result alone.
        return []
    }

    /// The entry's one field: the result's key.
    static func decodeTextEntry(_ payload: [UInt8]) throws(MalformedEntry) -> Digest {
        var reader = ByteReader(payload)
        let result = try reader.readDigest()
        guard reader.isAtEnd else { throw MalformedEntry("trailing bytes") }
        return result
    }
}

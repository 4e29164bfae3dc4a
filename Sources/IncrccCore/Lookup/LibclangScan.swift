/// The libclang route, for translation units the directive scan cannot follow (computed includes): libclang
/// parses the unit as the real compiler sees it (its predefined macros with `-undef`, its own include
/// directories with `-nostdinc`) in the `incrcc-scan` child, only under `scan = always`.
extension CachedCompile {
    /// The exact include graph libclang finds, with every `__has_include` name resolved and keyed.
    func libclangGraph(_ call: Call) -> Result<IncludeGraph, Counter> {
        guard let helper = LibclangScanHelper.locate(lookup: lookup) else {
            log.write("libclang scan: incrcc-scan not found beside incrcc")
            return .failure(.scannerUnavailable)
        }
        let temporary = store.temporaryDirectory
        let builtin = recorder(call).builtinDirectories()
        guard let macros = CompilerMacros.file(compiler: call.compiler, request: request, cacheDirectory: store.directory)
        else {
            log.write("libclang scan: the compiler's predefined macros could not be read")
            return .failure(.scanLibclangFailed)
        }
        var arguments = ["-x", request.language.rawValue, "-undef", "-nostdinc", "-ferror-limit=0", "-w", "-include", macros]
        let scanner = graphScanner(call, builtin: builtin)
        if let predefined = scanner.resolve("stdc-predef.h", from: nil, quoted: false, exists: FileSystem.exists) {
            arguments += ["-include", predefined]
        }
        arguments += request.preprocessorArguments
        for directory in builtin { arguments += ["-isystem", directory] }

        let output = FileSystem.temporaryName(beside: temporary + "/scan-out")
        let errors = FileSystem.temporaryName(beside: temporary + "/scan-err")
        defer {
            FileSystem.remove(output)
            FileSystem.remove(errors)
        }
        let status = try? ChildProcess.run(helper, [helper, request.source] + arguments, stdoutPath: output, stderrPath: errors)
        let message = String(decoding: (try? FileSystem.readFile(errors)) ?? [], as: UTF8.self)
        guard let status, status.succeeded, let listing = try? FileSystem.readFile(output) else {
            log.write("libclang scan failed: " + message.split(separator: "\n").joined(separator: " "))
            if status == .exited(3) { return .failure(.scannerUnavailable) }
            return .failure(.scanLibclangFailed)
        }
        var files: [ScannedFile] = []
        var absent: [String] = []
        for line in String(decoding: listing, as: UTF8.self).split(separator: "\n") where line != macros {
            let path = String(line)
            guard let found = facts.facts(of: path)?.facts else { return .failure(.scanUnreadableFile) }
            files.append(ScannedFile(path: path, digest: found.digest))
            let directory = Path.directory(of: path)
            for test in found.references.existenceTests {
                if let resolved = scanner.resolve(test.name, from: directory, quoted: test.isQuoted, exists: FileSystem.exists) {
                    if let tested = facts.facts(of: resolved)?.facts { files.append(ScannedFile(path: resolved, digest: tested.digest)) }
                } else {
                    absent.append(test.name)
                }
            }
        }
        return .success(IncludeGraph(files: files, absentPaths: absent))
    }
}

/// Where `incrcc-scan` is: `INCRCC_SCANNER`, else beside the running incrcc, else in its `libexec`.
enum LibclangScanHelper {
    static func locate(lookup: (String) -> String?) -> String? {
        if let explicit = lookup("INCRCC_SCANNER"), !explicit.isEmpty {
            return FileSystem.isExecutableFile(explicit) ? explicit : nil
        }
        guard let running = FileSystem.realPath("/proc/self/exe") else { return nil }
        let directory = Path.directory(of: running)
        for candidate in [directory + "/incrcc-scan", directory + "/../libexec/incrcc/incrcc-scan"]
        where FileSystem.isExecutableFile(candidate) {
            return candidate
        }
        return nil
    }
}

/// The macros the real compiler predefines for a call's flags (`-dM -E`), as a header libclang includes
/// after `-undef`: so a unit whose includes differ between gcc and clang gets gcc's set when gcc compiles.
/// Remembered per compiler and flags beside the compiler records.
enum CompilerMacros {
    static func file(compiler: CompilerIdentity, request: CompileRequest, cacheDirectory: String) -> String? {
        file(compiler: compiler, language: request.language, flags: request.macroAffectingArguments,
             cacheDirectory: cacheDirectory)
    }

    /// The names the compiler defines for `flags` before reading any file.
    static func names(compiler: CompilerIdentity, language: SourceLanguage, flags: [String],
                      cacheDirectory: String) -> Set<String>? {
        guard let path = file(compiler: compiler, language: language, flags: flags, cacheDirectory: cacheDirectory),
              let text = try? CacheFiles(root: cacheDirectory).readIfExists(path) else { return nil }
        var names: Set<String> = []
        for line in text.split(separator: UInt8(ascii: "\n")) where line.starts(with: "#define ".utf8) {
            let name = line.dropFirst(8).prefix { $0 != UInt8(ascii: " ") && $0 != UInt8(ascii: "(") }
            names.insert(String(decoding: name, as: UTF8.self))
        }
        return names
    }

    static func file(compiler: CompilerIdentity, language: SourceLanguage, flags: [String],
                     cacheDirectory: String) -> String? {
        var hasher = StreamingHasher()
        hasher.update("compiler macros 1")
        hasher.update(compiler.digest)
        hasher.update(language.rawValue)
        for flag in flags { hasher.update(flag) }
        let record = cacheDirectory + "/compilers/" + hasher.finalize().hex + ".macros.h"
        let files = CacheFiles(root: cacheDirectory)
        if files.status(record)?.isRegularFile == true { return record }
        let arguments = [compiler.path] + flags + ["-x", language.rawValue, "-E", "-dM", "/dev/null"]
        guard let run = try? ChildProcess.runCapturing(compiler.path, arguments), run.status.succeeded else { return nil }
        do {
            try files.writeAtomically(record, run.stdout)
        } catch {
            return nil
        }
        return record
    }
}

/// ccache's settings that trade safety or hits for something a build needs, under ccache's names, so that a
/// ccache user's configuration carries over. Each trade is documented in the manual; the defaults trade
/// nothing.
public struct CompatibilitySettings: Sendable, Equatable {
    /// `stats = false`: no counters are written.
    public var stats = true
    /// Files whose content is part of every key (`extra_files_to_hash`, colon-separated).
    public var extraFilesToHash: [String] = []
    /// Options left out of the key (`ignore_options`, space-separated; a trailing `*` matches a prefix).
    public var ignoreOptions: [String] = []
    public var compilerCheck = CompilerCheck.content
    public var sloppiness: Set<Sloppiness> = []
    /// Where compilers are searched instead of `PATH` (`path`).
    public var path = ""
    /// `hash_dir = false`: the working directory is not keyed for debug information.
    public var hashDirectory = true
    /// ccache's `depend_mode`: the preprocessor is never run for a lookup. incrcc never runs it anyway (its
    /// direct mode reads the compiler's own dependency list); the setting is accepted, and a miss then
    /// counts no preprocessed-mode miss, as ccache counts it.
    public var dependMode = false
    /// Programs the compiler is run through (`prefix_command`, space-separated: `distcc`, `icecc`); the
    /// key stays the compiler's own.
    public var prefixCommand: [String] = []
    /// `ignore_headers_in_manifest` (colon-separated files or directories): headers left out of what a
    /// result is recorded to have read, so their edits are not seen (ccache's trade, for headers a build
    /// rewrites with the same meaning).
    public var ignoredHeaders: [String] = []

    /// Whether `path` (as the compiler named it, or absolute from `cwd`) is one of `ignoredHeaders` or
    /// below one, or a precompiled-header candidate of one.
    func ignoresHeader(_ path: String, cwd: String) -> Bool {
        guard !ignoredHeaders.isEmpty else { return false }
        let absolute = Path.absolute(path, cwd: cwd)
        return ignoredHeaders.contains { entry in
            let full = Path.absolute(entry, cwd: cwd)
            return [path, absolute].contains { $0 == entry || $0 == full || $0.hasPrefix(entry) && entry.hasSuffix("/")
                || $0.hasPrefix(entry + "/") || $0.hasPrefix(full + "/") || $0 == entry + ".gch" || $0 == full + ".gch" }
        }
    }

    public init() {}

    /// How the compiler is identified in the key.
    public enum CompilerCheck: Sendable, Equatable {
        /// Its bytes (remembered by stat): a rebuilt compiler at the same path and time is a new key.
        case content
        /// Its resolved path, size and modification time, as ccache's default.
        case mtime
        /// Its resolved path only.
        case none
        /// The given text instead of the compiler (`string:VALUE`).
        case string(String)
        /// The output of a command, run on every call (`%compiler%` stands for the compiler).
        case command(String)

        var text: String {
            switch self {
            case .content: return "content"
            case .mtime: return "mtime"
            case .none: return "none"
            case .string(let value): return "string:" + value
            case .command(let command): return command
            }
        }
    }

    /// ccache's sloppiness names that incrcc acts on.
    public enum Sloppiness: String, Sendable, CaseIterable {
        /// Cache compiles that use `__DATE__`, `__TIME__` or `__TIMESTAMP__` (their value is the first compile's).
        case timeMacros = "time_macros"
        /// Leave `LANG`, `LC_*` and `LANGUAGE` out of the key (messages in another language are served).
        case locale
        /// Trust a header's stat even when it changed during the compile or seconds before (rebuilt headers
        /// with the same size and times are then not seen).
        case includeFileMtime = "include_file_mtime"
        case includeFileCtime = "include_file_ctime"
        /// Leave the working directory out of the key for `-ftest-coverage` alone (the `.gcno` then names
        /// the directory of the compile that stored it). With `-fprofile-arcs` the object names its data
        /// file's absolute path, which stays keyed.
        case gcnoCwd = "gcno_cwd"
        /// The rest of ccache's words are accepted and change nothing: incrcc stays strict where they would
        /// make ccache loose (precompiled headers are inputs by content, file stats never stand in for
        /// content without the settling rule, system headers are always inputs, `.incbin`, modules and
        /// overlays are never cached, seeds are keyed).
        case pchDefines = "pch_defines"
        case fileStatMatches = "file_stat_matches"
        case fileStatMatchesCtime = "file_stat_matches_ctime"
        case systemHeaders = "system_headers"
        case clangIndexStore = "clang_index_store"
        case ivfsoverlay
        case modules
        case randomSeed = "random_seed"
        case incbin
        /// Obsolete in ccache too (the source path is always keyed), accepted as ccache accepts it.
        case fileMacro = "file_macro"
    }

    static let names: [(name: String, variable: String)] = [
        ("stats", "INCRCC_STATS"), ("extra_files_to_hash", "INCRCC_EXTRAFILES"),
        ("ignore_options", "INCRCC_IGNOREOPTIONS"), ("compiler_check", "INCRCC_COMPILERCHECK"),
        ("sloppiness", "INCRCC_SLOPPINESS"), ("path", "INCRCC_PATH"), ("hash_dir", "INCRCC_HASHDIR"),
        ("prefix_command", "INCRCC_PREFIX"), ("depend_mode", "INCRCC_DEPEND"),
        ("ignore_headers_in_manifest", "INCRCC_IGNOREHEADERS"),
    ]

    /// Sets one of these settings; false when `name` is not one of them.
    mutating func set(_ name: String, _ value: String, origin: SettingOrigin) throws(ConfigurationError) -> Bool {
        switch name {
        case "stats": stats = try Configuration.boolean(name, value, origin: origin)
        case "hash_dir": hashDirectory = try Configuration.boolean(name, value, origin: origin)
        case "depend_mode": dependMode = try Configuration.boolean(name, value, origin: origin)
        case "ignore_headers_in_manifest":
            ignoredHeaders = value.split(separator: ":").map(String.init)
        case "extra_files_to_hash":
            extraFilesToHash = value.split(separator: ":").map(String.init)
        case "ignore_options":
            ignoreOptions = value.split(whereSeparator: { $0 == " " || $0 == "\t" }).map(String.init)
        case "path": path = value
        case "prefix_command":
            prefixCommand = value.split(whereSeparator: { $0 == " " || $0 == "\t" }).map(String.init)
        case "compiler_check":
            switch value {
            case "content": compilerCheck = .content
            case "mtime": compilerCheck = .mtime
            case "none": compilerCheck = .none
            case let text where text.hasPrefix("string:"): compilerCheck = .string(String(text.dropFirst(7)))
            case let text where !text.trimmingSpaces().isEmpty: compilerCheck = .command(text)
            default: throw ConfigurationError("compiler_check: empty value (content, mtime, none, string:X or a command)")
            }
        case "sloppiness":
            var set: Set<Sloppiness> = []
            for word in value.split(whereSeparator: { $0 == "," || $0 == " " }) {
                guard let known = Sloppiness(rawValue: String(word)) else {
                    let names = Sloppiness.allCases.map(\.rawValue).joined(separator: ", ")
                    throw ConfigurationError("sloppiness: unknown '\(word)' (known: \(names))")
                }
                set.insert(known)
            }
            sloppiness = set
        default:
            return false
        }
        return true
    }

    func value(of name: String) -> String? {
        switch name {
        case "stats": return String(stats)
        case "hash_dir": return String(hashDirectory)
        case "depend_mode": return String(dependMode)
        case "prefix_command": return prefixCommand.joined(separator: " ")
        case "extra_files_to_hash": return extraFilesToHash.joined(separator: ":")
        case "ignore_headers_in_manifest": return ignoredHeaders.joined(separator: ":")
        case "ignore_options": return ignoreOptions.joined(separator: " ")
        case "path": return path
        case "compiler_check": return compilerCheck.text
        case "sloppiness": return Sloppiness.allCases.filter(sloppiness.contains).map(\.rawValue).joined(separator: ",")
        default: return nil
        }
    }

    /// The request as these settings key it: ignored options (with their separate values) left out, and
    /// with `hash_dir = false` the working directory no longer keyed for debug information.
    func adjusting(_ request: CompileRequest) -> CompileRequest {
        var adjusted = request
        if !ignoreOptions.isEmpty {
            var kept: [String] = []
            request.forEachKeyedOption { option, value in
                if ignores(option) { return }
                kept.append(option)
                if let value { kept.append(value) }
            }
            adjusted.keyedArguments = kept
        }
        if !hashDirectory && request.directoryIsOnlyInDebugInfo { adjusted.outputDependsOnDirectory = false }
        // The `.gcno` names the working directory, not the object (checked with gcc 12).
        if sloppiness.contains(.gcnoCwd), request.coverageNotesOutput != nil, !request.profileArcs,
           !request.debugInfo || !hashDirectory {
            adjusted.outputDependsOnDirectory = false
            if request.splitDwarfOutput == nil && !request.dependencyFileNamesOutput {
                adjusted.outputDependsOnOutputPath = false
            }
        }
        return adjusted
    }

    /// A header changed while the compiler ran (or too recently to tell) may still be recorded.
    func acceptsNewDependency(_ status: FileStatus, compileStart: Int64) -> Bool {
        (status.modifiedNanoseconds < compileStart || sloppiness.contains(.includeFileMtime))
            && (status.changedNanoseconds < compileStart || sloppiness.contains(.includeFileCtime))
    }

    /// `command` with every `%compiler%` replaced by `path`.
    static func substitutingCompiler(in command: String, with path: String) -> String {
        let marker = Array("%compiler%".utf8)
        let bytes = Array(command.utf8)
        var out: [UInt8] = []
        var at = 0
        while let found = ByteSearch.find(marker, in: bytes, from: at) {
            out += bytes[at..<found] + Array(path.utf8)
            at = found + marker.count
        }
        return String(decoding: out + bytes[at...], as: UTF8.self)
    }

    /// Whether an option is left out of the key by `ignore_options`.
    func ignores(_ option: String) -> Bool {
        ignoreOptions.contains { pattern in
            pattern.hasSuffix("*") ? option.hasPrefix(pattern.dropLast()) : option == pattern
        }
    }
}

extension CachedCompile {
    /// The compiler as `compiler_check` keys it; nil when its command failed.
    func compilerCheckDigest(_ compiler: CompilerIdentity) -> Digest? {
        var hasher = StreamingHasher()
        switch configuration.compatibility.compilerCheck {
        case .content:
            return compiler.digest
        case .mtime:
            guard let status = try? FileSystem.status(compiler.path) else { return nil }
            hasher.update("mtime")
            hasher.update(FileSystem.realPath(compiler.path) ?? compiler.path)
            hasher.update(UInt64(bitPattern: status.size))
            hasher.update(UInt64(bitPattern: status.modifiedNanoseconds))
        case .none:
            hasher.update("none")
            hasher.update(FileSystem.realPath(compiler.path) ?? compiler.path)
        case .string(let value):
            hasher.update("string")
            hasher.update(value)
        case .command(let command):
            // Run on every call, as ccache does: the cost of this trade is the user's to choose.
            let line = CompatibilitySettings.substitutingCompiler(in: command, with: compiler.path)
            guard let run = try? ChildProcess.runCapturing("/bin/sh", ["/bin/sh", "-c", line]), run.status.succeeded
            else {
                log.write("compiler_check command failed: \(line)")
                return nil
            }
            hasher.update("command")
            hasher.update(run.stdout)
            hasher.update(run.stderr)
        }
        return hasher.finalize()
    }
}

import Glibc

/// The variables that can change what the compiler writes (nixpkgs' cc-wrapper adds the `NIX_` ones to
/// the real command line, where incrcc never sees them as arguments). Values are keyed normalized.
public enum OutputAffectingEnvironment {
    public static let names = [
        "CPATH", "C_INCLUDE_PATH", "CPLUS_INCLUDE_PATH", "OBJC_INCLUDE_PATH", "OBJCPLUS_INCLUDE_PATH",
        "GCC_COLORS", "GCC_URLS", "TERM_URLS", "LANG", "LC_ALL", "LC_MESSAGES", "LC_CTYPE",
        "LANGUAGE", "COMPILER_PATH", "GCC_EXEC_PREFIX", "GCC_COMPARE_DEBUG", "CCC_OVERRIDE_OPTIONS",
        "QA_OVERRIDE_GCC3_OPTIONS", "NIX_CFLAGS_COMPILE", "NIX_CFLAGS_COMPILE_BEFORE", "NIX_HARDENING_ENABLE",
        "NIX_ENFORCE_NO_NATIVE", "NIX_CC_WRAPPER_TARGET_HOST", "NIX_CFLAGS_LINK", "NIX_LDFLAGS", "COLUMNS",
    ]

    /// Variables a link also reads: the library search of the driver and of the linker (the loader's paths
    /// decide which libraries a shared one needs are checked against), and the path the linker is found in.
    public static let linkNames = ["LIBRARY_PATH", "LD_LIBRARY_PATH", "LD_RUN_PATH", "PATH"]

    /// Variables that make the compiler write files incrcc does not know about.
    public static let uncacheableNames = ["DEPENDENCIES_OUTPUT", "SUNPRO_DEPENDENCIES"]

    /// Directories CPATH and friends add to the search, for negative probes.
    public static func includeDirectories(for language: SourceLanguage, lookup: (String) -> String?) -> [String] {
        var names = ["CPATH"]
        switch language {
        case .c, .assemblerWithCpp, .cHeader: names.append("C_INCLUDE_PATH")
        case .cxx, .cxxHeader: names.append("CPLUS_INCLUDE_PATH")
        case .objc: names.append("OBJC_INCLUDE_PATH")
        case .objcxx: names.append("OBJCPLUS_INCLUDE_PATH")
        default: break
        }
        return names.flatMap { name in
            (lookup(name) ?? "").split(separator: ":").map { $0.isEmpty ? "." : String($0) }
        }
    }
}

/// Everything besides headers that decides a compile's result, hashed into the key under which its
/// manifest is stored.
public struct DirectKeyInput {
    public var compiler: Digest
    public var request: CompileRequest
    public var sourceDigest: Digest
    public var currentDirectory: String
    public var colorDiagnostics: Bool
    /// The output-affecting variables that are set, in `OutputAffectingEnvironment.names` order: read once,
    /// since both the mapping and the digest need them.
    public var environment: [Environment.Variable]
    /// Paths are keyed normalized by it; empty when nothing is ephemeral or normalizing is off.
    public var mapping = PathMapping()
    /// Digests of `extra_files_to_hash`, in order.
    public var extraInputs: [Digest] = []
    /// The program a miss is compiled through (`prefix_command`), where that shows in the output: empty
    /// otherwise. distcc compiles preprocessed text remotely, and gcc 12's full debug info then records
    /// other declaration columns than a local compile of the source (checked with `cmp` and `readelf`).
    public var compiledThrough = ""

    public init(compiler: Digest, request: CompileRequest, sourceDigest: Digest, currentDirectory: String,
                colorDiagnostics: Bool, lookup: (String) -> String?) {
        self.compiler = compiler
        self.request = request
        self.sourceDigest = sourceDigest
        self.currentDirectory = currentDirectory
        self.colorDiagnostics = colorDiagnostics
        environment = []
        for name in OutputAffectingEnvironment.names {
            if let value = lookup(name) { environment.append(Environment.Variable(name: name, value: value)) }
        }
        // Where the driver and the linker look for libraries besides the command line.
        if request.links {
            for name in OutputAffectingEnvironment.linkNames {
                if let value = lookup(name) { environment.append(Environment.Variable(name: name, value: value)) }
            }
        }
    }

    /// The inputs below that can hold paths, in key order: what a `PathMapping` is built from.
    public var pathInputs: [String] {
        var inputs = request.keyedArguments
        inputs.append(request.source)
        if request.outputDependsOnDirectory { inputs.append(request.directoryAsWritten(currentDirectory)) }
        if request.outputDependsOnOutputPath { inputs.append(Path.absolute(request.output, cwd: currentDirectory)) }
        for variable in environment { inputs.append(variable.value) }
        return inputs
    }

    public func digest(label: String = "incrcc direct key 3") -> Digest {
        var hasher = StreamingHasher()
        hasher.update(label)
        feed(&hasher, extras: { hasher in
            hasher.update(UInt64(extraInputs.count))
            for digest in extraInputs { hasher.update(digest) }
        }, source: { $0.update(sourceDigest) })
        return hasher.finalize()
    }

    /// The key of this call's manifest in a shared cache: the same inputs, with the contents anyone may
    /// have written (source, extra files) by their SHA-256, in `namespace`.
    public func strongDigest(source: StrongDigest, extraInputs strongExtras: [StrongDigest],
                             namespace: String) -> StrongDigest {
        var hasher = StrongHasher()
        // 2: manifests carry their newest result (`RemoteManifest.Inlined`); 3: results record what their
        // compile read of its moving paths. Older versions keep to their own.
        hasher.update("incrcc shared manifest key 3")
        hasher.update(namespace)
        feed(&hasher, extras: { hasher in
            hasher.update(UInt64(strongExtras.count))
            for digest in strongExtras { hasher.update(digest) }
        }, source: { $0.update(source) })
        return hasher.finalize()
    }

    /// Everything but the key's label, in one order for both keys; the content digests come from `extras`
    /// and `source`.
    private func feed<H: KeyHashing & ~Copyable>(_ hasher: inout H, extras: (inout H) -> Void,
                                                  source: (inout H) -> Void) {
        hasher.update(mapping.isEmpty ? 0 : 1)
        hasher.update(compiler)
        extras(&hasher)
        hasher.update(request.language.rawValue)
        hasher.update(UInt64(request.keyedArguments.count))
        for argument in request.keyedArguments { hasher.update(mapping.normalize(argument)) }
        hasher.update(mapping.normalize(request.source))
        source(&hasher)
        hasher.update(request.producesAssembly ? 1 : 0)
        hasher.update(colorDiagnostics ? 1 : 0)
        if let dep = request.dependencyFile {
            hasher.update(dep.omitsSystemHeaders ? 2 : 1)
            hasher.update(dep.hasExplicitTarget ? 1 : 0)
            hasher.update(dep.isDiscarded ? 1 : 0)
        } else {
            hasher.update(0)
        }
        hasher.update(request.discardsObject ? 1 : 0)
        hasher.update(request.links ? 1 : 0)
        hasher.update(request.splitDwarfOutput != nil ? 1 : 0)
        hasher.update(request.coverageNotesOutput != nil ? 1 : 0)
        hasher.update(request.stackUsageOutput != nil ? 1 : 0)
        if request.callgraphInfoOutput != nil { hasher.update("callgraph info") }
        if request.assemblerListingOutput != nil { hasher.update("assembler listing") }
        if request.linkMapOutput != nil { hasher.update("link map") }
        if request.outputDependsOnDirectory {
            hasher.update("cwd")
            hasher.update(mapping.normalize(request.directoryAsWritten(currentDirectory)))
        }
        if request.outputDependsOnOutputPath {
            hasher.update("output")
            hasher.update(mapping.normalize(Path.absolute(request.output, cwd: currentDirectory)))
        }
        for variable in environment {
            hasher.update(variable.name)
            hasher.update(mapping.normalize(variable.value))
        }
        if request.dependsOnHostCPU {
            hasher.update("cpu")
            hasher.update(Self.hostCPUDescription())
        }
        if !compiledThrough.isEmpty {
            hasher.update("through")
            hasher.update(compiledThrough)
        }
    }

    /// The model name and feature flags of the first CPU: what `-march=native` resolves from.
    static func hostCPUDescription() -> [UInt8] {
        guard let info = try? FileSystem.readFile("/proc/cpuinfo") else { return [] }
        var kept: [UInt8] = []
        for line in info.split(separator: UInt8(ascii: "\n")) {
            if line.starts(with: "model name".utf8) || line.starts(with: "flags".utf8) || line.starts(with: "vendor_id".utf8) {
                kept.append(contentsOf: line)
                kept.append(UInt8(ascii: "\n"))
            }
            if line.isEmpty { break }
        }
        return kept
    }
}

/// The key of a result: the direct key plus the content of every file the compiler read.
public enum ResultKey {
    public static func digest(directKey: Digest, dependencies: [(path: String, digest: Digest)]) -> Digest {
        var hasher = StreamingHasher()
        hasher.update("incrcc result key 1")
        hasher.update(directKey)
        for dependency in dependencies {
            hasher.update(dependency.path)
            hasher.update(dependency.digest)
        }
        return hasher.finalize()
    }
}

import Glibc

/// The whole program behind the executable: decide what was asked, then either manage the cache or compile.
public enum IncrccMain {
    public static func run(arguments argv: [String]) -> Int32 {
        var configurationProblem: ConfigurationError?
        let configuration: Configuration
        do {
            configuration = try Configuration.load()
        } catch {
            configurationProblem = error
            configuration = Configuration(cacheDirectory: Configuration.defaultCacheDirectory(lookup: Environment.value))
        }

        let selfPath = FileSystem.realPath("/proc/self/exe")
        // ccache's `path`: where compilers are searched instead of PATH.
        let searchPath = configuration.compatibility.path
        let locator = CompilerLocator(pathVariable: searchPath.isEmpty ? Environment.value("PATH") : searchPath,
                                      selfPath: selfPath)
        /// The first argument's search, kept: when it names the compiler, it is searched for once.
        var searched: (name: String, path: String?)?
        let invocation = Invocation.decide(argv) { name in
            if SourceLanguage.forExtension(Path.fileExtension(name)) != nil { return false }
            let path = locator.locate(name)
            searched = (name, path)
            return path != nil
        }

        switch invocation {
        case .command(let arguments):
            var configuration = configuration
            if configurationProblem != nil {
                // Each bad setting said once, its default used: the commands stay usable to mend the file.
                guard let lenient = try? Configuration.load(lenient: true) else {
                    Console.error("error: \(configurationProblem?.message ?? "")")
                    return 1
                }
                for problem in lenient.problems { Console.error("warning: \(problem.message); its default is used") }
                configuration = lenient
            }
            // `umask` applies to what the commands create in the cache too (`-C`, `-c`, `-z`, `-M` on a new one).
            if let mask = configuration.umask { UserMask.useForCache(mode_t(mask)) }
            if arguments.first == "explain" {
                return explain(Array(arguments.dropFirst()), configuration: configuration, locator: locator)
            }
            return Commands(configuration: configuration).run(arguments)
        case .compile(let choice, let arguments):
            let name: String
            switch choice {
            case .defaultC: name = configuration.cCompiler
            case .defaultCXX: name = configuration.cxxCompiler
            case .masquerade(let own), .explicit(let own): name = own
            }
            let found = searched.flatMap { $0.name == name ? $0.path : nil } ?? locator.locate(name)
            guard let compilerPath = found else {
                // Exit 1, as ccache exits, rather than a shell's 127: this is incrcc failing, not a missing program.
                Console.error("error: cannot find compiler '\(name)' in PATH")
                return 1
            }
            var prefix: [String] = []
            if let first = configuration.compatibility.prefixCommand.first {
                guard let found = locator.locate(first) else {
                    Console.error("error: cannot find prefix command '\(first)' in PATH")
                    return 1
                }
                prefix = [found] + configuration.compatibility.prefixCommand.dropFirst()
            }
            let session = CompileSession(
                compilerPath: compilerPath, arguments: arguments, configuration: configuration,
                configurationProblem: configurationProblem, prefix: prefix)
            return session.run()
        }
    }
}

/// One compiler call: classify, run through the cache when that is safe, otherwise hand over to the compiler.
struct CompileSession {
    static let nestingVariable = "INCRCC_NESTING"

    var compilerPath: String
    var arguments: [String]
    var configuration: Configuration
    var configurationProblem: ConfigurationError?
    /// `prefix_command`, its program found in PATH: what the compiler is run through.
    var prefix: [String] = []

    func run() -> Int32 {
        if let configurationProblem {
            if configurationProblem.isFatal {
                Console.error("error: \(configurationProblem.message)")
                return 1
            }
            Console.error("error: \(configurationProblem.message); compiling without the cache")
            return handOver()
        }
        // A wrapper script named like the compiler that calls incrcc again, or a copy of incrcc that the
        // compiler search cannot tell from the real compiler, would run forever: each call tells the
        // compilers it runs how deep it is, and the third level stops.
        let depth = NumberText.decimalValue(Environment.value(Self.nestingVariable) ?? "") ?? 0
        if depth >= 2 {
            Console.error("error: incrcc is calling itself through '\(compilerPath)' (nested \(depth) deep); "
                          + "point INCRCC_CC/INCRCC_CXX or PATH at the real compiler")
            return 1
        }
        setenv(Self.nestingVariable, NumberText.decimal(depth + 1), 1)
        // Disabled means untouched: not even a statistics file is created.
        if configuration.disable { return handOver() }
        if let mask = configuration.umask { UserMask.useForCache(mode_t(mask)) }
        let log = LogFile(path: configuration.logFile)
        var store = CacheStore(directory: configuration.cacheDirectory, compressionLevel: configuration.compressionLevel,
                               uncompressedAbove: configuration.uncompressedAbove)
        store.readOnly = configuration.readOnly
        if !configuration.temporaryDirectory.isEmpty { store.temporaryDirectory = configuration.temporaryDirectory }
        let request: CompileRequest
        // Response files expanded (nil: one that cannot be read as the compilers read it).
        guard let expanded = ResponseFiles.expand(arguments) else {
            log.write("uncacheable (response file): \(arguments.joined(separator: " "))")
            count(.responseFile, store: store)
            return handOver()
        }
        switch ArgumentClassifier().classify(expanded) {
        case .uncacheable(let reason):
            log.write("uncacheable (\(reason.key)): \(arguments.joined(separator: " "))")
            count(reason, store: store)
            return handOver()
        case .cacheable(let value):
            request = value
        }
        // nixpkgs' ld-wrapper reads variables of its own (NIX_LDFLAGS_BEFORE, NIX_DONT_SET_RPATH, …) that no
        // key holds: links through it run uncached.
        let linkCached = configuration.linkCache == .all || configuration.linkCache == .probes && request.language != .objectCode
        if request.links && (!linkCached || Environment.value("NIX_BINTOOLS") != nil
                             || Environment.value("NIX_CC") != nil) {
            log.write("uncacheable (link_cache = \(configuration.linkCache.rawValue)): \(arguments.joined(separator: " "))")
            count(.calledForLink, store: store)
            return handOver()
        }
        if OutputAffectingEnvironment.uncacheableNames.contains(where: { Environment.value($0) != nil }) {
            count(.unsupportedEnvironmentVariable, store: store)
            return handOver()
        }
        do {
            if !configuration.readOnly { try FileSystem.makeDirectories(configuration.cacheDirectory) }
            // A regular file (or anything else) at the cache's name is no cache: said, not used silently.
            guard (try FileSystem.status(configuration.cacheDirectory)).isDirectory else {
                throw SystemError("stat", configuration.cacheDirectory, code: ENOTDIR)
            }
            // A read-only cache may sit on a read-only file system.
            guard configuration.readOnly || access(configuration.cacheDirectory, W_OK) == 0 else {
                throw SystemError("access", configuration.cacheDirectory)
            }
        } catch {
            Console.error("error: cache directory unusable (\(error)); compiling without the cache")
            return handOver()
        }
        if let problem = CacheOwnership.problem(with: configuration.cacheDirectory) {
            Console.error("error: \(problem); compiling without the cache")
            return handOver()
        }
        store.reportMismatches()
        guard let cwd = FileSystem.logicalCurrentDirectory(pwd: Environment.value("PWD")) else {
            count(.internalError, store: store)
            return handOver()
        }
        var compile = CachedCompile(request: request, compilerPath: compilerPath, configuration: configuration,
                                    store: store, log: log, currentDirectory: cwd)
        compile.prefix = prefix
        let outcome = compile.run()
        // Everything the call counted goes in one update, once, with its outcome's counters.
        let counters = compile.counters
        defer { counters.write(to: store.stats) }
        switch outcome {
        case .hit(let status, let notes):
            // ccache's keys as its dashboards read them: a scan hit follows a direct lookup that missed.
            let scanned = notes.contains(.scanHit)
            let lookups: [Counter] = scanned ? (configuration.directMode ? [.directCacheMiss] : []) : [.directHit]
            // A hit from the shared tier missed the local store first, as ccache counts it.
            if request.links { counters.add(.linkHit) }
            let shared = notes.contains(.remoteStorageReadHit)
            let local: Counter = shared ? .localStorageMiss : .localStorageHit
            counters.add(lookups + [local] + notes)
            // ccache's reads of the local store: a manifest and a result in direct mode, the result alone
            // otherwise; a scan hit in direct mode missed the manifest first.
            if shared {
                counters.add(.localStorageReadMiss, by: 2)
                counters.add(.remoteStorageHit)
            } else if scanned && configuration.directMode {
                counters.add([.localStorageReadMiss, .localStorageReadHit])
            } else {
                counters.add(.localStorageReadHit, by: configuration.directMode && !scanned ? 2 : 1)
            }
            return status.shellStatus
        case .miss(let status, let notes) where notes.contains(.tooNewDependency):
            // Compiled but not stored since an input changed meanwhile: counted as that alone, as ccache does.
            counters.add(notes)
            return status.shellStatus
        case .miss(let status, let notes):
            // A forced recompile counts as `recache` alone, as ccache counts it.
            var lookups: [Counter] = configuration.recache ? [.recache] : [.miss, .localStorageMiss]
            if !configuration.recache {
                if configuration.directMode { lookups.append(.directCacheMiss) }
                // As ccache counts a miss: its direct lookup and then its preprocessed one missed (incrcc's
                // scan stands for the second, whether or not it looked).
                if request.language.isPreprocessed && !configuration.compatibility.dependMode {
                    lookups.append(.preprocessedCacheMiss)
                }
            }
            counters.add(lookups + notes)
            if !configuration.recache { counters.add(.localStorageReadMiss, by: configuration.directMode ? 2 : 1) }
            return status.shellStatus
        case .failed(let status):
            counters.add(.compileFailed)
            return status.shellStatus
        case .uncached(let reason):
            counters.add(reason)
            // Written before this process becomes the compiler.
            counters.write(to: store.stats)
            return handOver()
        }
    }

    /// Stats go to a shard picked by process id, so parallel calls rarely share a lock.
    func count(_ counter: Counter, store: CacheStore) {
        count([counter], store: store)
    }

    /// All of a call's counters in one locked update.
    func count(_ counters: [Counter], store: CacheStore) {
        let accumulator = CallCounters(enabled: configuration.compatibility.stats)
        if !configuration.statsLog.isEmpty { accumulator.log = (configuration.statsLog, arguments.last ?? "") }
        accumulator.add(counters)
        accumulator.write(to: store.stats)
    }

    /// Replaces this process with the real compiler, arguments untouched.
    func handOver() -> Int32 {
        UserMask.restore()
        let command = prefix + [compilerPath] + arguments
        let failure = ChildProcess.replaceProcess(command[0], command)
        Console.error("error: \(failure)")
        return 127
    }
}

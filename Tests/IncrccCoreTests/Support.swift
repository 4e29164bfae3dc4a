import Foundation
import Testing

/// A scratch directory per test, removed when the value goes away.
final class Scratch {
    let path: String

    init(_ name: String = #function) {
        let base = NSTemporaryDirectory() + "incrcc-tests"
        try? FileManager.default.createDirectory(atPath: base, withIntermediateDirectories: true)
        var template = Array((base + "/t-XXXXXX").utf8CString)
        let made = template.withUnsafeMutableBufferPointer { mkdtemp($0.baseAddress!) }
        path = made.map { String(cString: $0) } ?? base + "/t-\(UUID().uuidString)"
    }

    deinit { try? FileManager.default.removeItem(atPath: path) }

    /// A name inside the scratch directory; an absolute path stays as it is.
    func file(_ name: String) -> String { name.hasPrefix("/") ? name : path + "/" + name }

    func write(_ name: String, _ text: String) {
        let full = file(name)
        try? FileManager.default.createDirectory(atPath: (full as NSString).deletingLastPathComponent,
                                                 withIntermediateDirectories: true)
        FileManager.default.createFile(atPath: full, contents: Data(text.utf8))
    }

    /// A script or program. Opened with O_CLOEXEC: tests run in parallel in one process, and a child spawned
    /// by another test while this file is open for writing would make executing it fail with ETXTBSY.
    func writeExecutable(_ name: String, _ text: String) {
        let full = file(name)
        try? FileManager.default.createDirectory(atPath: (full as NSString).deletingLastPathComponent,
                                                 withIntermediateDirectories: true)
        let fd = open(full, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0o755)
        guard fd >= 0 else { return }
        let bytes = Array(text.utf8)
        _ = bytes.withUnsafeBytes { Foundation.write(fd, $0.baseAddress, $0.count) }
        close(fd)
    }

    func read(_ name: String) -> Data? { FileManager.default.contents(atPath: file(name)) }

    func text(_ name: String) -> String { read(name).map { String(decoding: $0, as: UTF8.self) } ?? "" }

    func exists(_ name: String) -> Bool { FileManager.default.fileExists(atPath: file(name)) }
}

/// What a child process did; its output went to files in the scratch directory, never to pipes.
struct RunResult {
    var status: Int32
    var stdout: String
    var stderr: String
}

enum Tools {
    /// Every suite's bound, against a hang: the tests share the few threads of Swift's cooperative pool, so a
    /// suite's clock runs while its tests wait their turn, and a whole run takes 3.5 minutes on two cores.
    static let suiteTimeLimit: TimeLimitTrait.Duration = .minutes(15)

    static let packageRoot: String = {
        var url = URL(fileURLWithPath: #filePath)
        for _ in 0..<3 { url.deleteLastPathComponent() }
        return url.path
    }()

    /// The incrcc under test: INCRCC_TEST_BINARY, else the debug build.
    static let incrcc: String = {
        if let explicit = ProcessInfo.processInfo.environment["INCRCC_TEST_BINARY"], !explicit.isEmpty { return explicit }
        return packageRoot + "/.build/debug/incrcc"
    }()

    static func which(_ name: String) -> String? {
        let path = ProcessInfo.processInfo.environment["PATH"] ?? "/usr/bin:/bin"
        for dir in path.split(separator: ":") {
            let candidate = String(dir) + "/" + name
            if FileManager.default.isExecutableFile(atPath: candidate) { return candidate }
        }
        return nil
    }

    /// Whether this run is CI's (`CI=true`): there every tool a suite needs must be present, so a missing one
    /// fails its tests instead of skipping them silently.
    static let runningInCI = ProcessInfo.processInfo.environment["CI"] == "true"

    /// A suite's or test's condition on tools: met where they are present, and always under CI, so that a
    /// tool `.ci/install` failed to install shows up as failures.
    static func required(_ present: Bool) -> Bool { present || runningInCI }

    static let hasGCC = which("gcc") != nil
    static let hasGXX = which("g++") != nil
    static let hasClang = which("clang") != nil
    static let hasMake = which("make") != nil
    static let hasCMakeNinja = which("cmake") != nil && which("ninja") != nil
    static let hasIncrcc = FileManager.default.isExecutableFile(atPath: incrcc)
    /// A CMake that scans C++20 sources for modules (3.28 and later): INCRCC_TEST_CMAKE, else the one
    /// `.ci/install` takes from PyPI (Debian 12's is 3.25).
    static let modulesCMake: String? = {
        let candidates = [ProcessInfo.processInfo.environment["INCRCC_TEST_CMAKE"] ?? "",
                          "/opt/incrcc-cmake/cmake/data/bin/cmake"]
        return candidates.first { !$0.isEmpty && FileManager.default.isExecutableFile(atPath: $0) }
    }()
    /// clang 16 and its dependency scanner, which CMake's module support needs.
    static let hasClang16Modules = which("clang++-16") != nil && which("clang-scan-deps-16") != nil
    /// Whether this process may mount a tmpfs (root with CAP_SYS_ADMIN): the full-disk tests need one.
    static let canMountTmpfs: Bool = {
        guard geteuid() == 0 else { return false }
        let probe = Scratch("tmpfs-probe")
        guard (try? run(["mount", "-t", "tmpfs", "-o", "size=16k", "tmpfs", probe.path], in: probe))?.status == 0
        else { return false }
        _ = try? run(["umount", probe.path], in: probe)
        return true
    }()
    /// Debian's libclang1-NN, where the libclang scan can load it.
    static let hasLibclang: Bool = {
        let directory = "/usr/lib/x86_64-linux-gnu"
        let names = (try? FileManager.default.contentsOfDirectory(atPath: directory)) ?? []
        return names.contains { $0.hasPrefix("libclang-") && $0.hasSuffix(".so.1") } || names.contains("libclang.so.1")
    }()
}

/// A started child whose output goes to files in the scratch directory.
struct StartedProcess {
    var pid: pid_t
    var outPath: String
    var errPath: String

    func finish() throws -> RunResult {
        var status: Int32 = 0
        while waitpid(pid, &status, 0) < 0 && errno == EINTR {}
        let code = (status & 0x7f) == 0 ? (status >> 8) & 0xff : 128 + (status & 0x7f)
        let result = RunResult(
            status: code,
            stdout: String(decoding: FileManager.default.contents(atPath: outPath) ?? Data(), as: UTF8.self),
            stderr: String(decoding: FileManager.default.contents(atPath: errPath) ?? Data(), as: UTF8.self))
        try? FileManager.default.removeItem(atPath: outPath)
        try? FileManager.default.removeItem(atPath: errPath)
        return result
    }
}

struct SpawnFailure: Error { var code: Int32 }

/// Runs a program with a cwd and environment of its own (the test process never changes either).
@discardableResult
func run(_ arguments: [String], in scratch: Scratch, cwd: String? = nil, env: [String: String] = [:]) throws -> RunResult {
    try start(arguments, in: scratch, cwd: cwd, env: env).finish()
}

/// Starts a program without waiting for it, with posix_spawn rather than Foundation's Process: the child
/// gets an empty signal mask and default handlers, so build tools that wait for their own children on
/// SIGCHLD (cmake, make, shells) work as they do from a terminal.
func start(_ arguments: [String], in scratch: Scratch, cwd: String? = nil, env: [String: String] = [:]) throws -> StartedProcess {
    let executable = arguments[0].contains("/") ? arguments[0] : (Tools.which(arguments[0]) ?? arguments[0])
    var environment = ProcessInfo.processInfo.environment
    for key in environment.keys where key.hasPrefix("INCRCC_") || key.hasPrefix("CCACHE_") { environment[key] = nil }
    environment["INCRCC_DIR"] = scratch.file("cache")
    // Sampled verification compiles a random share of hits; tests that count hits switch it off.
    environment["INCRCC_VERIFY_RATE"] = "0"
    for (key, value) in env { environment[key] = value }
    let id = UUID().uuidString
    let outPath = scratch.file(".out-\(id)")
    let errPath = scratch.file(".err-\(id)")

    var actions = posix_spawn_file_actions_t()
    posix_spawn_file_actions_init(&actions)
    defer { posix_spawn_file_actions_destroy(&actions) }
    posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0)
    posix_spawn_file_actions_addopen(&actions, 1, outPath, O_WRONLY | O_CREAT | O_TRUNC, 0o644)
    posix_spawn_file_actions_addopen(&actions, 2, errPath, O_WRONLY | O_CREAT | O_TRUNC, 0o644)
    var attributes = posix_spawnattr_t()
    posix_spawnattr_init(&attributes)
    defer { posix_spawnattr_destroy(&attributes) }
    var empty = sigset_t()
    sigemptyset(&empty)
    var defaults = sigset_t()
    sigemptyset(&defaults)
    for signal in [SIGCHLD, SIGPIPE, SIGINT, SIGTERM] { sigaddset(&defaults, signal) }
    posix_spawnattr_setsigmask(&attributes, &empty)
    posix_spawnattr_setsigdefault(&attributes, &defaults)
    posix_spawnattr_setflags(&attributes, Int16(POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF))

    // `env -C` sets the child's directory: the Glibc overlay does not export posix_spawn's chdir action.
    let argv = (["/usr/bin/env", "-C", cwd ?? scratch.path, executable] + arguments.dropFirst()).map { strdup($0) } + [nil]
    let envp = environment.map { strdup($0.key + "=" + $0.value) } + [nil]
    defer {
        for pointer in argv { free(pointer) }
        for pointer in envp { free(pointer) }
    }
    var pid: pid_t = 0
    let code = posix_spawn(&pid, "/usr/bin/env", &actions, &attributes, argv, envp)
    guard code == 0 else { throw SpawnFailure(code: code) }
    return StartedProcess(pid: pid, outPath: outPath, errPath: errPath)
}

/// Runs incrcc with the given arguments in the scratch directory.
@discardableResult
func incrcc(_ arguments: [String], in scratch: Scratch, cwd: String? = nil, env: [String: String] = [:]) throws -> RunResult {
    try run([Tools.incrcc] + arguments, in: scratch, cwd: cwd, env: env)
}

/// Compiles with incrcc, then plainly, and compares the objects and stderr; returns incrcc's run.
@discardableResult
func compareWithPlain(_ compiler: String, _ arguments: [String], object: String, in s: Scratch,
                      env: [String: String] = [:]) throws -> RunResult {
    let cached = try incrcc([compiler] + arguments, in: s, env: env)
    #expect(cached.status == 0, "\(cached.stderr)")
    let served = try #require(s.read(object))
    try FileManager.default.removeItem(atPath: s.file(object))
    let plain = try run([compiler] + arguments, in: s, env: env)
    #expect(plain.status == 0, "\(plain.stderr)")
    #expect(s.read(object) == served, "incrcc's \(object) differs from \(compiler)'s for \(arguments)")
    #expect(cached.stderr == plain.stderr)
    return cached
}

/// The names of the files under the scratch's cache directory, relative to it.
func cacheEntries(_ scratch: Scratch) -> [String] {
    FileManager.default.enumerator(atPath: scratch.file("cache"))?.compactMap { $0 as? String } ?? []
}

/// Waits for the entries of misses still being written after their calls returned, as the statistics
/// commands do; tests that open cache files themselves call it first.
func awaitStores(_ scratch: Scratch) throws {
    _ = try stats(scratch)
}

/// `--print-stats` as a dictionary.
func stats(_ scratch: Scratch, env: [String: String] = [:]) throws -> [String: Int] {
    let result = try incrcc(["--print-stats"], in: scratch, env: env)
    var values: [String: Int] = [:]
    for line in result.stdout.split(separator: "\n") {
        let parts = line.split(separator: "\t")
        if parts.count == 2, let value = Int(parts[1]) { values[String(parts[0])] = value }
    }
    return values
}

/// A tmpfs of `kilobytes` mounted over `directory` and filled up, so every write into it fails with ENOSPC.
/// Unmounted by `unmount`.
struct FullFileSystem {
    let directory: String
    let scratch: Scratch

    init(at directory: String, kilobytes: Int, in scratch: Scratch) throws {
        self.directory = directory
        self.scratch = scratch
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        let mounted = try run(["mount", "-t", "tmpfs", "-o", "size=\(kilobytes)k", "tmpfs", directory], in: scratch)
        guard mounted.status == 0 else { throw SpawnFailure(code: mounted.status) }
        _ = try? run(["dd", "if=/dev/zero", "of=" + directory + "/filler", "bs=4k", "count=\(kilobytes)"], in: scratch)
    }

    func unmount() { _ = try? run(["umount", directory], in: scratch) }
}

/// Whether something accepts connections on 127.0.0.1:`port` within ten seconds.
func waitUntilListening(port: Int, seconds: Int = 10) -> Bool {
    for _ in 0..<(seconds * 20) {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        address.sin_port = UInt16(port).bigEndian
        let connected = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) == 0
            }
        }
        close(fd)
        if connected { return true }
        usleep(50_000)
    }
    return false
}

/// A TCP port on 127.0.0.1 that was free a moment ago.
func freeLoopbackPort() throws -> Int {
    let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
    defer { close(fd) }
    var address = sockaddr_in()
    address.sin_family = sa_family_t(AF_INET)
    address.sin_addr.s_addr = inet_addr("127.0.0.1")
    address.sin_port = 0
    var length = socklen_t(MemoryLayout<sockaddr_in>.size)
    let bound = withUnsafeMutablePointer(to: &address) {
        $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { pointer in
            bind(fd, pointer, length) == 0 && getsockname(fd, pointer, &length) == 0
        }
    }
    guard bound else { throw SpawnFailure(code: errno) }
    return Int(UInt16(bigEndian: address.sin_port))
}

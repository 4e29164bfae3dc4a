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

    func file(_ name: String) -> String { path + "/" + name }

    func write(_ name: String, _ text: String) {
        let full = file(name)
        try? FileManager.default.createDirectory(atPath: (full as NSString).deletingLastPathComponent,
                                                 withIntermediateDirectories: true)
        FileManager.default.createFile(atPath: full, contents: Data(text.utf8))
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

    static let hasGCC = which("gcc") != nil
    static let hasGXX = which("g++") != nil
    static let hasClang = which("clang") != nil
    static let hasMake = which("make") != nil
    static let hasCMakeNinja = which("cmake") != nil && which("ninja") != nil
    static let hasIncrcc = FileManager.default.isExecutableFile(atPath: incrcc)
}

/// A started child whose output goes to files in the scratch directory.
struct StartedProcess {
    var process: Process
    var outPath: String
    var errPath: String
    var out: FileHandle
    var err: FileHandle

    func finish() throws -> RunResult {
        process.waitUntilExit()
        try out.close()
        try err.close()
        let result = RunResult(
            status: process.terminationStatus,
            stdout: String(decoding: FileManager.default.contents(atPath: outPath) ?? Data(), as: UTF8.self),
            stderr: String(decoding: FileManager.default.contents(atPath: errPath) ?? Data(), as: UTF8.self))
        try? FileManager.default.removeItem(atPath: outPath)
        try? FileManager.default.removeItem(atPath: errPath)
        return result
    }
}

/// Runs a program with a cwd and environment of its own (the test process never changes either).
@discardableResult
func run(_ arguments: [String], in scratch: Scratch, cwd: String? = nil, env: [String: String] = [:]) throws -> RunResult {
    try start(arguments, in: scratch, cwd: cwd, env: env).finish()
}

/// Starts a program without waiting for it. Background jobs are started this way, never with a shell's
/// `&` and `wait`: children of the test process may not get SIGCHLD, and such a `wait` can hang.
func start(_ arguments: [String], in scratch: Scratch, cwd: String? = nil, env: [String: String] = [:]) throws -> StartedProcess {
    let process = Process()
    let executable = arguments[0].contains("/") ? arguments[0] : (Tools.which(arguments[0]) ?? arguments[0])
    process.executableURL = URL(fileURLWithPath: executable)
    process.arguments = Array(arguments.dropFirst())
    process.currentDirectoryURL = URL(fileURLWithPath: cwd ?? scratch.path)
    var environment = ProcessInfo.processInfo.environment
    for key in environment.keys where key.hasPrefix("INCRCC_") || key.hasPrefix("CCACHE_") { environment[key] = nil }
    environment["INCRCC_DIR"] = scratch.file("cache")
    for (key, value) in env { environment[key] = value }
    process.environment = environment
    let id = UUID().uuidString
    let outPath = scratch.file(".out-\(id)")
    let errPath = scratch.file(".err-\(id)")
    FileManager.default.createFile(atPath: outPath, contents: nil)
    FileManager.default.createFile(atPath: errPath, contents: nil)
    let out = try FileHandle(forWritingTo: URL(fileURLWithPath: outPath))
    let err = try FileHandle(forWritingTo: URL(fileURLWithPath: errPath))
    process.standardOutput = out
    process.standardError = err
    process.standardInput = FileHandle.nullDevice
    try process.run()
    return StartedProcess(process: process, outPath: outPath, errPath: errPath, out: out, err: err)
}

/// Runs incrcc with the given arguments in the scratch directory.
@discardableResult
func incrcc(_ arguments: [String], in scratch: Scratch, cwd: String? = nil, env: [String: String] = [:]) throws -> RunResult {
    try run([Tools.incrcc] + arguments, in: scratch, cwd: cwd, env: env)
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

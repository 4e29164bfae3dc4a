import Foundation
import Testing

/// incrcc's helpers speak ccache's storage-helper protocol both ways: ccache uses them, incrcc uses
/// helpers written for ccache.
@Suite(.enabled(if: Tools.required(Tools.hasIncrcc && Tools.hasGCC && SharedTools.hasHelpers && SharedTools.hasRedis)),
       .timeLimit(Tools.suiteTimeLimit))
struct SharedInteropTests {
    /// Starts incrcc-storage-redis by hand, as `crsh:` users do, on a socket in a private directory.
    func startHelper(_ s: Scratch, redis: RedisServer) throws -> (socket: String, process: StartedProcess) {
        try FileManager.default.createDirectory(atPath: s.file("helper"), withIntermediateDirectories: true,
                                                attributes: [.posixPermissions: 0o700])
        let socket = s.file("helper/redis.sock")
        let process = try start([SharedTools.redisHelper], in: s, env: [
            "CRSH_IPC_ENDPOINT": socket, "CRSH_URL": "redis://127.0.0.1:\(redis.port)", "CRSH_IDLE_TIMEOUT": "0",
            "CRSH_NUM_ATTR": "1", "CRSH_ATTR_KEY_0": "connect-timeout", "CRSH_ATTR_VALUE_0": "200",
        ])
        for _ in 0..<200 where !FileManager.default.fileExists(atPath: socket) { usleep(10_000) }
        // The socket is the user's alone.
        let mode = (try FileManager.default.attributesOfItem(atPath: socket)[.posixPermissions] as? Int) ?? 0
        #expect(mode & 0o077 == 0, "socket mode \(String(mode, radix: 8))")
        return (socket, process)
    }

    @Test(.enabled(if: Tools.required(SharedTools.ccache414 != nil)))
    func ccache414GetsRemoteHitsThroughIncrccsHelper() throws {
        let s = Scratch()
        let redis = try RedisServer.start(s, name: "redis")
        defer { redis.stop() }
        let (socket, helper) = try startHelper(s, redis: redis)
        defer { kill(helper.pid, SIGKILL); _ = try? helper.finish() }
        s.write("src/x.c", "#include <stdio.h>\nint main(void) { puts(\"shared\"); return 0; }\n")
        let ccache = SharedTools.ccache414 ?? "ccache"
        func ccacheStats(_ dir: String) throws -> [String: Int] {
            let printed = try run([ccache, "--print-stats"], in: s, env: ["CCACHE_DIR": s.file(dir)])
            var values: [String: Int] = [:]
            for line in printed.stdout.split(separator: "\n") {
                let parts = line.split(separator: "\t")
                if parts.count == 2, let value = Int(parts[1]) { values[String(parts[0])] = value }
            }
            return values
        }
        for (dir, output) in [("ccA", "a.o"), ("ccB", "b.o")] {
            let compiled = try run([ccache, "gcc", "-c", "src/x.c", "-o", output], in: s, env: [
                "CCACHE_DIR": s.file(dir), "CCACHE_REMOTE_STORAGE": "crsh:" + socket,
            ])
            #expect(compiled.status == 0, "\(compiled.stderr)")
        }
        let first = try ccacheStats("ccA")
        #expect(first["cache_miss"] == 1 && first["remote_storage_write"] == 2, "\(first)")
        let second = try ccacheStats("ccB")
        #expect(second["remote_storage_read_hit"] == 2 && second["cache_miss"] == 0, "\(second)")
        #expect(s.read("a.o") == s.read("b.o"))
        #expect(try redis.keyCount() == 2)
    }

    /// ccache starts a helper it finds on PATH at the socket name a killed one left behind: the new helper
    /// must take the name over (it refused it, and every ccache call waited 10 s for a helper that never
    /// came) and must not hold the caller's pipes.
    @Test(.enabled(if: Tools.required(SharedTools.ccache414 != nil)))
    func ccacheStartsIncrccsHelperWhereAKilledOneLeftItsSocket() throws {
        let s = Scratch()
        let redis = try RedisServer.start(s, name: "redis")
        defer { redis.stop() }
        try FileManager.default.createDirectory(atPath: s.file("bin"), withIntermediateDirectories: true)
        try FileManager.default.createSymbolicLink(atPath: s.file("bin/ccache-storage-redis"),
                                                   withDestinationPath: SharedTools.redisHelper)
        let runtime = s.file("run")
        try FileManager.default.createDirectory(atPath: runtime, withIntermediateDirectories: true,
                                                attributes: [.posixPermissions: 0o700])
        defer { for pid in helperProcesses(under: runtime) { kill(pid, SIGKILL) } }
        s.write("src/x.c", "int x(void) { return 7; }\n")
        let ccache = SharedTools.ccache414 ?? "ccache"
        var environment = ProcessInfo.processInfo.environment.filter { !$0.key.hasPrefix("CCACHE_") }
        environment["PATH"] = s.file("bin") + ":" + (environment["PATH"] ?? "")
        environment["XDG_RUNTIME_DIR"] = runtime
        environment["CCACHE_REMOTE_STORAGE"] = "redis://127.0.0.1:\(redis.port)"
        for (dir, output) in [("ccA", "a.o"), ("ccB", "b.o")] {
            if dir == "ccB" {
                let killed = helperProcesses(under: runtime)
                #expect(!killed.isEmpty, "ccache started the helper")
                for pid in killed { kill(pid, SIGKILL) }
                for _ in 0..<500 where killed.contains(where: { kill($0, 0) == 0 }) { usleep(10_000) }
            }
            let process = Process()
            process.executableURL = URL(fileURLWithPath: ccache)
            process.arguments = ["gcc", "-c", "src/x.c", "-o", output]
            process.currentDirectoryURL = URL(fileURLWithPath: s.path)
            environment["CCACHE_DIR"] = s.file(dir)
            process.environment = environment
            let out = Pipe(), err = Pipe()
            process.standardOutput = out
            process.standardError = err
            let started = Date()
            try process.run()
            // Both pipes end when every process holding them has let go.
            _ = out.fileHandleForReading.readDataToEndOfFile()
            let errors = err.fileHandleForReading.readDataToEndOfFile()
            process.waitUntilExit()
            let waited = Date().timeIntervalSince(started)
            #expect(process.terminationStatus == 0, "\(String(decoding: errors, as: UTF8.self))")
            #expect(waited < 5, "the call's pipes stayed open \(waited) s")
        }
        #expect(!helperProcesses(under: runtime).isEmpty, "the helper keeps running for the next calls")
        let printed = try run([ccache, "--print-stats"], in: s, env: ["CCACHE_DIR": s.file("ccB")])
        #expect(printed.stdout.contains("remote_storage_read_hit\t2"), "\(printed.stdout)")
        #expect(s.read("a.o") == s.read("b.o"))
    }

    /// A socket name longer than a socket address holds (108 bytes) is listened on from inside its directory;
    /// a client reaches it the same way (here a Python one, whose working directory is its own).
    @Test(.enabled(if: Tools.required(SharedTools.hasRedis)))
    func helperListensAtASocketNameLongerThanAnAddress() throws {
        let s = Scratch()
        let redis = try RedisServer.start(s, name: "redis")
        defer { redis.stop() }
        let directory = s.file("run-" + String(repeating: "d", count: 60) + "/deeper")
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        let name = "storage-redis-" + String(repeating: "0123456789", count: 4)
        #expect((directory + "/" + name).utf8.count > 108)
        let helper = try start([SharedTools.redisHelper], in: s, env: [
            "CRSH_IPC_ENDPOINT": directory + "/" + name, "CRSH_URL": "redis://127.0.0.1:\(redis.port)",
            "CRSH_IDLE_TIMEOUT": "0", "CRSH_NUM_ATTR": "0",
        ])
        defer { kill(helper.pid, SIGKILL); _ = try? helper.finish() }
        for _ in 0..<300 where !FileManager.default.fileExists(atPath: directory + "/" + name) { usleep(10_000) }
        let greeting = try run(["python3", "-c", """
            import socket, sys
            s = socket.socket(socket.AF_UNIX)
            s.connect(sys.argv[1])
            print(s.recv(5).hex())
            """, name], in: s, cwd: directory)
        #expect(greeting.stdout.hasPrefix("01"), "protocol version 1 first: \(greeting.stdout) \(greeting.stderr)")
    }

    @Test func incrccUsesAHelperWrittenForCcacheFromPATHOrNamedByAttribute() throws {
        let s = Scratch()
        let redis = try RedisServer.start(s, name: "redis")
        defer { redis.stop() }
        // A "ccache helper" for a scheme incrcc has none of its own.
        s.writeExecutable("bin/ccache-storage-kv", """
            #!/bin/sh
            CRSH_URL="redis:${CRSH_URL#kv:}" exec \(SharedTools.redisHelper)

            """)
        s.write("x.c", "int x(void) { return 42; }\n")
        let a = Machine("a", s, remote: "kv://127.0.0.1:\(redis.port)",
                        extra: ["PATH": s.file("bin") + ":" + (ProcessInfo.processInfo.environment["PATH"] ?? "")])
        defer { a.stopHelpers() }
        #expect(try incrcc(["gcc", "-c", "x.c", "-o", "a.o"], in: s, env: a.settings).status == 0)
        #expect(try a.stats()["remote_storage_write"] == 2)
        let b = Machine("b", s, remote: "redis://127.0.0.1:\(redis.port)|helper=\(SharedTools.redisHelper)")
        defer { b.stopHelpers() }
        // The same server under another URL: the keys are the same, and so are the hits.
        let served = try incrcc(["gcc", "-c", "x.c", "-o", "b.o"], in: s, env: b.settings)
        #expect(served.status == 0, "\(served.stderr)")
        #expect(try b.stats()["remote_storage_read_hit"] == 1)
        #expect(s.read("a.o") == s.read("b.o"))
        // No helper anywhere: one warning, a plain compile.
        let c = Machine("c", s, remote: "nosuch://127.0.0.1:1")
        let unhelped = try incrcc(["gcc", "-c", "x.c", "-o", "c.o"], in: s, env: c.settings)
        #expect(unhelped.status == 0 && unhelped.stderr.contains("no storage helper for nosuch"))
        #expect(s.read("c.o") == s.read("a.o"))
    }

    @Test func helperDirectoryOpenToOthersIsRefused() throws {
        let s = Scratch()
        let redis = try RedisServer.start(s, name: "redis")
        defer { redis.stop() }
        s.write("x.c", "int x(void) { return 1; }\n")
        let a = Machine("a", s, remote: "redis://127.0.0.1:\(redis.port)")
        // Someone made the socket directory reachable by everyone (or planted a symlink there).
        try FileManager.default.createDirectory(atPath: a.runtimeDirectory + "/elsewhere", withIntermediateDirectories: true)
        try FileManager.default.createSymbolicLink(atPath: a.runtimeDirectory + "/incrcc", withDestinationPath: "elsewhere")
        let linked = try incrcc(["gcc", "-c", "x.c", "-o", "a.o"], in: s, env: a.settings)
        #expect(linked.status == 0 && linked.stderr.contains("not a private directory"), "\(linked.stderr)")
        try FileManager.default.removeItem(atPath: a.runtimeDirectory + "/incrcc")
        try FileManager.default.createDirectory(atPath: a.runtimeDirectory + "/incrcc", withIntermediateDirectories: true,
                                                attributes: [.posixPermissions: 0o755])
        let open = try incrcc(["gcc", "-c", "x.c", "-o", "b.o"], in: s, env: a.settings.merging(["INCRCC_RECACHE": "1"]) { $1 })
        #expect(open.status == 0)
        _ = try a.stats()
        #expect(try redis.keyCount() == 0, "nothing went through a helper in a directory others can enter")
        #expect(s.read("a.o") != nil && s.read("a.o") == s.read("b.o"))
    }
}

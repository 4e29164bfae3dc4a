import Foundation
import Testing

/// The shared tier failing in every way a network service can: each build still succeeds with the right
/// objects, says so once on stderr, and counts what happened.
@Suite(.enabled(if: Tools.required(Tools.hasIncrcc && Tools.hasGCC && Tools.hasMake && SharedTools.hasHelpers)),
       .timeLimit(Tools.suiteTimeLimit))
struct SharedFaultTests {
    let project = SharedCacheEndToEndTests()

    /// A server on a loopback port that misbehaves as `mode` says: `silent` accepts and never answers,
    /// `random` answers anything with random bytes, `http-random` with a well-formed HTTP 200 of random
    /// bytes, `http-truncated` with a 200 that promises more than it sends.
    static let misbehavingServer = """
        import os, socket, sys, threading
        mode, port = sys.argv[1], int(sys.argv[2])
        listener = socket.socket()
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        listener.bind(("127.0.0.1", port))
        listener.listen(64)
        def serve(conn):
            try:
                while True:
                    data = conn.recv(65536)
                    if not data:
                        return
                    if mode == "silent":
                        continue
                    if mode == "random":
                        conn.sendall(os.urandom(300))
                    elif mode == "http-random":
                        body = os.urandom(2000)
                        conn.sendall(b"HTTP/1.1 200 OK\\r\\nContent-Length: %d\\r\\n\\r\\n" % len(body) + body)
                    elif mode == "http-truncated":
                        conn.sendall(b"HTTP/1.1 200 OK\\r\\nContent-Length: 100000\\r\\n\\r\\n" + os.urandom(10))
                        conn.close()
                        return
            except OSError:
                pass
        while True:
            conn, _ = listener.accept()
            threading.Thread(target=serve, args=(conn,), daemon=True).start()
        """

    func startMisbehaving(_ s: Scratch, mode: String) throws -> (port: Int, process: StartedProcess) {
        s.write("misbehaving.py", Self.misbehavingServer)
        let port = try freeLoopbackPort()
        let process = try start(["python3", s.file("misbehaving.py"), mode, String(port)], in: s)
        guard waitUntilListening(port: port) else {
            kill(process.pid, SIGKILL)
            _ = try? process.finish()
            throw SpawnFailure(code: -1)
        }
        return (port, process)
    }

    /// Builds the project at `dir` on a machine using `remote`, and checks the build against plain gcc.
    func buildRight(_ s: Scratch, _ dir: String, remote: String, name: String) throws -> (RunResult, [String: Int]) {
        project.writeProject(s, at: dir)
        let machine = Machine(name, s, remote: remote)
        defer { machine.stopHelpers() }
        let built = try project.build(s, dir, on: machine)
        #expect(built.status == 0, "\(built.stderr)")
        #expect(project.objects(s, dir) == (try project.plainObjects(s, dir)), "\(remote)")
        #expect(try run([s.file(dir + "/prog")], in: s).stdout == "6 10 5\n")
        return (built, try machine.stats())
    }

    func warnings(_ result: RunResult) -> Int {
        result.stderr.components(separatedBy: "warning: remote storage").count - 1
    }

    @Test(.enabled(if: Tools.required(SharedTools.hasRedis)))
    func serverGoneMidBuildCostsOneWarning() throws {
        let s = Scratch()
        let server = try RedisServer.start(s, name: "redis")
        let url = "redis://127.0.0.1:\(server.port)"
        let (first, _) = try buildRight(s, "a/proj", remote: url, name: "a")
        #expect(warnings(first) == 0)
        server.stop()
        let (second, stats) = try buildRight(s, "b/proj", remote: url, name: "b")
        #expect(warnings(second) == 1, "\(second.stderr)")
        #expect(stats["cache_miss"] == 4 && (stats["remote_storage_error"] ?? 0) >= 1, "\(stats)")
        #expect(stats["remote_storage_read_hit"] == 0)
    }

    @Test(.enabled(if: Tools.required(SharedTools.hasRedis)))
    func serverThatNeverAnswersTimesOutOnce() throws {
        let s = Scratch()
        let (port, process) = try startMisbehaving(s, mode: "silent")
        defer { kill(process.pid, SIGKILL); _ = try? process.finish() }
        let started = Date()
        let (built, stats) = try buildRight(s, "a/proj", remote: "redis://127.0.0.1:\(port)|operation-timeout=300",
                                            name: "a")
        #expect(warnings(built) == 1, "\(built.stderr)")
        #expect((stats["remote_storage_timeout"] ?? 0) >= 1, "\(stats)")
        // One transfer times out; the helper skips the server for the calls after it.
        #expect(Date().timeIntervalSince(started) < 20)
    }

    @Test(.enabled(if: Tools.required(SharedTools.hasRedis)), arguments: [
        ("redis", "random"), ("http", "http-random"), ("http", "http-truncated"), ("http", "random"),
    ])
    func garbageFromTheServerIsNeverServed(scheme: String, mode: String) throws {
        let s = Scratch()
        let (port, process) = try startMisbehaving(s, mode: mode)
        defer { kill(process.pid, SIGKILL); _ = try? process.finish() }
        let (built, stats) = try buildRight(s, "a/proj", remote: "\(scheme)://127.0.0.1:\(port)", name: "a")
        #expect(stats["remote_storage_read_hit"] == 0 && stats["cache_miss"] == 4, "\(stats)")
        #expect((stats["remote_storage_error"] ?? 0) >= 1, "\(stats)")
        #expect(warnings(built) <= 1, "\(built.stderr)")
    }

    @Test(.enabled(if: Tools.required(SharedTools.hasRedis)))
    func tamperedOrMovedEntriesAreMisses() throws {
        let s = Scratch()
        let server = try RedisServer.start(s, name: "redis")
        defer { server.stop() }
        let url = "redis://127.0.0.1:\(server.port)"
        _ = try buildRight(s, "a/proj", remote: url, name: "a")
        let keys = try server.cli(["--scan", "--pattern", "incrcc:*"]).stdout.split(separator: "\n").map(String.init)
        #expect(keys.count == 8)
        // Every entry replaced by another key's bytes (a server or writer answering with the wrong entry),
        // then one by plain garbage.
        for (index, key) in keys.enumerated() {
            #expect(try server.cli(["COPY", keys[(index + 1) % keys.count], key, "REPLACE"]).status == 0)
        }
        #expect(try server.cli(["SET", keys[0], "garbage"]).status == 0)
        let (built, stats) = try buildRight(s, "b/proj", remote: url, name: "b")
        #expect(stats["remote_storage_read_hit"] == 0 && stats["cache_miss"] == 4, "\(stats)")
        #expect((stats["remote_storage_error"] ?? 0) >= 1)
        #expect(warnings(built) == 0, "a damaged entry is a miss, not an outage")
        #expect(built.stderr.contains("failed its check"), "damage is told: \(built.stderr)")
    }

    /// A result too large to ride in its manifest (over 128 KiB), damaged in Redis: the first machine that
    /// meets it misses and says so in one line, its upload replaces the entry, and the next machine hits.
    @Test(.enabled(if: Tools.required(SharedTools.hasRedis)))
    func damagedLargeResultIsReportedOnceAndHealed() throws {
        let s = Scratch()
        let server = try RedisServer.start(s, name: "redis")
        defer { server.stop() }
        let url = "redis://127.0.0.1:\(server.port)"
        // 300 KB of data no compressor shrinks much.
        var generator = SeededGenerator(seed: 7)
        let values = (0..<75_000).map { _ in String(UInt32(truncatingIfNeeded: generator.next())) }
        s.write("big.c", "const unsigned table[] = {" + values.joined(separator: ",") + "};\n")
        func compile(on name: String) throws -> (RunResult, [String: Int]) {
            let machine = Machine(name, s, remote: url)
            defer { machine.stopHelpers() }
            let result = try incrcc(["gcc", "-c", "big.c", "-o", name + ".o"], in: s, env: machine.settings)
            #expect(result.status == 0)
            #expect(s.read(name + ".o") != nil && s.read(name + ".o") == s.read("a.o"))
            return (result, try machine.stats())
        }
        _ = try compile(on: "a")
        let keys = try server.cli(["--scan", "--pattern", "incrcc:*"]).stdout.split(separator: "\n").map(String.init)
        let largest = try #require(keys.max { a, b in
            (Int(try! server.cli(["STRLEN", a]).stdout.trimmingCharacters(in: .whitespacesAndNewlines)) ?? 0)
                < (Int(try! server.cli(["STRLEN", b]).stdout.trimmingCharacters(in: .whitespacesAndNewlines)) ?? 0)
        })
        #expect(try server.cli(["SETRANGE", largest, "5000", "damage"]).status == 0)
        let (damaged, damagedStats) = try compile(on: "b")
        #expect(damaged.stderr.components(separatedBy: "failed its check").count == 2, "one line: \(damaged.stderr)")
        #expect(damagedStats["remote_storage_read_hit"] == 0 && damagedStats["cache_miss"] == 1, "\(damagedStats)")
        #expect((damagedStats["remote_storage_error"] ?? 0) >= 1)
        let (healed, healedStats) = try compile(on: "c")
        #expect(healedStats["remote_storage_read_hit"] == 1, "the upload replaced the damaged entry: \(healedStats)")
        #expect(healed.stderr.isEmpty, "\(healed.stderr)")
    }

    @Test(.enabled(if: Tools.required(SharedTools.hasRedis)))
    func helperKilledAgainAndAgainDuringABuild() throws {
        let s = Scratch()
        let server = try RedisServer.start(s, name: "redis")
        defer { server.stop() }
        let url = "redis://127.0.0.1:\(server.port)"
        _ = try buildRight(s, "a/proj", remote: url, name: "a")
        // While machine b builds, its helper is SIGKILLed every few milliseconds.
        s.write("killer.py", """
            import os, signal, sys, time
            marker = ("CRSH_IPC_ENDPOINT=" + sys.argv[1]).encode()
            while True:
                for entry in os.listdir("/proc"):
                    try:
                        if entry.isdigit() and marker in open("/proc/%s/environ" % entry, "rb").read():
                            os.kill(int(entry), signal.SIGKILL)
                    except OSError:
                        pass
                time.sleep(0.003)
            """)
        let killer = try start(["python3", s.file("killer.py"), s.file("b-run")], in: s)
        defer { kill(killer.pid, SIGKILL); _ = try? killer.finish() }
        let (_, stats) = try buildRight(s, "b/proj", remote: url, name: "b")
        #expect(stats["direct_cache_hit", default: 0] + stats["cache_miss", default: 0] == 4, "\(stats)")
    }
}

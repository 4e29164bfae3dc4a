import Foundation
import Testing

/// A shared tier that hangs, restarts or cannot start during a parallel build: the build pays at most one
/// short wait per back-off window for all its calls together, never one per call, and every object is right.
@Suite(.enabled(if: Tools.required(Tools.hasIncrcc && Tools.hasGCC && Tools.hasMake && SharedTools.hasHelpers && SharedTools.hasRedis)),
       .timeLimit(Tools.suiteTimeLimit))
struct SharedOutageTests {
    static let units = 16

    /// A project of `units` small C files built by `make -j8`.
    func writeProject(_ s: Scratch, at dir: String, salt: String) {
        for index in 0..<Self.units {
            s.write(dir + "/u\(index).c", "int u\(index)(int x) { return x * \(index + 1) + \(salt.count); } /* \(salt) */\n")
        }
        s.write(dir + "/main.c", "int main(void) { return 0; }\n")
        let objects = (0..<Self.units).map { "u\($0).o" }.joined(separator: " ")
        s.write(dir + "/Makefile", "prog: main.o \(objects)\n\t$(CC) -o $@ main.o \(objects)\n%.o: %.c\n\t$(CC) -O2 -c $< -o $@\n")
    }

    /// Builds `dir` with `make -j8` through incrcc; the wall time in seconds.
    func timedBuild(_ s: Scratch, _ dir: String, env: [String: String]) throws -> Double {
        let started = Date()
        let built = try run(["make", "-j8", "CC=\(Tools.incrcc) gcc"], in: s, cwd: s.file(dir), env: env)
        #expect(built.status == 0, "\(built.stderr)")
        return Date().timeIntervalSince(started)
    }

    /// Every object of `dir` equals plain gcc's.
    func objectsRight(_ s: Scratch, _ dir: String) throws {
        for index in 0..<Self.units {
            let served = s.read(dir + "/u\(index).o")
            #expect(try run(["gcc", "-O2", "-c", "u\(index).c", "-o", "plain.o"], in: s, cwd: s.file(dir)).status == 0)
            #expect(served != nil && served == s.read(dir + "/plain.o"), "\(dir)/u\(index).o")
        }
    }

    /// The same build's time with no shared tier at all, measured in the same test: the baseline.
    func baseline(_ s: Scratch) throws -> Double {
        writeProject(s, at: "baseline", salt: "baseline")
        return try timedBuild(s, "baseline", env: ["INCRCC_DIR": s.file("baseline-cache")])
    }

    @Test func stoppedServerCostsTheBuildOneShortWait() throws {
        let s = Scratch()
        let server = try RedisServer.start(s, name: "redis")
        defer {
            kill(server.process.pid, SIGCONT)
            server.stop()
        }
        let machine = Machine("a", s, remote: "redis://127.0.0.1:\(server.port)")
        defer { machine.stopHelpers() }
        // The helper is running and connected, as in the middle of a build.
        writeProject(s, at: "warm", salt: "warm")
        _ = try timedBuild(s, "warm", env: machine.settings)
        let plain = try baseline(s)
        kill(server.process.pid, SIGSTOP)
        writeProject(s, at: "stopped", salt: "stopped")
        let stopped = try timedBuild(s, "stopped", env: machine.settings)
        try objectsRight(s, "stopped")
        #expect(stopped - plain < 1.5, "a stopped server cost the build \(stopped - plain) s (baseline \(plain) s)")
        // Within the window, the next build does not wait at all.
        writeProject(s, at: "again", salt: "again")
        let again = try timedBuild(s, "again", env: machine.settings)
        #expect(again - plain < 1.0, "\(again - plain) s")
        let stats = try machine.stats()
        #expect((stats["remote_storage_timeout"] ?? 0) + (stats["remote_storage_error"] ?? 0) >= 1, "\(stats)")
    }

    @Test func restartedServerIsUsedAtOnce() throws {
        let s = Scratch()
        let first = try RedisServer.start(s, name: "redis")
        let port = first.port
        let machine = Machine("a", s, remote: "redis://127.0.0.1:\(port)")
        defer { machine.stopHelpers() }
        writeProject(s, at: "before", salt: "before")
        _ = try timedBuild(s, "before", env: machine.settings)
        _ = try machine.stats()
        #expect(try first.keyCount() > 0)
        first.stop()
        let second = try RedisServer.start(s, name: "redis2", port: port)
        defer { second.stop() }
        let restarted = Date()
        writeProject(s, at: "after", salt: "after")
        _ = try timedBuild(s, "after", env: machine.settings)
        _ = try machine.stats()
        // Uploads after returning: wait for them, but far less than a back-off window.
        var keys = try second.keyCount()
        for _ in 0..<40 where keys < Self.units {
            usleep(100_000)
            keys = try second.keyCount()
        }
        #expect(keys >= Self.units, "the restarted server got the new build's entries")
        #expect(Date().timeIntervalSince(restarted) < 9, "without waiting out a back-off window")
        try objectsRight(s, "after")
    }

    @Test func helperThatNeverListensIsStartedOnceAndStopped() throws {
        let s = Scratch()
        s.writeExecutable("sleeping-helper", "#!/bin/sh\nexec sleep 60\n")
        let machine = Machine("a", s, remote: "redis://127.0.0.1:1|helper=\(s.file("sleeping-helper"))")
        let plain = try baseline(s)
        writeProject(s, at: "first", salt: "first")
        let first = try timedBuild(s, "first", env: machine.settings)
        try objectsRight(s, "first")
        #expect(first - plain < 3.5, "one start waited for, not one per call: \(first - plain) s")
        #expect(helperProcesses(under: machine.runtimeDirectory).isEmpty, "the helper that never listened was stopped")
        writeProject(s, at: "second", salt: "second")
        let second = try timedBuild(s, "second", env: machine.settings)
        #expect(second - plain < 1.0, "within the window no call waits: \(second - plain) s")
        #expect(helperProcesses(under: machine.runtimeDirectory).isEmpty)
    }
}

import Foundation
import Testing
@testable import IncrccCore

/// Two "machines" (two cache directories, two checkouts at different paths) sharing results through real
/// servers: what one compiles, the other gets as hits, byte for byte what its own compiler writes.
@Suite(.enabled(if: Tools.required(Tools.hasIncrcc && Tools.hasGCC && Tools.hasMake && SharedTools.hasHelpers)),
       .timeLimit(Tools.suiteTimeLimit))
struct SharedCacheEndToEndTests {
    static let sources = ["area", "perimeter", "scale", "main"]

    /// A make project in `dir`: one header, four units.
    func writeProject(_ s: Scratch, at dir: String) {
        s.write(dir + "/include/shape.h", "#pragma once\n#define SCALE 3\nint area(int w, int h);\nint perimeter(int w, int h);\nint scale(int v);\n")
        s.write(dir + "/src/area.c", "#include \"shape.h\"\nint area(int w, int h) { return w * h; }\n")
        s.write(dir + "/src/perimeter.c", "#include \"shape.h\"\nint perimeter(int w, int h) { return 2 * (w + h); }\n")
        s.write(dir + "/src/scale.c", "#include <string.h>\n#include \"shape.h\"\nint scale(int v) { return v * SCALE + (int)strlen(\"ab\"); }\n")
        s.write(dir + "/src/main.c", "#include <stdio.h>\n#include \"shape.h\"\nint main(void) { printf(\"%d %d %d\\n\", area(2, 3), perimeter(2, 3), scale(1)); return 0; }\n")
        s.write(dir + "/Makefile", """
            OBJS = \(Self.sources.map { "src/\($0).o" }.joined(separator: " "))
            CFLAGS = -O2 -Iinclude -MMD
            prog: $(OBJS)
            \t$(CC) -o $@ $(OBJS)
            clean:
            \trm -f prog $(OBJS) $(OBJS:.o=.d)
            -include $(OBJS:.o=.d)

            """)
    }

    func objects(_ s: Scratch, _ dir: String) -> [Data?] { Self.sources.map { s.read(dir + "/src/\($0).o") } }

    /// Builds the project at `dir` on `machine` with its checkout as `base_dir`.
    func build(_ s: Scratch, _ dir: String, on machine: Machine, extra: [String: String] = [:]) throws -> RunResult {
        var env = machine.settings
        env["INCRCC_BASEDIR"] = s.file(dir)
        for (key, value) in extra { env[key] = value }
        return try run(["make", "-j4", "CC=\(Tools.incrcc) gcc"], in: s, cwd: s.file(dir), env: env)
    }

    /// The plain compiler's objects for the checkout at `dir`, restored to incrcc's afterwards.
    func plainObjects(_ s: Scratch, _ dir: String) throws -> [Data?] {
        let served = objects(s, dir)
        try run(["make", "clean"], in: s, cwd: s.file(dir))
        try run(["make", "-j4", "CC=gcc"], in: s, cwd: s.file(dir))
        let plain = objects(s, dir)
        for (index, name) in Self.sources.enumerated() {
            if let data = served[index] { FileManager.default.createFile(atPath: s.file(dir + "/src/\(name).o"), contents: data) }
        }
        return plain
    }

    @Test(.enabled(if: Tools.required(SharedTools.hasRedis)))
    func secondMachineGetsOnlyRemoteHitsThroughRedisWithAPassword() throws {
        let s = Scratch()
        let server = try RedisServer.start(s, name: "redis", options: ["--requirepass", "hunter2"])
        defer { server.stop() }
        let url = "redis://:hunter2@127.0.0.1:\(server.port)"
        let a = Machine("a", s, remote: url)
        let b = Machine("b", s, remote: url)
        defer { a.stopHelpers(); b.stopHelpers() }
        writeProject(s, at: "one/proj")
        writeProject(s, at: "elsewhere/deeper/proj")
        let first = try build(s, "one/proj", on: a)
        #expect(first.status == 0, "\(first.stderr)")
        #expect(first.stderr.isEmpty, "no warning when the server works: \(first.stderr)")
        let statsA = try a.stats()
        #expect(statsA["cache_miss"] == 4)
        #expect(statsA["remote_storage_read_miss"] == 4)
        #expect(statsA["remote_storage_write"] == 8, "a result and a manifest per unit")
        #expect(try server.keyCount(auth: ["-a", "hunter2"]) == 8)

        let getsBefore = try server.calls(of: "get", auth: ["-a", "hunter2"])
        let second = try build(s, "elsewhere/deeper/proj", on: b)
        #expect(second.status == 0, "\(second.stderr)")
        // One read per unit: each manifest carries its newest result.
        #expect(try server.calls(of: "get", auth: ["-a", "hunter2"]) - getsBefore == 4)
        let statsB = try b.stats()
        #expect(statsB["direct_cache_hit"] == 4 && statsB["cache_miss"] == 0)
        #expect(statsB["remote_storage_read_hit"] == 4 && statsB["local_storage_miss"] == 4)
        #expect(objects(s, "elsewhere/deeper/proj") == (try plainObjects(s, "elsewhere/deeper/proj")))
        #expect(try run([s.file("elsewhere/deeper/proj/prog")], in: s).stdout == "6 10 5\n")
        // Filled by shared hits alone, B still remembers the SHA-256 of the settled headers they read (the
        // system's; the project's were written just now), so its next shared hit does not hash them again.
        let storeB = CacheStore(directory: s.file("b-cache"), compressionLevel: 1)
        #expect(FileManager.default.fileExists(
            atPath: storeB.path(for: FileFactsStore.strongKey(of: "/usr/include"), kind: .fileFacts)))

        // The copies made the second machine's next build local hits.
        try run(["make", "clean"], in: s, cwd: s.file("elsewhere/deeper/proj"))
        #expect(try build(s, "elsewhere/deeper/proj", on: b).status == 0)
        let again = try b.stats()
        #expect(again["direct_cache_hit"] == 8 && again["remote_storage_read_hit"] == 4 && again["local_storage_hit"] == 4)
        // The password is never printed.
        let printed = try incrcc(["-p"], in: s, env: b.settings)
        #expect(printed.stdout.contains("redis://:***@127.0.0.1") && !printed.stdout.contains("hunter2"))
        #expect(!s.text("b.log").contains("hunter2") && !s.text("a.log").contains("hunter2"))
    }

    @Test(.enabled(if: Tools.required(SharedTools.hasRedis && Tools.hasCMakeNinja)))
    func cmakeBuildSharedAcrossShardsWithAnACLUser() throws {
        let s = Scratch()
        let acl = ["user default off", "user builder on >pw ~* &* +@all"]
        let one = try RedisServer.start(s, name: "r1", configuration: acl)
        defer { one.stop() }
        let two = try RedisServer.start(s, name: "r2", configuration: acl)
        defer { two.stop() }
        let url = "redis://builder:pw@127.0.0.1:*|shards=\(one.port),\(two.port)"
        let a = Machine("a", s, remote: url)
        let b = Machine("b", s, remote: url)
        defer { a.stopHelpers(); b.stopHelpers() }
        let units = (0..<10).map { "u\($0)" }
        for dir in ["a/proj", "b/other/proj"] {
            s.write(dir + "/CMakeLists.txt", """
                cmake_minimum_required(VERSION 3.16)
                project(shared C)
                add_library(units STATIC \(units.map { "\($0).c" }.joined(separator: " ")))
                target_include_directories(units PRIVATE inc)

                """)
            s.write(dir + "/inc/common.h", "#pragma once\n#include <stdlib.h>\n")
            for (index, unit) in units.enumerated() {
                s.write(dir + "/\(unit).c", "#include \"common.h\"\nint \(unit)(int x) { return abs(x) + \(index); }\n")
            }
        }
        func configureAndBuild(_ dir: String, _ machine: Machine) throws -> RunResult {
            var env = machine.settings
            env["INCRCC_BASEDIR"] = s.file(dir)
            let configured = try run(["cmake", "-G", "Ninja", "-S", s.file(dir), "-B", s.file(dir + "/build"),
                                      "-DCMAKE_C_COMPILER=gcc", "-DCMAKE_C_COMPILER_LAUNCHER=\(Tools.incrcc)",
                                      "-DCMAKE_BUILD_TYPE=Release"], in: s, env: env)
            guard configured.status == 0 else { return configured }
            return try run(["cmake", "--build", s.file(dir + "/build")], in: s, env: env)
        }
        let first = try configureAndBuild("a/proj", a)
        #expect(first.status == 0, "\(first.stdout)\(first.stderr)")
        #expect(try a.stats()["remote_storage_write"] == 20)
        let auth = ["--user", "builder", "--pass", "pw"]
        let counts = [try one.keyCount(auth: auth), try two.keyCount(auth: auth)]
        #expect(counts[0] + counts[1] == 20)
        #expect(counts[0] > 0 && counts[1] > 0, "keys spread over both shards: \(counts)")
        let second = try configureAndBuild("b/other/proj", b)
        #expect(second.status == 0, "\(second.stdout)\(second.stderr)")
        let statsB = try b.stats()
        #expect(statsB["remote_storage_read_hit"] == 10 && statsB["cache_miss"] == 0, "\(statsB)")
        // Byte for byte what the compiler writes in the second checkout.
        let served = units.map { s.read("b/other/proj/build/CMakeFiles/units.dir/\($0).c.o") }
        #expect(served.allSatisfy { $0 != nil })
        for unit in units {
            let plain = try run(["gcc", "-O3", "-DNDEBUG", "-I" + s.file("b/other/proj/inc"), "-c", s.file("b/other/proj/\(unit).c"),
                                 "-o", s.file("plain-\(unit).o")], in: s)
            #expect(plain.status == 0)
            #expect(s.read("plain-\(unit).o") == s.read("b/other/proj/build/CMakeFiles/units.dir/\(unit).c.o"), "\(unit)")
        }
    }

    @Test(.enabled(if: Tools.required(SharedTools.hasNginx)))
    func webDAVOverHTTPAndHTTPSWithTheBazelLayout() throws {
        let s = Scratch()
        let server = try NginxServer.start(s)
        defer { server.stop() }
        writeProject(s, at: "a/proj")
        writeProject(s, at: "b/proj2")
        writeProject(s, at: "c/proj3")
        // Plain http, subdirectories (the default layout).
        let plainURL = "http://127.0.0.1:\(server.httpPort)/cache"
        let a = Machine("a", s, remote: plainURL)
        defer { a.stopHelpers() }
        #expect(try build(s, "a/proj", on: a).status == 0)
        #expect(try a.stats()["remote_storage_write"] == 8)
        let subdirs = server.storedFiles()
        #expect(subdirs.count == 8 && subdirs.allSatisfy { $0.hasPrefix("cache/") && $0.split(separator: "/")[1].count == 2 }, "\(subdirs)")
        let b = Machine("b", s, remote: plainURL)
        defer { b.stopHelpers() }
        let second = try build(s, "b/proj2", on: b)
        #expect(second.status == 0, "\(second.stderr)")
        #expect(try b.stats()["remote_storage_read_hit"] == 4)
        #expect(objects(s, "b/proj2") == (try plainObjects(s, "b/proj2")))

        // https with the test's CA, bazel-remote's layout.
        let tlsURL = "https://127.0.0.1:\(server.httpsPort)/bz|layout=bazel|ca-file=\(server.certificate)"
        let c = Machine("c", s, remote: tlsURL)
        let d = Machine("d", s, remote: tlsURL)
        defer { c.stopHelpers(); d.stopHelpers() }
        try run(["make", "clean"], in: s, cwd: s.file("a/proj"))
        let third = try build(s, "a/proj", on: c)
        #expect(third.status == 0, "\(third.stderr)")
        #expect(try c.stats()["remote_storage_write"] == 8, "waits for the uploads, too")
        let bazel = server.storedFiles().filter { $0.hasPrefix("bz/") }
        #expect(bazel.count == 8)
        #expect(bazel.allSatisfy { $0.hasPrefix("bz/ac/") && $0.count == "bz/ac/".count + 64 }, "\(bazel)")
        #expect(try build(s, "c/proj3", on: d).status == 0)
        #expect(try d.stats()["remote_storage_read_hit"] == 4)
        // Without the CA the certificate is refused: the build still works, counted as errors.
        let e = Machine("e", s, remote: "https://127.0.0.1:\(server.httpsPort)/bz|layout=bazel")
        defer { e.stopHelpers() }
        try run(["make", "clean"], in: s, cwd: s.file("c/proj3"))
        let untrusted = try build(s, "c/proj3", on: e)
        #expect(untrusted.status == 0)
        #expect(objects(s, "c/proj3") == (try plainObjects(s, "c/proj3")))
        let statsE = try e.stats()
        #expect(statsE["remote_storage_read_hit"] == 0 && (statsE["remote_storage_error"] ?? 0) > 0)
        #expect(untrusted.stderr.components(separatedBy: "remote storage").count - 1 == 1, "one warning: \(untrusted.stderr)")
    }

    @Test(.enabled(if: Tools.required(SharedTools.hasRedis)))
    func readOnlyWritesNothingAndRemoteOnlyKeepsNothingLocally() throws {
        let s = Scratch()
        let server = try RedisServer.start(s, name: "redis")
        defer { server.stop() }
        let url = "redis://127.0.0.1:\(server.port)"
        writeProject(s, at: "a/proj")
        writeProject(s, at: "b/proj")
        writeProject(s, at: "c/proj")
        let reader = Machine("reader", s, remote: url + "|read-only")
        defer { reader.stopHelpers() }
        #expect(try build(s, "a/proj", on: reader).status == 0)
        #expect(try reader.stats()["cache_miss"] == 4)
        #expect(try server.keyCount() == 0, "read-only wrote nothing")
        #expect(reader.localEntries() == 8)

        let ci = Machine("ci", s, remote: url, extra: ["INCRCC_REMOTE_ONLY": "1"])
        defer { ci.stopHelpers() }
        #expect(try build(s, "b/proj", on: ci).status == 0)
        #expect(try ci.stats()["remote_storage_write"] == 8)
        #expect(ci.localEntries() == 0, "remote_only keeps no local entries")
        let ci2 = Machine("ci2", s, remote: url, extra: ["INCRCC_REMOTE_ONLY": "1"])
        defer { ci2.stopHelpers() }
        #expect(try build(s, "c/proj", on: ci2).status == 0)
        #expect(try ci2.stats()["remote_storage_read_hit"] == 4)
        #expect(ci2.localEntries() == 0)
        #expect(objects(s, "c/proj") == (try plainObjects(s, "c/proj")))

        // The read-only machine now reads what the others shared (its local entries first: recache them).
        try run(["make", "clean"], in: s, cwd: s.file("a/proj"))
        let reread = Machine("reader2", s, remote: url + "|read-only")
        defer { reread.stopHelpers() }
        #expect(try build(s, "a/proj", on: reread).status == 0)
        #expect(try reread.stats()["remote_storage_read_hit"] == 4)
    }

    /// A C++ unit leaves hundreds of absent include candidates in the shared manifest: a shadowing header
    /// created on the next machine in one of them keeps it from a shared hit, and its object is its own.
    @Test(.enabled(if: Tools.required(SharedTools.hasRedis && Tools.hasGXX)))
    func sharedLookupOfManyAbsentCandidatesSeesANewShadowingHeader() throws {
        let s = Scratch()
        let server = try RedisServer.start(s, name: "redis")
        defer { server.stop() }
        let url = "redis://127.0.0.1:\(server.port)"
        let machines = ["a", "b", "c"].map { Machine($0, s, remote: url) }
        defer { machines.forEach { $0.stopHelpers() } }
        let headers = ["map", "string", "vector", "algorithm", "iostream", "unordered_map", "functional", "memory",
                       "sstream", "set"]
        s.write("p/shadow/.keep", "")
        s.write("p/u.cpp", headers.map { "#include <\($0)>\n" }.joined() + """
            #ifndef PICKED
            #define PICKED 1
            #endif
            int f() { std::vector<int> v{PICKED}; return v[0]; }

            """)
        let call = ["g++", "-O1", "-Ishadow", "-c", "u.cpp", "-o", "u.o"]
        for (index, machine) in machines.enumerated() {
            if index == 2 { s.write("p/shadow/vector", "#include_next <vector>\n#define PICKED 2\n") }
            let compiled = try run([Tools.incrcc] + call, in: s, cwd: s.file("p"), env: machine.settings)
            #expect(compiled.status == 0, "\(compiled.stderr)")
            let served = s.read("p/u.o")
            try run(call, in: s, cwd: s.file("p"))
            #expect(served == s.read("p/u.o"), "machine \(machine.name)")
        }
        #expect(try machines[1].stats()["remote_storage_read_hit"] == 1)
        #expect(try machines[2].stats()["remote_storage_read_hit"] == 0)
        // Hundreds of absent candidates, as many as the local lookup lists directories for (the log's count).
        let stored = s.text("a.log").split(separator: "\n").first { $0.contains("stored result") }
        let absent = stored.flatMap { line in line.split(separator: " ").dropLast(2).last }.flatMap { Int($0) }
        #expect((absent ?? 0) >= ManifestMatcher.listingThreshold, "\(String(describing: stored))")
    }

    @Test(.enabled(if: Tools.required(SharedTools.hasRedis)))
    func reshareUploadsLocalHitsAndNamespacesKeepProjectsApart() throws {
        let s = Scratch()
        let server = try RedisServer.start(s, name: "redis")
        defer { server.stop() }
        writeProject(s, at: "a/proj")
        writeProject(s, at: "b/proj")
        let local = Machine("a", s, remote: "")
        #expect(try build(s, "a/proj", on: local).status == 0)
        try run(["make", "clean"], in: s, cwd: s.file("a/proj"))
        var sharing = local
        sharing.settings["INCRCC_REMOTE_STORAGE"] = "redis://127.0.0.1:\(server.port)"
        sharing.settings["INCRCC_RESHARE"] = "1"
        sharing.settings["INCRCC_NAMESPACE"] = "team-x"
        defer { sharing.stopHelpers() }
        #expect(try build(s, "a/proj", on: sharing).status == 0)
        #expect(try sharing.stats()["local_storage_hit"] == 4)
        #expect(try server.keyCount() == 8, "local hits reshared")
        let other = Machine("b", s, remote: "redis://127.0.0.1:\(server.port)", extra: ["INCRCC_NAMESPACE": "team-y"])
        defer { other.stopHelpers() }
        #expect(try build(s, "b/proj", on: other).status == 0)
        #expect(try other.stats()["remote_storage_read_hit"] == 0, "another namespace shares nothing")
        let same = Machine("c", s, remote: "redis://127.0.0.1:\(server.port)", extra: ["INCRCC_NAMESPACE": "team-x"])
        defer { same.stopHelpers() }
        try run(["make", "clean"], in: s, cwd: s.file("b/proj"))
        #expect(try build(s, "b/proj", on: same).status == 0)
        #expect(try same.stats()["remote_storage_read_hit"] == 4)
    }

    @Test(.enabled(if: Tools.required(SharedTools.hasRedis)))
    func eightCallsStartingAtOnceShareOneHelper() throws {
        let s = Scratch()
        let server = try RedisServer.start(s, name: "redis")
        defer { server.stop() }
        let machine = Machine("a", s, remote: "redis://127.0.0.1:\(server.port)")
        defer { machine.stopHelpers() }
        for index in 0..<8 { s.write("u\(index).c", "int u\(index)(void) { return \(index); }\n") }
        let started = try (0..<8).map { index in
            try start([Tools.incrcc, "gcc", "-c", "u\(index).c", "-o", "u\(index).o"], in: s, env: machine.settings)
        }
        let results = try started.map { try $0.finish() }
        #expect(results.allSatisfy { $0.status == 0 && $0.stderr.isEmpty }, "\(results.map(\.stderr))")
        #expect(helperProcesses(under: machine.runtimeDirectory).count == 1)
        let stats = try machine.stats()
        #expect(stats["remote_storage_write"] == 16 && stats["remote_storage_error"] == 0, "\(stats)")
    }
}

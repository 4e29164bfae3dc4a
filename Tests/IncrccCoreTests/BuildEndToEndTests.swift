import Foundation
import Testing

/// Whole builds through incrcc in each of the ways a build tool can call it.
@Suite(.enabled(if: Tools.required(Tools.hasIncrcc && Tools.hasGCC)), .timeLimit(Tools.suiteTimeLimit))
struct BuildEndToEndTests {
    /// A small program in several translation units, with headers in a directory of their own.
    func writeProgram(_ s: Scratch, under dir: String = "") {
        let p = dir.isEmpty ? "" : dir + "/"
        s.write(p + "include/shape.h", "#pragma once\nint area(int w, int h);\nint perimeter(int w, int h);\n")
        s.write(p + "src/area.c", "#include \"shape.h\"\nint area(int w, int h) { return w * h; }\n")
        s.write(p + "src/perimeter.c", "#include \"shape.h\"\nint perimeter(int w, int h) { return 2 * (w + h); }\n")
        s.write(p + "src/text.cpp", "#include <string>\n#include <vector>\nextern \"C\" int text_length() { std::vector<std::string> v{\"ab\", \"cde\"}; return (int)(v[0].size() + v[1].size()); }\n")
        s.write(p + "src/main.c", "#include <stdio.h>\n#include \"shape.h\"\nint text_length(void);\nint main(void) { printf(\"%d %d %d\\n\", area(2, 3), perimeter(2, 3), text_length()); return 0; }\n")
    }

    @Test(.enabled(if: Tools.required(Tools.hasMake && Tools.hasGXX)))
    func makeParallelBuildTwiceHitsTheSecondTime() throws {
        let s = Scratch()
        writeProgram(s)
        s.write("Makefile", """
            OBJS = src/area.o src/perimeter.o src/text.o src/main.o
            CFLAGS = -O2 -Iinclude -MMD
            CXXFLAGS = -O2 -Iinclude -MMD
            prog: $(OBJS)
            \t$(CXX) -o $@ $(OBJS)
            clean:
            \trm -f prog $(OBJS) $(OBJS:.o=.d)
            -include $(OBJS:.o=.d)

            """)
        try FileManager.default.createDirectory(atPath: s.file("bin"), withIntermediateDirectories: true)
        try FileManager.default.createSymbolicLink(atPath: s.file("bin/incrcc++"), withDestinationPath: Tools.incrcc)
        let vars = ["CC=\(Tools.incrcc)", "CXX=\(s.file("bin/incrcc++"))"]
        let first = try run(["make", "-j2"] + vars, in: s)
        #expect(first.status == 0, "\(first.stderr)")
        #expect(try run([s.file("prog")], in: s).stdout == "6 10 5\n")
        let objects = ["src/area.o", "src/perimeter.o", "src/text.o", "src/main.o"].map { s.read($0) }
        try run(["make", "clean"], in: s)
        let second = try run(["make", "-j2"] + vars, in: s)
        #expect(second.status == 0)
        #expect(try run([s.file("prog")], in: s).stdout == "6 10 5\n")
        #expect(["src/area.o", "src/perimeter.o", "src/text.o", "src/main.o"].map { s.read($0) } == objects)
        let values = try stats(s)
        // Links of objects are cached with `link_cache = all` only (LinkCacheTests).
        #expect(values["cache_miss"] == 4)
        #expect(values["direct_cache_hit"] == 4)
        #expect(values["called_for_link"] == 2)
    }

    @Test(.enabled(if: Tools.required(Tools.hasCMakeNinja && Tools.hasGXX)))
    func cmakeNinjaWithLauncherBuildsTwice() throws {
        let s = Scratch()
        writeProgram(s, under: "project")
        s.write("project/CMakeLists.txt", """
            cmake_minimum_required(VERSION 3.16)
            project(shapes C CXX)
            add_executable(prog src/area.c src/perimeter.c src/text.cpp src/main.c)
            target_include_directories(prog PRIVATE include)

            """)
        func build() throws {
            let configure = try run(["cmake", "-G", "Ninja", "-S", s.file("project"), "-B", s.file("build"),
                                     "-DCMAKE_BUILD_TYPE=Release", "-DCMAKE_C_COMPILER_LAUNCHER=\(Tools.incrcc)",
                                     "-DCMAKE_CXX_COMPILER_LAUNCHER=\(Tools.incrcc)"], in: s)
            #expect(configure.status == 0, "\(configure.stderr)")
            let ninja = try run(["cmake", "--build", s.file("build")], in: s)
            #expect(ninja.status == 0, "\(ninja.stdout)\(ninja.stderr)")
            #expect(try run([s.file("build/prog")], in: s).stdout == "6 10 5\n")
        }
        try build()
        let object = s.read("build/CMakeFiles/prog.dir/src/text.cpp.o")
        #expect(object != nil)
        try FileManager.default.removeItem(atPath: s.file("build"))
        try build()
        #expect(s.read("build/CMakeFiles/prog.dir/src/text.cpp.o") == object)
        let values = try stats(s)
        #expect(values["cache_miss"] == 4)
        #expect(values["direct_cache_hit"] == 4)
    }

    @Test func masqueradeLinkRunsTheNextCompilerInPath() throws {
        let s = Scratch()
        writeProgram(s)
        try FileManager.default.createDirectory(atPath: s.file("masq"), withIntermediateDirectories: true)
        try FileManager.default.createSymbolicLink(atPath: s.file("masq/gcc"), withDestinationPath: Tools.incrcc)
        let path = s.file("masq") + ":" + (ProcessInfo.processInfo.environment["PATH"] ?? "/usr/bin:/bin")
        for _ in 0..<2 {
            let r = try run([s.file("masq/gcc"), "-c", "src/area.c", "-Iinclude", "-o", "area.o"], in: s, env: ["PATH": path])
            #expect(r.status == 0, "\(r.stderr)")
        }
        try run(["gcc", "-c", "src/area.c", "-Iinclude", "-o", "plain.o"], in: s)
        #expect(s.read("area.o") == s.read("plain.o"))
        #expect(try stats(s)["direct_cache_hit"] == 1)
        // `incrcc gcc` with the link first in PATH must not find itself either.
        let prefixed = try incrcc(["gcc", "-c", "src/area.c", "-Iinclude", "-o", "area2.o"], in: s, env: ["PATH": path])
        #expect(prefixed.status == 0)
        #expect(try stats(s)["direct_cache_hit"] == 2)
    }

    @Test func standingInForTheCompilerUsesConfiguredCompilers() throws {
        let s = Scratch()
        writeProgram(s)
        try incrcc(["-c", "src/area.c", "-Iinclude", "-o", "cc.o"], in: s)
        try run(["cc", "-c", "src/area.c", "-Iinclude", "-o", "plain.o"], in: s)
        #expect(s.read("cc.o") == s.read("plain.o"))
        // INCRCC_CC picks another compiler: a different compiler is a different key.
        try incrcc(["-c", "src/area.c", "-Iinclude", "-o", "g.o"], in: s, env: ["INCRCC_CC": "gcc"])
        try incrcc(["-c", "src/area.c", "-Iinclude", "-o", "g.o"], in: s, env: ["INCRCC_CC": "gcc"])
        #expect(try stats(s)["direct_cache_hit"]! >= 1)
        let missing = try incrcc(["-c", "src/area.c"], in: s, env: ["INCRCC_CC": "no-such-compiler-here"])
        #expect(missing.status != 0)
        #expect(missing.stderr.contains("no-such-compiler-here"))
    }

    /// CMake's `target_precompile_headers` with gcc: the precompiled headers are created through the cache,
    /// a fresh build directory gets every compile from it, and a header edit gives gcc's objects.
    @Test(.enabled(if: Tools.required(Tools.hasCMakeNinja && Tools.hasGXX)))
    func cmakePrecompiledHeadersHitAndFollowEdits() throws {
        let s = Scratch()
        s.write("src/CMakeLists.txt", """
            cmake_minimum_required(VERSION 3.16)
            project(p C CXX)
            add_library(l STATIC a.c b.c c.cpp)
            target_precompile_headers(l PRIVATE <stdio.h> <stdlib.h> "config.h")

            """)
        s.write("src/a.c", "int a(void) { return VAL + (int)sizeof(FILE); }\n")
        s.write("src/b.c", "int b(void) { return VAL * 2; }\n")
        s.write("src/c.cpp", "#include <vector>\nint c() { std::vector<int> v{VAL}; return v[0]; }\n")
        let objects = ["a.c.o", "b.c.o", "c.cpp.o"].map { "CMakeFiles/l.dir/" + $0 }
        func build(_ directory: String, launcher: Bool, fresh: Bool) throws -> [Data?] {
            if fresh { try? FileManager.default.removeItem(atPath: s.file(directory)) }
            let launch = launcher ? ["-DCMAKE_C_COMPILER_LAUNCHER=\(Tools.incrcc)", "-DCMAKE_CXX_COMPILER_LAUNCHER=\(Tools.incrcc)"] : []
            if fresh {
                let configured = try run(["cmake", "-S", "src", "-B", directory, "-G", "Ninja"] + launch, in: s,
                                         env: ["CC": "gcc", "CXX": "g++"])
                #expect(configured.status == 0, "\(configured.stderr)")
            }
            let built = try run(["ninja", "-C", directory], in: s)
            #expect(built.status == 0, "\(built.stdout) \(built.stderr)")
            return objects.map { s.read(directory + "/" + $0) }
        }
        for value in ["1", "2"] {
            s.write("src/config.h", "#define VAL \(value)\n")
            let plain = try build("plain", launcher: false, fresh: value == "1")
            let cached = try build("cached", launcher: true, fresh: value == "1")
            #expect(plain == cached, "objects differ with VAL \(value)")
        }
        let before = try stats(s)["direct_cache_hit"] ?? 0
        let again = try build("cached", launcher: true, fresh: true)
        #expect(again == (try build("plain", launcher: false, fresh: false)))
        #expect(try stats(s)["direct_cache_hit"] == before + 5)
    }

    /// `prefix_command = distcc` with a distccd on loopback: the misses of a `make -j2` build are compiled by
    /// the daemon (its log shows each), the objects equal plain ones (with `-g` too), and the rebuild hits
    /// without reaching the daemon.
    @Test(.enabled(if: Tools.required(Tools.hasMake && Tools.which("distcc") != nil && Tools.which("distccd") != nil)))
    func distccCompilesTheMissesOnly() throws {
        let s = Scratch()
        writeProgram(s)
        s.write("Makefile", """
            OBJS = src/area.o src/perimeter.o src/main.o
            all: $(OBJS)
            clean:
            \trm -f $(OBJS)

            """)
        let port = try freeLoopbackPort()
        // The log goes to the daemon's stderr, a file this process opened for it (distccd started as root
        // drops to a user of its own, which could not open a file in the scratch directory).
        let daemon = try start(["distccd", "--daemon", "--no-detach", "--listen", "127.0.0.1", "--port", "\(port)",
                                "--allow", "127.0.0.1", "--log-stderr", "--log-level", "info",
                                "--enable-tcp-insecure"], in: s)
        defer {
            kill(daemon.pid, SIGTERM)
            _ = try? daemon.finish()
        }
        #expect(waitUntilListening(port: port), "distccd did not start listening")
        try FileManager.default.createDirectory(atPath: s.file("distcc-state"), withIntermediateDirectories: true)
        let env = ["INCRCC_PREFIX": "distcc", "DISTCC_HOSTS": "127.0.0.1:\(port)", "DISTCC_FALLBACK": "0",
                   "DISTCC_DIR": s.file("distcc-state")]
        func remoteCompiles() -> Int {
            let log = String(decoding: FileManager.default.contents(atPath: daemon.errPath) ?? Data(), as: UTF8.self)
            return log.components(separatedBy: "COMPILE_OK").count - 1
        }
        let flags = "CFLAGS=-O2 -g -Iinclude"
        let first = try run(["make", "-j2", "CC=\(Tools.incrcc) gcc", flags], in: s, env: env)
        #expect(first.status == 0, "\(first.stderr)")
        #expect(remoteCompiles() == 3, "every miss compiled by distccd")
        let objects = ["src/area.o", "src/perimeter.o", "src/main.o"].map { s.read($0) }
        try run(["make", "clean"], in: s)
        try run(["make", "-j2", "CC=gcc", flags], in: s)
        #expect(objects == ["src/area.o", "src/perimeter.o", "src/main.o"].map { s.read($0) })
        try run(["make", "clean"], in: s)
        let second = try run(["make", "-j2", "CC=\(Tools.incrcc) gcc", flags], in: s, env: env)
        #expect(second.status == 0)
        #expect(remoteCompiles() == 3, "hits never reach distcc")
        #expect(try stats(s)["direct_cache_hit"] == 3)
    }
}

import Foundation
import Testing

/// The built incrcc in front of real compilers, each test in its own scratch directory and cache.
@Suite(.enabled(if: Tools.required(Tools.hasIncrcc && Tools.hasGCC)), .timeLimit(Tools.suiteTimeLimit))
struct CompileEndToEndTests {
    static let cSource = """
        #include <stdio.h>
        #include <stdlib.h>
        #include <string.h>
        #include "config.h"
        int main(void) { char b[8]; strcpy(b, "x"); printf("%s %d\\n", b, VALUE); return EXIT_SUCCESS; }
        """

    func project() -> Scratch {
        let s = Scratch()
        s.write("src/main.c", Self.cSource)
        s.write("include/config.h", "#define VALUE 1\n")
        return s
    }

    /// gcc and clang where installed: a missing clang drops its cases instead of failing them.
    static let compilers = ["gcc", "clang"].filter { Tools.which($0) != nil }

    @Test(arguments: compilers)
    func hitIsByteIdenticalToPlainCompile(compiler: String) throws {
        let s = project()
        let args = ["-O2", "-c", "src/main.c", "-Iinclude"]
        try run([compiler] + args + ["-o", "plain.o"], in: s)
        let miss = try incrcc([compiler] + args + ["-o", "miss.o"], in: s)
        #expect(miss.status == 0)
        let hit = try incrcc([compiler] + args + ["-o", "hit.o"], in: s)
        #expect(hit.status == 0)
        #expect(s.read("plain.o") == s.read("miss.o"))
        #expect(s.read("plain.o") == s.read("hit.o"))
        let values = try stats(s)
        #expect(values["cache_miss"] == 1)
        #expect(values["direct_cache_hit"] == 1)
    }

    @Test(.enabled(if: Tools.required(Tools.hasGXX)))
    func cxxWithDebugInfoHits() throws {
        let s = Scratch()
        s.write("a.cpp", "#include <iostream>\n#include <vector>\n#include <map>\nint main(){std::map<int,std::vector<int>> m; m[1].push_back(2); std::cout << m.size();}\n")
        try run(["g++", "-g", "-c", "a.cpp", "-o", "plain.o"], in: s)
        try incrcc(["g++", "-g", "-c", "a.cpp", "-o", "a.o"], in: s)
        try incrcc(["g++", "-g", "-c", "a.cpp", "-o", "a.o"], in: s)
        #expect(s.read("plain.o") == s.read("a.o"))
        #expect(try stats(s)["direct_cache_hit"] == 1)
    }

    @Test func warningsAreReplayed() throws {
        let s = Scratch()
        s.write("w.c", "int f(void) { int unused; return 0; }\n")
        let plain = try run(["gcc", "-Wall", "-c", "w.c", "-o", "p.o"], in: s)
        let miss = try incrcc(["gcc", "-Wall", "-c", "w.c", "-o", "w.o"], in: s)
        let hit = try incrcc(["gcc", "-Wall", "-c", "w.c", "-o", "w.o"], in: s)
        #expect(plain.stderr.contains("unused"))
        #expect(miss.stderr == plain.stderr)
        #expect(hit.stderr == plain.stderr)
        #expect(try stats(s)["direct_cache_hit"] == 1)
    }

    @Test func failingCompileFailsTheSameWayAndIsNotCached() throws {
        let s = Scratch()
        s.write("bad.c", "int f(void) { return undeclared; }\n")
        let plain = try run(["gcc", "-c", "bad.c", "-o", "p.o"], in: s)
        let first = try incrcc(["gcc", "-c", "bad.c", "-o", "bad.o"], in: s)
        let second = try incrcc(["gcc", "-c", "bad.c", "-o", "bad.o"], in: s)
        #expect(plain.status != 0)
        #expect(first.status == plain.status && second.status == plain.status)
        #expect(first.stderr == plain.stderr && second.stderr == plain.stderr)
        let values = try stats(s)
        #expect(values["compile_failed"] == 2)
        #expect(values["direct_cache_hit"] == 0)
        #expect(!s.exists("bad.o"))
    }

    /// Each change must turn the next call into a miss whose object matches a plain compile.
    @Test func changesThatMustMiss() throws {
        let s = project()
        func compile(_ extra: [String] = [], env: [String: String] = [:]) throws -> (Bool, Bool) {
            let before = try stats(s)["direct_cache_hit"] ?? 0
            let args = ["-c", "src/main.c", "-Iinclude"] + extra
            try run(["gcc"] + args + ["-o", "plain.o"], in: s, env: env)
            let r = try incrcc(["gcc"] + args + ["-o", "out.o"], in: s, env: env)
            #expect(r.status == 0)
            let after = try stats(s)["direct_cache_hit"] ?? 0
            return (after > before, s.read("plain.o") == s.read("out.o"))
        }
        #expect(try compile() == (false, true))
        #expect(try compile() == (true, true))
        s.write("include/config.h", "#define VALUE 2\n")
        #expect(try compile() == (false, true), "header edit")
        #expect(try compile(["-O1"]) == (false, true), "flag change")
        #expect(try compile(["-O1"]) == (true, true))
        #expect(try compile(env: ["LC_ALL": "C.UTF-8"]) == (false, true), "environment change")
        // A search directory that holds none of the included names changes nothing the compiler reads; one
        // that holds an included name is a new key.
        #expect(try compile(env: ["CPATH": s.file("elsewhere")]) == (true, true), "an empty include path variable")
        // config.h there is behind include/config.h; string.h is ahead of the system's.
        s.write("elsewhere/config.h", "#define VALUE 3\n")
        #expect(try compile(env: ["CPATH": s.file("elsewhere")]) == (true, true), "a header found earlier")
        s.write("elsewhere/string.h", "#include_next <string.h>\n#define EXTRA 1\n")
        #expect(try compile(env: ["CPATH": s.file("elsewhere")]) == (false, true), "include path variable")
    }

    /// Same size, mtime put back (as `cp -p` or `touch -r` do): the ctime still moves, so the header is
    /// hashed again and the edit is seen.
    @Test func headerEditWithRestoredMtimeMisses() throws {
        let s = project()
        try run(["touch", "-d", "2020-01-01", s.file("include/config.h")], in: s)
        // Past the 2 s settling time, so the recorded stat is trusted and only the ctime can tell.
        usleep(2_200_000)
        let args = ["-c", "src/main.c", "-Iinclude", "-o", "main.o"]
        try incrcc(["gcc"] + args, in: s)
        try incrcc(["gcc"] + args, in: s)
        #expect(try stats(s)["direct_cache_hit"] == 1)
        // Rewritten in place (same inode), as an editor that truncates and writes does.
        try run(["/bin/sh", "-c", "printf '#define VALUE 7\\n' > include/config.h"], in: s)
        try run(["touch", "-d", "2020-01-01", s.file("include/config.h")], in: s)
        try expectMissMatchingPlainCompile(s, args, hitsSoFar: 1)
    }

    /// Compiles through incrcc, then plainly into plain.o (`args` end with `-o <object>`), and expects the
    /// same object and no new direct hit.
    func expectMissMatchingPlainCompile(_ s: Scratch, _ args: [String], hitsSoFar: Int,
                                        sourceLocation: SourceLocation = #_sourceLocation) throws {
        try incrcc(["gcc"] + args, in: s)
        try run(["gcc"] + args.dropLast() + ["plain.o"], in: s)
        #expect(s.read(args.last!) == s.read("plain.o"), sourceLocation: sourceLocation)
        #expect(try stats(s)["direct_cache_hit"] == hitsSoFar, sourceLocation: sourceLocation)
    }

    @Test func shadowingHeaderEarlierInSearchPathMisses() throws {
        let s = Scratch()
        s.write("src/main.c", "#include \"h.h\"\nint value(void) { return H; }\n")
        s.write("b/h.h", "#define H 2\n")
        let args = ["-c", "src/main.c", "-Ia", "-Ib", "-o", "main.o"]
        try incrcc(["gcc"] + args, in: s)
        try incrcc(["gcc"] + args, in: s)
        #expect(try stats(s)["direct_cache_hit"] == 1)
        s.write("a/h.h", "#define H 1\n")
        try expectMissMatchingPlainCompile(s, args, hitsSoFar: 1)
        // Also a header appearing next to the source, which a quoted include searches first.
        s.write("src/h.h", "#define H 3\n")
        try expectMissMatchingPlainCompile(s, args, hitsSoFar: 1)
    }

    /// Two scripts of the same size that compile differently, swapped in at the same path with the same
    /// mtime: the compiler is keyed by content, so the second must miss.
    @Test func sameSizeCompilerSwapMisses() throws {
        let s = Scratch()
        s.write("a.c", "int v = V;\n")
        let gcc = try #require(Tools.which("gcc"))
        s.writeExecutable("one", "#!/bin/sh\nexec \(gcc) -DV=1 \"$@\"\n")
        s.writeExecutable("two", "#!/bin/sh\nexec \(gcc) -DV=2 \"$@\"\n")
        try FileManager.default.copyItem(atPath: s.file("one"), toPath: s.file("cc"))
        try run(["touch", "-d", "2001-01-01", s.file("cc")], in: s)
        try incrcc([s.file("cc"), "-c", "a.c", "-o", "a.o"], in: s)
        let first = s.read("a.o")
        try FileManager.default.removeItem(atPath: s.file("cc"))
        try FileManager.default.copyItem(atPath: s.file("two"), toPath: s.file("cc"))
        try run(["touch", "-d", "2001-01-01", s.file("cc")], in: s)
        try incrcc([s.file("cc"), "-c", "a.c", "-o", "a.o"], in: s)
        try run([s.file("two"), "-c", "a.c", "-o", "plain.o"], in: s)
        #expect(s.read("a.o") != first)
        #expect(s.read("a.o") == s.read("plain.o"))
        #expect(try stats(s)["direct_cache_hit"] == 0)
    }

    @Test func corruptEntryIsAMissNotACrash() throws {
        let s = project()
        let args = ["gcc", "-c", "src/main.c", "-Iinclude", "-o", "main.o"]
        try incrcc(args, in: s)
        try awaitStores(s)
        let entries = FileManager.default.enumerator(atPath: s.file("cache"))?.compactMap { $0 as? String }
            .filter { $0.hasSuffix(".R") || $0.hasSuffix(".M") } ?? []
        #expect(entries.count == 2)
        for entry in entries {
            let path = s.file("cache/" + entry)
            var data = try #require(FileManager.default.contents(atPath: path))
            data[data.count / 2] ^= 0x5a
            data = data.prefix(data.count - 1)
            FileManager.default.createFile(atPath: path, contents: data)
        }
        try FileManager.default.removeItem(atPath: s.file("main.o"))
        let r = try incrcc(args, in: s)
        #expect(r.status == 0)
        try run(["gcc", "-c", "src/main.c", "-Iinclude", "-o", "plain.o"], in: s)
        #expect(s.read("main.o") == s.read("plain.o"))
        let values = try stats(s)
        #expect(values["direct_cache_hit"] == 0)
        #expect(values["cache_miss"] == 2)
        #expect((values["corrupt_entry_removed"] ?? 0) >= 1)
        try incrcc(args, in: s)
        #expect(try stats(s)["direct_cache_hit"] == 1)
    }

    @Test(arguments: compilers)
    func dependencyFileTargetFollowsTheOutput(compiler: String) throws {
        let s = project()
        try FileManager.default.createDirectory(atPath: s.file("two"), withIntermediateDirectories: true)
        try FileManager.default.createDirectory(atPath: s.file("one"), withIntermediateDirectories: true)
        try incrcc([compiler, "-c", "src/main.c", "-Iinclude", "-MD", "-o", "one/main.o"], in: s)
        try incrcc([compiler, "-c", "src/main.c", "-Iinclude", "-MD", "-o", "two/main.o"], in: s)
        try run([compiler, "-c", "src/main.c", "-Iinclude", "-MD", "-o", "plain.o"], in: s)
        #expect(try stats(s)["direct_cache_hit"] == 1)
        #expect(s.text("two/main.d").hasPrefix("two/main.o:"))
        #expect(s.text("two/main.d").dropFirst("two/main.o".count) == s.text("plain.d").dropFirst("plain.o".count))
        #expect(s.read("two/main.o") == s.read("plain.o"))
    }

    @Test func userMMDFileIsKeptAndSystemHeadersStillTracked() throws {
        let s = project()
        let args = ["gcc", "-c", "src/main.c", "-Iinclude", "-MMD", "-MF", "deps.d", "-o", "main.o"]
        try incrcc(args, in: s)
        let first = s.text("deps.d")
        #expect(first.contains("include/config.h") && !first.contains("stdio.h"))
        try FileManager.default.removeItem(atPath: s.file("deps.d"))
        try incrcc(args, in: s)
        #expect(s.text("deps.d") == first)
        #expect(try stats(s)["direct_cache_hit"] == 1)
    }

    @Test func extraOutputsAreRestored() throws {
        let s = project()
        let args = ["gcc", "-c", "src/main.c", "-Iinclude", "-g", "-gsplit-dwarf", "-fstack-usage", "--coverage",
                    "-fcallgraph-info=su,da", "-o", "o.o"]
        try incrcc(args, in: s)
        let files = ["o.o", "o.dwo", "o.su", "o.gcno", "o.ci"]
        let first = files.map { s.read($0) }
        #expect(first.allSatisfy { $0 != nil })
        for f in files { try FileManager.default.removeItem(atPath: s.file(f)) }
        try incrcc(args, in: s)
        #expect(try stats(s)["direct_cache_hit"] == 1)
        #expect(files.map { s.read($0) } == first)
    }

    @Test func timeMacrosAreNotCachedWithoutSourceDateEpoch() throws {
        let s = Scratch()
        s.write("t.c", "const char *when = __TIME__;\n")
        try incrcc(["gcc", "-c", "t.c"], in: s)
        try incrcc(["gcc", "-c", "t.c"], in: s)
        #expect(try stats(s)["direct_cache_hit"] == 0)
        try incrcc(["gcc", "-c", "t.c"], in: s, env: ["SOURCE_DATE_EPOCH": "1"])
        try incrcc(["gcc", "-c", "t.c"], in: s, env: ["SOURCE_DATE_EPOCH": "1"])
        #expect(try stats(s)["direct_cache_hit"] == 1)
    }

    @Test func uncacheableCallsRunTheCompiler() throws {
        let s = project()
        let link = try incrcc(["gcc", "src/main.c", "-Iinclude", "-o", "prog", "-Wl,-Map,prog.map"], in: s)
        #expect(link.status == 0)
        let out = try run([s.file("prog")], in: s)
        #expect(out.stdout == "x 1\n")
        let pre = try incrcc(["gcc", "-E", "src/main.c", "-Iinclude"], in: s)
        #expect(pre.stdout.contains("int main"))
        let values = try stats(s)
        #expect(values["called_for_link"] == 1)
        #expect(values["called_for_preprocessing"] == 1)
    }

    @Test func parallelWritersOfOneKeyAllGetGoodObjects() throws {
        let s = project()
        try run(["gcc", "-c", "src/main.c", "-Iinclude", "-o", "plain.o"], in: s)
        let children = try (0..<8).map { i in
            try start([Tools.incrcc, "gcc", "-c", "src/main.c", "-Iinclude", "-o", "p\(i).o"], in: s)
        }
        for child in children { #expect(try child.finish().status == 0) }
        for i in 0..<8 { #expect(s.read("p\(i).o") == s.read("plain.o")) }
        try incrcc(["gcc", "-c", "src/main.c", "-Iinclude", "-o", "after.o"], in: s)
        #expect(s.read("after.o") == s.read("plain.o"))
        let values = try stats(s)
        #expect((values["direct_cache_hit"] ?? 0) + (values["cache_miss"] ?? 0) == 9)
        #expect((values["direct_cache_hit"] ?? 0) >= 1)
    }

    @Test func killedWritersLeaveNothingHalfWritten() throws {
        let s = project()
        // Kill compiles at staggered moments; whatever they left must read as whole entries or none.
        for delay: UInt32 in [10_000, 30_000, 60_000, 100_000] {
            let child = try start([Tools.incrcc, "gcc", "-c", "src/main.c", "-Iinclude", "-O2", "-o", "k.o"], in: s)
            usleep(delay)
            kill(child.pid, SIGKILL)
            _ = try child.finish()
        }
        try run(["gcc", "-c", "src/main.c", "-Iinclude", "-O2", "-o", "plain.o"], in: s)
        try incrcc(["gcc", "-c", "src/main.c", "-Iinclude", "-O2", "-o", "k.o"], in: s)
        try incrcc(["gcc", "-c", "src/main.c", "-Iinclude", "-O2", "-o", "k2.o"], in: s)
        #expect(s.read("k.o") == s.read("plain.o"))
        #expect(s.read("k2.o") == s.read("plain.o"))
        #expect(try stats(s)["corrupt_entry_removed"] == 0)
    }

    @Test func assemblyOutputIsCached() throws {
        let s = project()
        try incrcc(["gcc", "-S", "src/main.c", "-Iinclude"], in: s)
        let first = s.read("main.s")
        try FileManager.default.removeItem(atPath: s.file("main.s"))
        try incrcc(["gcc", "-S", "src/main.c", "-Iinclude"], in: s)
        try run(["gcc", "-S", "src/main.c", "-Iinclude", "-o", "plain.s"], in: s)
        #expect(first != nil && s.read("main.s") == first)
        #expect(s.read("plain.s") == first)
        #expect(try stats(s)["direct_cache_hit"] == 1)
    }

    @Test func outputToADeviceIsNeverReplaced() throws {
        let s = Scratch()
        s.write("a.c", "int a(void) { return 1; }\n")
        for _ in 0..<2 {
            #expect(try incrcc(["gcc", "-c", "a.c", "-o", "/dev/null"], in: s).status == 0)
        }
        var info = stat()
        #expect(stat("/dev/null", &info) == 0)
        #expect(info.st_mode & S_IFMT == S_IFCHR)
        // Cached, and a hit writes nothing there.
        #expect(try stats(s)["direct_cache_hit"] == 1)
    }
}

/// Dependency-file targets as ccache handles them: `-MT`/`-MQ` and `-Wp,-MD,FILE` do not split the key; the
/// file is written with the call's targets and equals the compiler's, for gcc and clang.
@Suite(.enabled(if: Tools.required(Tools.hasIncrcc && Tools.hasGCC)), .timeLimit(Tools.suiteTimeLimit))
struct DependencyTargetTests {
    static let compilers = ["gcc", "clang"].filter { Tools.required(Tools.which($0) != nil) }

    @Test(arguments: compilers)
    func targetsAreWrittenForEachCallFromOneEntry(compiler: String) throws {
        let s = Scratch()
        s.write("t.c", "#include \"t.h\"\nint x;\n")
        s.write("t.h", "int y;\n")
        let calls: [(arguments: [String], file: String, hit: Bool)] = [
            (["-MMD", "-MQ", "$q1"], "t.d", false), (["-MMD", "-MQ", "$q2"], "t.d", true),
            (["-MMD", "-MT", "$t1"], "t.d", false), (["-MMD", "-MT", "a b"], "t.d", true),
            (["-MMD", "-MQ", "a", "-MT", "b", "-MQ", "c", "-MT", "d"], "t.d", false),
            (["-MMD", "-MQ", "w", "-MT", "x", "-MQ", "y", "-MT", "z"], "t.d", true),
            (["-Wp,-MMD,wp.d"], "wp.d", false), (["-Wp,-MMD,wp.d", "-o", "other.o"], "wp.d", true),
            (["-MMD", "-Wp,-MMD,wp.d", "-o", "x.o"], "wp.d", false), (["-MMD", "-Wp,-MMD,wp.d", "-o", "y.o"], "wp.d", true),
        ]
        var hits = 0
        for call in calls {
            let arguments = ["-c", "t.c"] + call.arguments
            try incrcc([compiler] + arguments, in: s)
            let served = s.text(call.file)
            #expect(try run([compiler] + arguments, in: s).status == 0)
            #expect(served == s.text(call.file) && !served.isEmpty, "\(compiler) \(call.arguments): \(served)")
            let now = try stats(s)["direct_cache_hit"] ?? 0
            #expect((now > hits) == call.hit, "\(compiler) \(call.arguments)")
            hits = now
        }
    }
}

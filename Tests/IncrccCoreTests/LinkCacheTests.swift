import Foundation
import Testing

/// Compile-and-link calls of one source, as configure runs them: served the second time with the program a
/// plain link writes, byte for byte and executable; a changed library, a library appearing earlier in the
/// search or a probe that failed before all link again.
@Suite(.enabled(if: Tools.required(Tools.hasIncrcc && Tools.hasGCC)), .timeLimit(Tools.suiteTimeLimit))
struct LinkCacheTests {
    static let compilers = ["gcc", "clang"].filter { Tools.required(Tools.which($0) != nil) }

    func linkHits(_ s: Scratch) throws -> Int { try stats(s)["link_hit"] ?? 0 }

    @Test(arguments: compilers)
    func conftestCallsAreServedTheSecondTime(compiler: String) throws {
        let s = Scratch()
        s.write("conftest.c", "#include <math.h>\n#include <stdio.h>\nint main(void) { printf(\"%d\\n\", (int)sqrt(49.0)); return 0; }\n")
        for args in [["-O2", "conftest.c", "-o", "conftest", "-lm"], ["conftest.c", "-lm"], ["-static", "conftest.c", "-o", "st", "-lm"]] {
            let program = args.contains("-o") ? args[args.firstIndex(of: "-o")! + 1] : "a.out"
            let before = try linkHits(s)
            try compareWithPlain(compiler, args, object: program, in: s)
            try compareWithPlain(compiler, args, object: program, in: s)
            #expect(try linkHits(s) == before + 1, "\(compiler) \(args)")
            let ran = try run([s.file(program)], in: s)
            #expect(ran.stdout == "7\n")
            let mode = try FileManager.default.attributesOfItem(atPath: s.file(program))[.posixPermissions] as? Int
            #expect(mode.map { $0 & 0o111 == 0o111 } == true, "the program is executable")
        }
    }

    @Test(arguments: compilers)
    func librariesChangedOrShadowedLinkAgain(compiler: String) throws {
        let s = Scratch()
        func library(_ dir: String, _ value: Int, shared: Bool = false) throws {
            try FileManager.default.createDirectory(atPath: s.file(dir), withIntermediateDirectories: true)
            s.write(dir + "/foo.c", "int foo(void) { return \(value); }\n")
            if shared {
                #expect(try run([compiler, "-shared", "-fPIC", "-o", "libfoo.so", "foo.c"], in: s, cwd: s.file(dir)).status == 0)
            } else {
                #expect(try run([compiler, "-c", "foo.c", "-o", "foo.o"], in: s, cwd: s.file(dir)).status == 0)
                FileManager.default.createFile(atPath: s.file(dir + "/libfoo.a"), contents: nil)
                try FileManager.default.removeItem(atPath: s.file(dir + "/libfoo.a"))
                #expect(try run(["ar", "rcs", "libfoo.a", "foo.o"], in: s, cwd: s.file(dir)).status == 0)
            }
        }
        try FileManager.default.createDirectory(atPath: s.file("early"), withIntermediateDirectories: true)
        try library("late", 1)
        s.write("use.c", "int foo(void);\nint main(void) { return foo(); }\n")
        let args = ["use.c", "-o", "use", "-L" + s.file("early"), "-L" + s.file("late"), "-lfoo",
                    "-Wl,-rpath," + s.file("early")]
        func step(hit: Bool, exit: Int32, _ what: String) throws {
            let before = try linkHits(s)
            try compareWithPlain(compiler, args, object: "use", in: s)
            #expect((try linkHits(s) > before) == hit, "\(compiler): \(what)")
            #expect(try run([s.file("use")], in: s).status == exit, "\(compiler): \(what)")
        }
        try step(hit: false, exit: 1, "first link")
        try step(hit: true, exit: 1, "the same link")
        try library("late", 2)
        try step(hit: false, exit: 2, "the library changed")
        try step(hit: true, exit: 2, "the same again")
        try library("early", 3, shared: true)
        try step(hit: false, exit: 3, "a shared library appeared earlier in the search")
        try step(hit: true, exit: 3, "the same again")
    }

    @Test func aFailedProbeIsNotKeptAndOptionsNotFollowedRunUncached() throws {
        let s = Scratch()
        s.write("probe.c", "int bar(void);\nint main(void) { return bar(); }\n")
        let probe = ["gcc", "probe.c", "-o", "probe", "-L" + s.file("libs"), "-lbar"]
        #expect(try incrcc(probe, in: s).status != 0)
        #expect(try stats(s)["compile_failed"] == 1)
        try FileManager.default.createDirectory(atPath: s.file("libs"), withIntermediateDirectories: true)
        s.write("libs/bar.c", "int bar(void) { return 0; }\n")
        #expect(try run(["gcc", "-c", "bar.c"], in: s, cwd: s.file("libs")).status == 0)
        #expect(try run(["ar", "rcs", "libbar.a", "bar.o"], in: s, cwd: s.file("libs")).status == 0)
        #expect(try incrcc(probe, in: s).status == 0, "the library is there now: the probe succeeds")
        func refusedCalls() throws -> Int {
            let values = try stats(s)
            return (values["called_for_link"] ?? 0) + (values["unsupported_compiler_option"] ?? 0)
        }
        let linked = try refusedCalls()
        for refused in [["gcc", "-Xlinker", "--no-undefined", "probe.c", "-o", "p1", "-L" + s.file("libs"), "-lbar"],
                        ["gcc", "probe.c", "-o", "p2", "-Wl,-Map=p2.map", "-L" + s.file("libs"), "-lbar"],
                        ["gcc", "-fwhole-program", "probe.c", "-o", "p3", "-L" + s.file("libs"), "-lbar"]] {
            #expect(try incrcc(refused, in: s).status == 0)
        }
        #expect(try refusedCalls() == linked + 3)
        #expect(try incrcc(["-o", "link_cache=none"], in: s).status == 0)
        #expect(try incrcc(probe, in: s).status == 0)
        #expect(try refusedCalls() == linked + 4, "link_cache = none runs links uncached")
    }

    /// The linker `-fuse-ld` names is found as the driver finds it and keyed by content: each link is served
    /// the second time with the plain link's program.
    @Test(arguments: [("gcc", "bfd"), ("gcc", "gold"), ("gcc", "lld"), ("clang", "lld")])
    func chosenLinkersAreFollowed(compiler: String, linker: String) throws {
        let s = Scratch()
        s.write("conftest.c", "#include <stdio.h>\nint main(void) { puts(\"linked\"); return 0; }\n")
        let args = ["-fuse-ld=" + linker, "conftest.c", "-o", "conftest"]
        try compareWithPlain(compiler, args, object: "conftest", in: s)
        try compareWithPlain(compiler, args, object: "conftest", in: s)
        #expect(try linkHits(s) == 1, "\(compiler) -fuse-ld=\(linker)")
        #expect(try run([s.file("conftest")], in: s).stdout == "linked\n")
    }

    /// A link-time optimized program (the link compiles: gcc's lto-wrapper and lto1, clang's lld, keyed):
    /// served the second time with the plain link's bytes; an edit of the source links again.
    @Test(arguments: [("gcc", [String]()), ("clang", ["-fuse-ld=lld"])])
    func linkTimeOptimizedProgramsAreServed(compiler: String, linker: [String]) throws {
        let s = Scratch()
        for value in [7, 8] {
            s.write("lt.c", "#include <stdio.h>\nstatic int sq(int x) { return x * x; }\nint main(void) { printf(\"%d\\n\", sq(\(value))); return 0; }\n")
            let args = ["-O2", "-flto"] + linker + ["lt.c", "-o", "lt"]
            try compareWithPlain(compiler, args, object: "lt", in: s)
            try compareWithPlain(compiler, args, object: "lt", in: s)
            #expect(try run([s.file("lt")], in: s).stdout == "\(value * value)\n")
        }
        #expect(try linkHits(s) == 2)
    }

    /// A link of objects writes its map beside the program: restored by a hit, as a plain link writes it.
    @Test func linkMapsAreRestored() throws {
        let s = Scratch()
        s.write("a.c", "int main(void) { return 0; }\n")
        #expect(try run(["gcc", "-c", "a.c"], in: s).status == 0)
        let env = ["INCRCC_LINK_CACHE": "all"]
        let args = ["gcc", "a.o", "-o", "prog", "-Wl,-Map=prog.map"]
        for _ in 0..<2 {
            try? FileManager.default.removeItem(atPath: s.file("prog.map"))
            #expect(try incrcc(args, in: s, env: env).status == 0)
        }
        #expect(try linkHits(s) == 1)
        let served = try #require(s.read("prog.map"))
        #expect(try run(args, in: s).status == 0)
        #expect(s.read("prog.map") == served)
    }

    /// Objects and archives linked into a program: served with the plain link's bytes; a changed object or
    /// another order of the same objects links again.
    @Test(arguments: compilers)
    func linksOfObjectsAreServed(compiler: String) throws {
        let s = Scratch()
        s.write("m.c", "int f(void);\nint g(void);\nint main(void) { return f() + g(); }\n")
        s.write("f.c", "int f(void) { return 3; }\n")
        s.write("g.c", "int g(void) { return 4; }\n")
        #expect(try run([compiler, "-c", "m.c", "f.c", "g.c"], in: s).status == 0)
        #expect(try run(["ar", "rcs", "libg.a", "g.o"], in: s).status == 0)
        var hits = try linkHits(s)
        func step(_ args: [String], hit: Bool, exit: Int32, _ what: String) throws {
            try compareWithPlain(compiler, args, object: "prog", in: s)
            let now = try linkHits(s)
            #expect((now > hits) == hit, "\(compiler): \(what)")
            hits = now
            #expect(try run([s.file("prog")], in: s).status == exit, "\(compiler): \(what)")
        }
        #expect(try incrcc(["-o", "link_cache=all"], in: s).status == 0)
        let link = ["m.o", "f.o", "-o", "prog", "-L.", "-lg"]
        try step(link, hit: false, exit: 7, "first link")
        try step(link, hit: true, exit: 7, "the same link")
        try step(["f.o", "m.o", "-o", "prog", "-L.", "-lg"], hit: false, exit: 7, "the objects in another order")
        s.write("f.c", "int f(void) { return 5; }\n")
        #expect(try run([compiler, "-c", "f.c"], in: s).status == 0)
        try step(link, hit: false, exit: 9, "an object changed")
        try step(link, hit: true, exit: 9, "the same again")
    }

    /// A shared library from objects, with a soname and a version script (`link_cache = all`): served the
    /// second time as ld writes it; an edit of the version script links again.
    @Test(arguments: compilers)
    func sharedLibrariesWithVersionScriptsAreServed(compiler: String) throws {
        let s = Scratch()
        s.write("x.c", "int f(void) { return 1; }\nint g(void) { return 2; }\n")
        s.write("v.map", "{ global: f; local: *; };\n")
        #expect(try run([compiler, "-fPIC", "-c", "x.c"], in: s).status == 0)
        #expect(try incrcc(["-o", "link_cache=all"], in: s).status == 0)
        let link = ["-shared", "x.o", "-o", "libx.so", "-Wl,-soname,libx.so.1", "-Wl,--version-script=v.map"]
        var hits = try linkHits(s)
        for (hit, what) in [(false, "first link"), (true, "the same link")] {
            try compareWithPlain(compiler, link, object: "libx.so", in: s)
            #expect((try linkHits(s) > hits) == hit, "\(compiler): \(what)")
            hits = try linkHits(s)
        }
        let mode = try FileManager.default.attributesOfItem(atPath: s.file("libx.so"))[.posixPermissions] as? Int
        #expect(mode.map { $0 & 0o111 != 0 } == true, "a shared library is written executable, as ld writes it")
        s.write("v.map", "{ global: f; g; local: *; };\n")
        try compareWithPlain(compiler, link, object: "libx.so", in: s)
        #expect(try linkHits(s) == hits, "\(compiler): the version script changed")
        #expect(try run(["nm", "-D", "--defined-only", "libx.so"], in: s).stdout.contains(" g"))
    }
}

import Foundation
import Testing

/// Direct mode off: results found by the preprocessor's output, as ccache's preprocessor mode finds them.
/// Every hit is compared byte for byte with a plain compile of the same call.
@Suite(.enabled(if: Tools.required(Tools.hasIncrcc && Tools.hasGCC && Tools.hasClang)), .timeLimit(Tools.suiteTimeLimit))
struct PreprocessedTextTests {
    static let noDirect = ["INCRCC_NODIRECT": "1"]

    func project() -> Scratch {
        let s = Scratch()
        s.write("inc/h.h", "/* the header */\n#define SCALE 3\nint helper(int);\n")
        s.write("t.c", "#include \"h.h\"\nint f(int x) { return helper(x) * SCALE; }\n")
        return s
    }

    func counts(_ s: Scratch) throws -> (hits: Int, misses: Int) {
        let values = try stats(s)
        return (values["preprocessed_cache_hit"] ?? -1, values["cache_miss"] ?? -1)
    }

    /// Options that only steer the preprocessor and leave its output alone find the result; an edit finds
    /// none, also one the text does not show: spelling out a macro moves the columns `-g` records.
    @Test(arguments: [("gcc", [String]()), ("gcc", ["-g"]), ("clang", []), ("clang", ["-g"])])
    func sameOutputSameResult(compiler: String, debug: [String]) throws {
        let s = project()
        let base = ["-Iinc", "-c", "t.c", "-o", "t.o"] + debug
        try compareWithPlain(compiler, base, object: "t.o", in: s, env: Self.noDirect)
        #expect(try counts(s) == (0, 1))
        try compareWithPlain(compiler, ["-DUNUSED=1", "-Iother", "-UOTHER"] + base, object: "t.o", in: s, env: Self.noDirect)
        #expect(try counts(s) == (1, 1))
        s.write("t.c", "#include \"h.h\"\nint f(int x) { return helper(x) * 3; }\n")
        try compareWithPlain(compiler, ["-DUNUSED=1"] + base, object: "t.o", in: s, env: Self.noDirect)
        s.write("inc/h.h", "/* the header, edited */\n#define SCALE 3\nint helper(int);\n")
        try compareWithPlain(compiler, ["-DUNUSED=1"] + base, object: "t.o", in: s, env: Self.noDirect)
        #expect(try counts(s) == (1, 3))
        try compareWithPlain(compiler, ["-DUNUSED=2"] + base, object: "t.o", in: s, env: Self.noDirect)
        #expect(try counts(s) == (2, 3))
    }

    /// Macro debug info records every macro defined, used or not: the route steps aside.
    @Test(arguments: [("gcc", ["-g3"]), ("clang", ["-g", "-fdebug-macro"])])
    func macroDebugInfoStepsAside(compiler: String, debug: [String]) throws {
        let s = project()
        let base = ["-Iinc", "-c", "t.c", "-o", "t.o"] + debug
        try compareWithPlain(compiler, base, object: "t.o", in: s, env: Self.noDirect)
        try compareWithPlain(compiler, ["-DUNUSED=1"] + base, object: "t.o", in: s, env: Self.noDirect)
        #expect(try counts(s) == (0, 2))
        let explained = try incrcc(["explain", compiler, "-DOTHER"] + base, in: s, env: Self.noDirect)
        #expect(explained.stdout.contains("preprocessor output: not tried"), "\(explained.stdout)")
    }

    /// The preprocessor's diagnostics are keyed: a redefinition that leaves the text alone still warns.
    @Test func preprocessorDiagnosticsAreKeyed() throws {
        let s = project()
        try compareWithPlain("gcc", ["-Iinc", "-DX=1", "-c", "t.c", "-o", "t.o"], object: "t.o", in: s, env: Self.noDirect)
        let warned = try compareWithPlain("gcc", ["-Iinc", "-DX=1", "-DX=2", "-c", "t.c", "-o", "t.o"], object: "t.o",
                                          in: s, env: Self.noDirect)
        #expect(warned.stderr.contains("redefined"), "\(warned.stderr)")
        #expect(try counts(s) == (0, 2))
    }

    /// A precompiled header gcc may use instead of the text: the route steps aside.
    @Test func precompiledHeaderStepsAside() throws {
        let s = project()
        #expect(try run(["gcc", "-Iinc", "-x", "c-header", "inc/h.h", "-o", "inc/h.h.gch"], in: s).status == 0)
        try compareWithPlain("gcc", ["-Iinc", "-c", "t.c", "-o", "t.o"], object: "t.o", in: s, env: Self.noDirect)
        let explained = try incrcc(["explain", "gcc", "-Iinc", "-DY", "-c", "t.c", "-o", "t.o"], in: s, env: Self.noDirect)
        #expect(explained.stdout.contains("precompiled header"), "\(explained.stdout)")
        try compareWithPlain("gcc", ["-Iinc", "-DY", "-c", "t.c", "-o", "t.o"], object: "t.o", in: s, env: Self.noDirect)
        #expect(try counts(s) == (0, 2))
    }

    /// With a dependency file, the files the preprocessor read are keyed and the file is written for this
    /// call's object.
    @Test func dependencyFileIsWrittenForTheCall() throws {
        let s = project()
        try compareWithPlain("gcc", ["-Iinc", "-MD", "-c", "t.c", "-o", "a.o"], object: "a.o", in: s, env: Self.noDirect)
        try compareWithPlain("gcc", ["-Iinc", "-DZ", "-MD", "-c", "t.c", "-o", "b.o"], object: "b.o", in: s,
                             env: Self.noDirect)
        #expect(try counts(s) == (1, 1))
        let written = try #require(s.read("b.d"))
        let text = String(decoding: written, as: UTF8.self)
        #expect(text.hasPrefix("b.o: t.c") && text.contains("inc/h.h"), "\(text)")
    }
}

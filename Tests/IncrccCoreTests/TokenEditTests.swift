import Foundation
import Testing
@testable import IncrccCore

/// Header edits that change no token — lines moved by a doc comment, white space, lines split or joined,
/// the definition of a macro nothing names — served with the plain compile's object (gcc and clang, C and
/// C++); whatever could see the change (a token, a used macro, `-g`, `__LINE__` through `assert`, a warning,
/// a name pasted by `##`) compiles.
@Suite(.enabled(if: Tools.required(Tools.hasIncrcc && Tools.hasGCC)), .timeLimit(Tools.suiteTimeLimit))
struct TokenEditTests {
    static let compilers = ["gcc", "clang"].filter { Tools.required(Tools.which($0) != nil) }

    @Test func tokenTextForgetsPlacesOnly() throws {
        func tokens(_ text: String) throws -> TokenText? {
            let blanked = try #require(CommentFreeText.blanked(Array(text.utf8)))
            return TokenText(blanked: blanked)
        }
        let base = try #require(try tokens("#define A 1\nint f(int x) { return x + A; }\n"))
        #expect(try tokens("\n\n#define A 1\nint f(int x)\n{\n  return x + A;\n}\n")?.digest == base.digest)
        #expect(try tokens("#define A 1\nint f(int x) { return x+A; }\n")?.digest != base.digest, "white space between tokens counts")
        #expect(try tokens("#define A 1 int f(int x) { return x + A; }\n")?.digest != base.digest, "a directive ends at its line")
        #expect(try tokens("#define A 1\nint f(int x) { re\\\nturn x + A; }\n")?.digest == base.digest, "a splice joins a token")
        #expect(try tokens("#define A 2\nint f(int x) { return x + A; }\n")?.changedDefinitions(from: base) == ["A"])
        #expect(try tokens("#define A 1\nint f(int x) { return x - A; }\n")?.changedDefinitions(from: base) == nil)
        #expect(try tokens("char *s = \"a  b\";\n")?.digest != (try tokens("char *s = \"a b\";\n"))?.digest)
        #expect(try tokens("#include <a  b.h>\n")?.digest != (try tokens("#include <a b.h>\n"))?.digest)
        #expect(try tokens("const char *r = R\"(x)\";\n") == nil)
    }

    static func header(_ top: String, body: String = "static inline int twice(int x) { return 2 * x + UNIT; }",
                       unused: String = "#define VERSION_TEXT \"1.0\"") -> String {
        "#pragma once\n\(top)#define UNIT 1\n\(unused)\n\(body)\n"
    }

    @Test(arguments: compilers, [false, true])
    func editsThatChangeNoTokenHit(compiler: String, cxx: Bool) throws {
        let s = Scratch()
        let driver = cxx ? (compiler == "gcc" ? "g++" : "clang++") : compiler
        let source = cxx ? "u.cpp" : "u.c"
        s.write(source, "#include \"api.h\"\nint use(int x) { return twice(x); }\n")
        var hits = 0
        func step(_ header: String, hit: Bool, _ what: String, flags: [String] = ["-O2"]) throws {
            s.write("api.h", header)
            try compareWithPlain(driver, flags + ["-c", source, "-o", "u.o"], object: "u.o", in: s)
            let now = try stats(s)["direct_cache_hit_token_edits"] ?? 0
            #expect((now > hits) == hit, "\(driver) \(what)")
            hits = now
        }
        try step(Self.header(""), hit: false, "first compile")
        try step(Self.header("/**\n * The doc comment of\n * several lines.\n */\n"), hit: true, "a doc comment moves lines")
        try step(Self.header("\n\n", body: "static inline int   twice(int x)\n{\n    return 2 * x + UNIT;\n}"), hit: true,
                 "white space and split lines")
        try step(Self.header("\n\n", body: "static inline int twice(int x) \\\n{ return 2 * x + UNIT; }"), hit: true, "a joined line")
        try step(Self.header("\n\n", body: "static inline int twice(int x) \\\n{ return 2 * x + UNIT; }",
                             unused: "#define VERSION_TEXT \"1.1\""), hit: true, "a macro nothing names changed")
        try step(Self.header("", body: "static inline int twice(int x) { return 3 * x + UNIT; }"), hit: false, "a token changed")
        try step(Self.header("\n", body: "static inline int twice(int x) { return 3 * x + UNIT; }"), hit: true, "back to a line shift")
        try step(Self.header("\n", body: "static inline int twice(int x) { return 3 * x + UNIT; }")
            .replacingOccurrences(of: "UNIT 1", with: "UNIT 2"), hit: false, "a used macro changed")
        try step(Self.header("\n\n", body: "static inline int twice(int x) { return 3 * x + UNIT; }")
            .replacingOccurrences(of: "UNIT 1", with: "UNIT 2"), hit: false, "first -g compile", flags: ["-O2", "-g"])
        try step(Self.header("\n\n\n", body: "static inline int twice(int x) { return 3 * x + UNIT; }")
            .replacingOccurrences(of: "UNIT 1", with: "UNIT 2"), hit: false, "a line shift with -g", flags: ["-O2", "-g"])
    }

    @Test(arguments: compilers)
    func whatCouldSeeTheEditCompiles(compiler: String) throws {
        let s = Scratch()
        s.write("u.c", "#include \"api.h\"\nint use(int x) { return twice(x); }\n")
        var hits = 0
        func step(_ header: String, hit: Bool, _ what: String) throws {
            s.write("api.h", header)
            try compareWithPlain(compiler, ["-O2", "-Wall", "-c", "u.c", "-o", "u.o"], object: "u.o", in: s)
            let now = try stats(s)["direct_cache_hit_token_edits"] ?? 0
            #expect((now > hits) == hit, "\(compiler) \(what)")
            hits = now
        }
        // `assert` expands __LINE__ in the header's own code.
        let asserting = "#include <assert.h>\nstatic inline int twice(int x) { assert(x > 0); return 2 * x; }\n"
        try step("#pragma once\n" + asserting, hit: false, "first compile")
        try step("#pragma once\n\n" + asserting, hit: false, "a line shift above assert")
        // A warning quotes its line: a result that printed one is not served across a shift.
        let warning = "static inline int twice(int x) { int unused; return 2 * x; }\n"
        try step("#pragma once\n" + warning, hit: false, "first compile with a warning")
        try step("#pragma once\n\n" + warning, hit: false, "a line shift with a warning")
        // A macro named only through `##`: its definition is no unused one.
        let pasted = "#define CAT(a, b) a ## b\n#define VER 1\nstatic inline int twice(int x) { return 2 * x + CAT(V, ER); }\n"
        try step("#pragma once\n" + pasted, hit: false, "first compile with a pasted name")
        try step("#pragma once\n" + pasted.replacingOccurrences(of: "VER 1", with: "VER 2"), hit: false,
                 "the definition of a pasted name changed")
        // __LINE__ written in the header's code.
        let line = "static inline int twice(int x) { return 2 * x + __LINE__; }\n"
        try step("#pragma once\n" + line, hit: false, "first compile with __LINE__")
        try step("#pragma once\n\n" + line, hit: false, "a line shift above __LINE__")
    }
}

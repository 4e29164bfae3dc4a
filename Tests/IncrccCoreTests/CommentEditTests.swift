import Foundation
import Testing
@testable import IncrccCore

/// A header edited only in its comments (and trailing blanks), lines and columns kept: served, every object
/// equal to a plain compile's; anything the compilers could read otherwise compiles.
@Suite(.enabled(if: Tools.required(Tools.hasIncrcc && Tools.hasGCC)), .timeLimit(Tools.suiteTimeLimit))
struct CommentEditTests {
    static let compilers = ["gcc", "clang"].filter { Tools.required(Tools.which($0) != nil) }

    static func header(_ doc: String, _ trailing: String = "", extra: String = "") -> String {
        """
        #pragma once
        /** \(doc)
         *  Returns the area. */
        static inline int area(int w, int h) { return w * h; }\(trailing)
        #define LABEL "/* not a comment */"
        static const char *label(void) { return LABEL; } /* end */\(extra)
        int use(int x);

        """
    }

    @Test func commentFreeTextKeepsTokensAndColumns() {
        func text(_ s: String) -> String? { CommentFreeText.blanked(Array(s.utf8)).map { String(decoding: $0, as: UTF8.self) } }
        #expect(text("int a; // note\nint b; /* x */ int c;\n") == "int a;\nint b;         int c;\n")
        #expect(text("char *s = \"/* no */\"; // yes\n") == "char *s = \"/* no */\";\n")
        #expect(text("/* a\n b */ int x;\n") == "\n      int x;\n")
        #expect(text("int a; /* falls through */\n") == nil, "gcc reads fall-through comments")
        #expect(text("/* one /* two */\n") == nil, "-Wcomment")
        #expect(text("int a; // continued \\\nint b;\n") == nil)
        #expect(text("int a; /* caf\u{e9} */\n") == nil)
        #expect(text("char c = 'x;\n") == nil)
        #expect(text("/* open\n") == nil)
        #expect(text("#define A 1 \\  \n + 2\n") == nil, "a backslash with blanks before its newline")
    }

    @Test(arguments: compilers, [false, true])
    func commentEditsHitWithThePlainObject(compiler: String, cxx: Bool) throws {
        let s = Scratch()
        let driver = cxx ? (compiler == "gcc" ? "g++" : "clang++") : compiler
        let source = cxx ? "u.cpp" : "u.c"
        s.write(source, "#include \"api.h\"\nint use(int x) { return area(x, 2) + (int)label()[0]; }\n")
        // gcc's debug information records lines and columns, which stay: `-g` too (clang's records an MD5
        // of each file, so there the rule does not apply).
        let flagSets: [[String]] = compiler == "gcc" ? [["-O2"], ["-O1", "-g"]] : [["-O2"]]
        for flags in flagSets {
            let args = flags + ["-c", source, "-o", "u.o"]
            var hits = try stats(s)["direct_cache_hit_comment_edits"] ?? 0
            func step(_ header: String, hit: Bool, _ what: String) throws {
                s.write("api.h", header)
                try compareWithPlain(driver, args, object: "u.o", in: s)
                let now = try stats(s)["direct_cache_hit_comment_edits"] ?? 0
                #expect((now > hits) == hit, "\(driver) \(flags) \(what)")
                hits = now
            }
            try step(Self.header("Area of a rectangle.\(flags.count)"), hit: false, "first compile")
            try step(Self.header("Area of a rectangle, in units.\(flags.count)"), hit: true, "doc comment edited")
            try step(Self.header("Area of a rectangle, in units.\(flags.count)", " // inline   "), hit: true, "comment and blanks added")
            try step(Self.header("Area.\(flags.count)"), hit: true, "doc comment shortened")
            try step(Self.header("Area.\(flags.count)", extra: "\n/* a new line */"), hit: false, "a line added")
        }
    }

    /// What reads comments or may print them: not served across a comment edit.
    @Test func editsOthersReadAreCompiled() throws {
        let s = Scratch()
        s.write("u.c", "#include \"api.h\"\nint use(int x) { return area(x, 2) + (int)label()[0]; }\n")
        func misses(_ flags: [String], _ first: String, _ second: String, compiler: String = "gcc") throws -> Bool {
            let before = try stats(s)["direct_cache_hit"] ?? 0
            s.write("api.h", first)
            try compareWithPlain(compiler, flags + ["-c", "u.c", "-o", "u.o"], object: "u.o", in: s)
            s.write("api.h", second)
            try compareWithPlain(compiler, flags + ["-c", "u.c", "-o", "u.o"], object: "u.o", in: s)
            return try stats(s)["direct_cache_hit"] ?? 0 == before
        }
        // A fall-through comment, which gcc reads under -Wimplicit-fallthrough.
        #expect(try misses(["-O2", "-Wextra"], Self.header("A."), Self.header("A.", " /* fall through */")))
        // C90, where `//` opens no comment.
        let c89 = { (doc: String) in
            "/* \(doc) */\nstatic int area(int w, int h) { return w * h; }\nstatic const char *label(void) { return \"x\"; }\nint use(int x);\n"
        }
        #expect(try misses(["-O2", "-std=c89"], c89("B."), c89("B. two")))
        // A result that printed a warning quotes the line a comment may sit on.
        #expect(try misses(["-O2", "-Wall", "-DWARN"], Self.header("C.", extra: "\nstatic int unused_c;"),
                           Self.header("C. two", extra: "\nstatic int unused_c;")))
        if Tools.required(Tools.which("clang") != nil) {
            #expect(try misses(["-O1", "-g"], Self.header("D."), Self.header("D. two"), compiler: "clang"))
        }
    }
}

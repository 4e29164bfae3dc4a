import Foundation
import Testing
@testable import IncrccCore

/// Header edits inside conditional groups the preprocessor skips: the reading of the text, the rule, and
/// the served objects compared byte for byte (and stderr) with plain compiles by gcc and clang.
@Suite struct SkippedGroupsTests {
    static var compilers: [String] { Tools.hasClang ? ["gcc", "clang"] : ["gcc"] }

    /// Whether `new` compiles as `old` did, `old` going through its stored form as a lookup reads it.
    func alike(_ old: String, _ new: String, undefined: Set<String> = ["FEATURE", "X", "Y"]) throws -> Bool {
        let stored = try #require(ConditionalSkeleton(parsing: Array(old.utf8)))
        let decoded = try ConditionalSkeleton.decode(stored.encode())
        #expect(decoded.frame == stored.frame && decoded.groups == stored.groups)
        let current = try #require(ConditionalSkeleton(parsing: Array(new.utf8)))
        return current.compilesAlike(decoded, isUndefined: undefined.contains)
    }

    @Test func editsOnlyInSkippedGroupsCompileAlike() throws {
        // The group of an undefined name, with and without an include guard around it.
        #expect(try alike("#ifdef FEATURE\nint a = 1;\n#else\nint a = 0;\n#endif\n",
                          "#ifdef FEATURE\nint a = 2;\n#else\nint a = 0;\n#endif\n"))
        #expect(try alike("#ifndef G\n#define G\n#if defined(FEATURE)\nint a = 1;\n#endif\nint b;\n#endif\n",
                          "#ifndef G\n#define G\n#if defined(FEATURE)\nlong a = 1;\n#endif\nint b;\n#endif\n"))
        // The `#else` of a test certainly true, and what follows `#if 1`.
        #expect(try alike("#ifndef X\nint a;\n#else\nint b;\n#endif\n", "#ifndef X\nint a;\n#else\nint c;\n#endif\n"))
        #expect(try alike("#if 1\nint a;\n#elif Y > 2\nint b;\n#else\nint c;\n#endif\n",
                          "#if 1\nint a;\n#elif Y > 2\nint q;\n#else\nint r;\n#endif\n"))
        #expect(try alike("#if 0\nint a; /* x */\n#endif\n", "#if 0\nint b; // y\n#endif\n", undefined: []))
        // Inside a skipped group anything quiet may change, nested groups included.
        #expect(try alike("#ifdef X\n#if A\nint a;\n#endif\n#endif\n", "#ifdef X\nint a;\nint b;\nint c;\n#endif\n"))
    }

    @Test func editsTheCompilerMaySeeDoNot() throws {
        let base = "#ifdef FEATURE\nint a = 1;\n#else\nint a = 0;\n#endif\n"
        // A name something may define; a group taken; text outside groups; a line more.
        #expect(try !alike(base, "#ifdef FEATURE\nint a = 2;\n#else\nint a = 0;\n#endif\n", undefined: []))
        #expect(try !alike(base, "#ifdef FEATURE\nint a = 1;\n#else\nint a = 9;\n#endif\n"))
        #expect(try !alike(base, base + "int b;\n"))
        #expect(try !alike(base, "#ifdef FEATURE\nint a = 1;\nint b;\n#else\nint a = 0;\n#endif\n"))
        // The file itself can define the name it tests, in the old text or in the new.
        let defining = "#ifdef FEATURE\nint a = 1;\n#endif\n#ifdef Y\n#define FEATURE\n#endif\n"
        #expect(try !alike(defining, "#ifdef FEATURE\nint a = 2;\n#endif\n#ifdef Y\n#define FEATURE\n#endif\n"))
        #expect(try !alike("#ifdef FEATURE\nint a = 1;\n#endif\n#ifdef Y\nint x;\n#endif\n",
                           "#ifdef FEATURE\nint a = 2;\n#endif\n#ifdef Y\n#define FEATURE\n#endif\n"))
        // Expressions are not evaluated; a skipped line gcc warns about (an unclosed quote), a line join,
        // a trigraph, a byte outside ASCII.
        #expect(try !alike("#if FEATURE\nint a;\n#endif\n", "#if FEATURE\nint b;\n#endif\n"))
        #expect(try !alike("#ifdef X\nint a;\n#endif\n", "#ifdef X\nint a = 'x;\n#endif\n"))
        #expect(try !alike("#ifdef X\nint a;\nint b;\n#endif\n", "#ifdef X\nint \\\na;\n#endif\n"))
        #expect(try alike("#ifdef X\nint a;\nint b;\n#endif\n", "#ifdef X\nint c;\nint d;\n#endif\n"))
        // A comment after a quoted include is a comment.
        #expect(try alike("#include \"a.h\" // a.h\n#ifdef X\nint a;\n#endif\n", "#include \"a.h\" // a.h\n#ifdef X\nint b;\n#endif\n"))
        // Prefixed literals are literals in both languages.
        #expect(try alike("#ifdef X\nint a;\n#endif\nint w = L'x' + u'y';\n", "#ifdef X\nint b;\n#endif\nint w = L'x' + u'y';\n"))
        #expect(try !alike("#ifdef X\nint a;\n#endif\n", "#ifdef X\nint ??( a;\n#endif\n"))
        #expect(try !alike("#ifdef X\nint a;\n#endif\n", "#ifdef X\nint \u{e9};\n#endif\n"))
    }

    /// Texts whose conditionals a reader blind to one of the compilers' rules could take apart otherwise.
    @Test(arguments: [
        "/*\n#ifdef X\n*/\nint a;\n",
        "/* a\n b */ #ifdef X\nint a;\n#endif\n",
        "%:ifdef X\nint a;\n%:endif\n",
        "??=ifdef X\nint a;\n??=endif\n",
        "#ifdef X\nint a;\n#elifdef Y\nint b;\n#endif\n",
        "#ifdef X\nint a;\n",
        "#endif\n",
        "#else\n#endif\n",
        "#ifdef X\n#else\n#else\n#endif\n",
        "#ifdef X /* open\n */\nint a;\n#endif\n",
        "const char *s = R\"x(\n#endif\n)x\";\n",
        "int a = \\\n#ifdef X\n1;\n",
        "int x = 1'000'000; /* a C++ comment, in C an unclosed constant\n#ifdef X\n*/\n",
        "#ifdef X\nint a;\r#endif\n#ifdef Y\nint b;\n#endif\n",
        "#ifdef X\nint a; \\\u{0}\n#endif\n",
        "#include <a/*b>\n#ifdef X\n*/\n#endif\n",
    ]) func doubtfulReadingsAreRefused(_ text: String) {
        #expect(ConditionalSkeleton(parsing: Array(text.utf8)) == nil)
    }

    @Test func damagedRecordsAreRefused() throws {
        let skeleton = try #require(ConditionalSkeleton(parsing: Array("#ifdef X\n#ifdef Y\n#endif\n#endif\n".utf8)))
        let bytes = skeleton.encode()
        #expect(throws: MalformedEntry.self) { try ConditionalSkeleton.decode(Array(bytes.dropLast())) }
        #expect(throws: MalformedEntry.self) { try ConditionalSkeleton.decode(bytes + [0]) }
        // The first group claiming more groups inside it than follow it.
        var nested = bytes
        nested[16 + 8 + 32 + 1] = 7
        #expect(throws: MalformedEntry.self) { try ConditionalSkeleton.decode(nested) }
        var count = bytes
        count[16] = 200
        #expect(throws: MalformedEntry.self) { try ConditionalSkeleton.decode(count) }
    }

    static func feature(_ level: String, otherwise: String = "0", zero: String = "1", test: String = "FEATURE",
                        before: String = "") -> String {
        "#ifndef FEATURE_H\n#define FEATURE_H\n\(before)#ifdef \(test)\nstatic const int level = \(level);\n#else\n"
            + "static const int level = \(otherwise);\n#endif\n#if 0\nint zero = \(zero);\n#endif\n#endif\n"
    }

    /// Writes `header` as feature.h and compiles `source` (compared with a plain compile); whether the call
    /// was served across skipped groups.
    func served(_ compiler: String, _ header: String, flags: [String] = [], source: String = "b.c",
                in s: Scratch) throws -> Bool {
        s.write("feature.h", header)
        let before = try stats(s)["direct_cache_hit_skipped_groups"] ?? 0
        try compareWithPlain(compiler, flags + ["-O1", "-c", source, "-o", "b.o"], object: "b.o", in: s)
        try awaitStores(s)
        return try stats(s)["direct_cache_hit_skipped_groups"] ?? 0 > before
    }

    @Test(arguments: compilers) func editsInSkippedGroupsHitWithThePlainObject(_ compiler: String) throws {
        let s = Scratch()
        s.write("b.c", "#include \"feature.h\"\nint b(void) { return level; }\n")
        #expect(try !served(compiler, Self.feature("1"), in: s))
        #expect(try served(compiler, Self.feature("2"), in: s))
        #expect(try served(compiler, Self.feature("2", zero: "5"), in: s))
        // The next call with the same text is a plain direct hit.
        #expect(try !served(compiler, Self.feature("2", zero: "5"), in: s))
        #expect(try stats(s)["direct_cache_hit"] == 3)
        // Taken text, a line more, and a skipped line gcc warns about: misses, with gcc's stderr.
        #expect(try !served(compiler, Self.feature("2", otherwise: "7"), in: s))
        #expect(try !served(compiler, Self.feature("3 +\n4", otherwise: "7"), in: s))
        #expect(try !served(compiler, Self.feature("'x", otherwise: "7"), in: s))
        #expect(try stats(s)["cache_miss"] == 4)
        // The name defined on the command line: the group is compiled.
        #expect(try !served(compiler, Self.feature("5"), flags: ["-DFEATURE"], in: s))
        #expect(try !served(compiler, Self.feature("6"), flags: ["-DFEATURE"], in: s))
    }

    /// `explain` says a skipped edit would hit, and names the header and why when an edit would not.
    @Test func explainTellsSkippedEditsFromOthers() throws {
        let s = Scratch()
        s.write("b.c", "#include \"feature.h\"\nint b(void) { return level; }\n")
        #expect(try !served("gcc", Self.feature("1"), in: s))
        let call = ["explain", "gcc", "-O1", "-c", "b.c", "-o", "b.o"]
        s.write("feature.h", Self.feature("2"))
        let skipped = try incrcc(call, in: s).stdout
        #expect(skipped.contains("feature.h changed, but only in conditional groups the preprocessor skips"))
        #expect(skipped.contains("would hit"))
        s.write("feature.h", Self.feature("1", otherwise: "4"))
        let taken = try incrcc(call, in: s).stdout
        #expect(taken.contains("feature.h changed: inside groups that may be compiled"))
        #expect(taken.contains("would compile"))
        #expect(try stats(s)["direct_cache_hit"] == 0)
    }

    /// A version bump no file reads and a skipped edit at once: both rules together.
    @Test(arguments: compilers) func optionsNoFileReadsAndSkippedEditsTogether(_ compiler: String) throws {
        let s = Scratch()
        s.write("b.c", "#include \"feature.h\"\nint b(void) { return level; }\n")
        #expect(try !served(compiler, Self.feature("1"), flags: ["-DVERSION=1"], in: s))
        // Served by the lookup across options (which also proved the edit skipped): counted once, there.
        #expect(try !served(compiler, Self.feature("2"), flags: ["-DVERSION=2"], in: s))
        #expect(try stats(s)["direct_cache_hit_options_unreached"] == 1)
        #expect(try stats(s)["direct_cache_hit"] == 1)
        // The name the group tests is the option that changed: compiled.
        #expect(try !served(compiler, Self.feature("3"), flags: ["-DVERSION=2", "-DFEATURE"], in: s))
        #expect(try stats(s)["cache_miss"] == 2)
    }

    @Test(arguments: compilers) func namesSomethingCanDefineMiss(_ compiler: String) throws {
        let s = Scratch()
        // Another header read first defines the name.
        s.write("other.h", "#define FEATURE 1\n")
        s.write("o.c", "#include \"other.h\"\n#include \"feature.h\"\nint b(void) { return level; }\n")
        #expect(try !served(compiler, Self.feature("1"), source: "o.c", in: s))
        #expect(try !served(compiler, Self.feature("2"), source: "o.c", in: s))
        // The source defines it.
        s.write("d.c", "#define FEATURE\n#include \"feature.h\"\nint b(void) { return level; }\n")
        #expect(try !served(compiler, Self.feature("1"), source: "d.c", in: s))
        #expect(try !served(compiler, Self.feature("2"), source: "d.c", in: s))
        // The header itself does, before its test.
        s.write("b.c", "#include \"feature.h\"\nint b(void) { return level; }\n")
        #expect(try !served(compiler, Self.feature("1", before: "#define FEATURE\n"), in: s))
        #expect(try !served(compiler, Self.feature("2", before: "#define FEATURE\n"), in: s))
        // The compiler does (`linux` in gcc's and clang's GNU modes).
        #expect(try !served(compiler, Self.feature("1", test: "linux"), in: s))
        #expect(try !served(compiler, Self.feature("2", test: "linux"), in: s))
        #expect(try stats(s)["direct_cache_hit"] == 0)
    }

    /// gcc's `#pragma once` skips a file with the same size, time and bytes as one read already, and `-MD`
    /// does not name it; an edit of either makes gcc read both (checked). Each edit is compiled.
    @Test(arguments: ["a.h", "b.h"]) func editsEndingAPragmaOnceLikenessMiss(_ edited: String) throws {
        let s = Scratch()
        func header(_ skipped: String) -> String {
            "#pragma once\n#ifdef NOPE\nint \(skipped);\n#endif\n#define UNIQ2(n) item##n\n#define UNIQ(n) UNIQ2(n)\n"
                + "int UNIQ(__COUNTER__);\n"
        }
        s.write("a.h", header("x1"))
        s.write("b.h", header("x1"))
        _ = try run(["touch", "-d", "2020-01-01 00:00:00", s.file("a.h"), s.file("b.h")], in: s)
        s.write("m.c", "#include \"a.h\"\n#include \"b.h\"\nint n(void) { return __COUNTER__; }\n")
        let call = ["-O1", "-c", "m.c", "-o", "m.o"]
        try compareWithPlain("gcc", call, object: "m.o", in: s)
        try awaitStores(s)
        // An edit in a skipped group, with the time kept: gcc now reads both files.
        s.write(edited, header("x2"))
        _ = try run(["touch", "-d", "2020-01-01 00:00:00", s.file(edited)], in: s)
        try compareWithPlain("gcc", call, object: "m.o", in: s)
        try awaitStores(s)
        #expect(try stats(s)["cache_miss"] == 2)
    }

    /// clang's DWARF 5 line table holds each file's MD5, so its `-g` objects differ; gcc's do not.
    @Test(arguments: compilers) func debugInformationThatHoldsTheTextMisses(_ compiler: String) throws {
        let s = Scratch()
        s.write("b.c", "#include \"feature.h\"\nint b(void) { return level; }\n")
        #expect(try !served(compiler, Self.feature("1"), flags: ["-g"], in: s))
        #expect(try served(compiler, Self.feature("2"), flags: ["-g"], in: s) == (compiler == "gcc"))
    }
}

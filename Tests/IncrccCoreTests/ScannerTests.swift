@testable import IncrccCore
import Testing

struct FileReferencesTests {
    func read(_ text: String) -> FileReferences { FileReferences.read(Array(text.utf8)) }

    @Test func literalIncludesInEveryBranch() {
        let refs = read("#if X\n#include <a.h>\n#else\n  #  include \"b.h\"\n#endif\n%:include <c.h>\n#include_next <d.h>\n")
        #expect(refs.includes.map(\.name) == ["a.h", "b.h", "c.h", "d.h"])
        #expect(refs.includes.map(\.isQuoted) == [false, true, false, false])
        #expect(refs.includes.last?.isNext == true)
        #expect(refs.fallback == nil)
    }

    @Test func whatCannotBeFollowedFallsBack() {
        #expect(read("#include HEADER\n").fallback == .computedInclude)
        #expect(read("# /* c */ include <a.h>\n").fallback == .computedInclude)
        #expect(read("#inc\\\nlude <a.h>\n").fallback == .computedInclude)
        #expect(read("#if __has_include(HEADER)\n#endif\n").fallback == .computedInclude)
        #expect(read("#embed \"data.bin\"\n").fallback == .embeddedFile)
        #expect(read("asm(\".incbin \\\"blob\\\"\");\n").fallback == .embeddedFile)
        #expect(read("asm(\".incbin\" \" \\\"blob\\\"\");\n").fallback == .embeddedFile)
        #expect(read(".incbin\n").fallback == .embeddedFile)
        // A C++ member named `incbin` is no directive.
        #expect(read("struct A { void incbin() const {} }; void f() { A a; a.incbin(); }\n").fallback == nil)
        #expect(read("#define X 1\n#pragma once\nint include = 1;\n").fallback == nil)
        // `#include` with nothing after it is the compiler's error to report.
        #expect(read("#include\n").fallback == nil)
        // A macro may be spelled with `$` or UTF-8, and a comment, a continuation or a trigraph may come first.
        for after in ["$H", "\u{e9}H", "/* c */ <a.h>", "\\\n<a.h>", "??/\n<a.h>", "\"unclosed", "L\"a.h\""] {
            #expect(read("#include \(after)\n").fallback == .computedInclude, "\(after)")
        }
    }

    /// glibc's limits.h says "#include's protect themselves" in a comment: no name can follow, so it must
    /// not stop the scan of every unit that includes it.
    @Test func wordsAfterIncludeThatNameNothingAreIgnored() {
        for after in ["'s protect themselves", "3", "(x)", ": see below", ".", "'a.h'"] {
            let refs = read("/* The\n   #include\(after)\n*/\n#include <limits.h>\n")
            #expect(refs.fallback == nil, "\(after)")
            #expect(refs.includes.map(\.name) == ["limits.h"])
        }
    }

    @Test func existenceTestsAreReferences() {
        let refs = read("#ifdef __has_include\n# if __has_include (\"linux/stat.h\")\n#endif\n#endif\n"
                        + "#define TBB __has_include(<tbb/tbb.h>)\n/* __has_include argument (PR 80005) */\n"
                        + "#if __has_include_next(<x.h>)\n#endif\n")
        #expect(refs.existenceTests.map(\.name) == ["linux/stat.h", "tbb/tbb.h", "x.h"])
        #expect(refs.existenceTests.last?.isNext == true)
        #expect(refs.fallback == nil)
        // A block comment that carries the directive onto the next line, and a literal that opens none.
        let spanning = read("#if /* a comment\n that goes on */ __has_include(<y.h>)\n#endif\n"
                            + "#define S \"/*\"\n#include <after.h>\n")
        #expect(spanning.existenceTests.map(\.name) == ["y.h"])
        #expect(spanning.includes.map(\.name) == ["after.h"])
    }
}

struct IncludeGraphScannerTests {
    /// A file system of literal texts: `exists` and `read` answer from the table only.
    struct Tree {
        var files: [String: String]
        func read(_ path: String) -> FileFacts? {
            files[path].map { FileFacts(digest: Digest.of(Array($0.utf8)), references: FileReferences.read(Array($0.utf8))) }
        }
        func exists(_ path: String) -> Bool { files[path] != nil }
    }

    func scanner(quote: [String] = [], bracket: [String], forced: [String] = []) -> IncludeGraphScanner {
        var options = IncludeSearchOptions()
        options.quoteDirectories = quote
        options.bracketDirectories = bracket
        let finder = NegativeProbeFinder(options: options, builtin: ["/sys"], environmentDirectories: [])
        return IncludeGraphScanner(finder: finder, forcedIncludes: forced, implicitIncludes: ["stdc-predef.h"])
    }

    @Test func resolvesLikeTheCompilerAndRecordsWhatWasSearched() throws {
        let tree = Tree(files: [
            "src/main.c": "#include \"local.h\"\n#include <lib.h>\n#include <missing.h>\n",
            "src/local.h": "#include \"shared.h\"\n",
            "inc/shared.h": "",
            "inc/lib.h": "#include_next <lib.h>\n",
            "/sys/lib.h": "",
            "/sys/stdc-predef.h": "",
            "forced.h": "",
        ])
        let graph = try scanner(bracket: ["first", "inc"], forced: ["forced.h"])
            .scan(source: "src/main.c", read: tree.read, exists: tree.exists).get()
        #expect(graph.files.map(\.path) == [
            "src/main.c", "forced.h", "/sys/stdc-predef.h", "src/local.h", "inc/lib.h", "inc/shared.h", "/sys/lib.h",
        ])
        #expect(graph.absentPaths.contains("first/lib.h"))
        #expect(graph.absentPaths.contains("src/shared.h"))
        #expect(graph.absentPaths.contains("first/missing.h") && graph.absentPaths.contains("/sys/missing.h"))
        #expect(!graph.absentPaths.contains("inc/lib.h"))
    }

    @Test func aComputedIncludeAnywhereStopsTheScan() {
        let tree = Tree(files: ["a.c": "#include \"b.h\"\n", "b.h": "#include MACRO\n"])
        let result = scanner(bracket: []).scan(source: "a.c", read: tree.read, exists: tree.exists)
        #expect(result == .failure(ScanFailure(.computedInclude, "b.h")))
    }

    @Test func aPrecompiledHeaderBesideTheFirstIncludeStopsTheScan() {
        let tree = Tree(files: ["a.c": "#include \"pch.h\"\n", "pch.h": "", "pch.h.gch": ""])
        let result = scanner(bracket: []).scan(source: "a.c", read: tree.read, exists: tree.exists)
        #expect(result == .failure(ScanFailure(.precompiledHeader, "pch.h")))
    }

    @Test func keysDependOnContentAndSpellingsCompare() {
        let one = IncludeGraph(files: [ScannedFile(path: "a.c", digest: Digest.of([1]))], absentPaths: [])
        var two = one
        two.files[0].digest = Digest.of([2])
        let key = { (graph: IncludeGraph) in ScanKey.digest(directKey: Digest.of([0]), graph: graph, engine: .directives, normalize: { $0 }) }
        #expect(key(one) != key(two))
        #expect(key(one) == key(one))
        #expect(ScanKey.spelling("./inc//a.h") == "inc/a.h")
        #expect(ScanKey.spelling("/usr/./include/x.h") == "/usr/include/x.h")
        #expect(ScanKey.spelling("inc/../a.h") == "inc/../a.h")
    }
}

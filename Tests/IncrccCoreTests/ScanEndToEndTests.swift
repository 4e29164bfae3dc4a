import Foundation
import Testing

/// Hits found by scanning the include graph before compiling, where no manifest answers.
@Suite(.enabled(if: Tools.required(Tools.hasIncrcc && Tools.hasGCC)), .timeLimit(Tools.suiteTimeLimit))
struct ScanEndToEndTests {
    static let noDirect = ["INCRCC_NODIRECT": "1"]
    static let compilers = ["gcc", "clang", "g++"].filter { Tools.which($0) != nil }

    func project(cxx: Bool = false) -> Scratch {
        let s = Scratch()
        if cxx {
            s.write("src/main.c", "#include <iostream>\n#include <vector>\n#include <map>\n#include \"config.h\"\n"
                    + "int main() { std::map<int, std::vector<int>> m; m[VALUE].push_back(2); std::cout << m.size(); }\n")
        } else {
            s.write("src/main.c", CompileEndToEndTests.cSource)
        }
        s.write("include/config.h", "#define VALUE 1\n")
        return s
    }

    func cacheEntries(_ s: Scratch, suffix: String) -> [String] {
        FileManager.default.enumerator(atPath: s.file("cache"))?.compactMap { $0 as? String }
            .filter { $0.hasSuffix(suffix) }.map { s.file("cache/" + $0) } ?? []
    }

    @Test(arguments: compilers)
    func directModeOffHitsByScan(compiler: String) throws {
        let s = project(cxx: compiler == "g++")
        let language = compiler == "g++" ? ["-x", "c++"] : []
        let args = language + ["-O2", "-c", "src/main.c", "-Iinclude"]
        try run([compiler] + args + ["-o", "plain.o"], in: s)
        #expect(try incrcc([compiler] + args + ["-o", "miss.o"], in: s, env: Self.noDirect).status == 0)
        #expect(try incrcc([compiler] + args + ["-o", "hit.o"], in: s, env: Self.noDirect).status == 0)
        #expect(s.read("plain.o") == s.read("miss.o"))
        #expect(s.read("plain.o") == s.read("hit.o"))
        let values = try stats(s)
        #expect(values["cache_miss"] == 1 && values["preprocessed_cache_hit"] == 1 && values["direct_cache_hit"] == 0)
        #expect(cacheEntries(s, suffix: ".M").isEmpty, "direct mode off writes no manifests")
        #expect(try incrcc(["-s"], in: s).stdout.contains("Scan"))
    }

    @Test func directModeOffInTheConfigurationFile() throws {
        let s = project()
        s.write("cache/incrcc.conf", "direct_mode = false\n")
        let args = ["gcc", "-c", "src/main.c", "-Iinclude", "-o", "main.o"]
        try incrcc(args, in: s)
        try incrcc(args, in: s)
        #expect(try stats(s)["preprocessed_cache_hit"] == 1)
    }

    /// Manifests lost (a cache whose manifests were removed) after a miss indexed under `scan = always`: the
    /// default scan reaches the result and writes a manifest entry from what it scanned, so the next call is
    /// a direct hit, and a header created earlier in the search path still turns that into a miss.
    @Test func manifestsGoneResultsStillHit() throws {
        let s = project()
        s.write("other/placeholder.txt", "")
        let args = ["gcc", "-c", "src/main.c", "-Iother", "-Iinclude", "-o", "main.o"]
        try run(["gcc", "-c", "src/main.c", "-Iother", "-Iinclude", "-o", "plain.o"], in: s)
        try incrcc(args, in: s, env: ["INCRCC_SCAN": "always"])
        try awaitStores(s)
        #expect(cacheEntries(s, suffix: ".S").count == 1)
        let manifests = cacheEntries(s, suffix: ".M")
        #expect(manifests.count == 1)
        for manifest in manifests + cacheEntries(s, suffix: ".L") { try FileManager.default.removeItem(atPath: manifest) }
        try incrcc(args, in: s)
        #expect(s.read("main.o") == s.read("plain.o"))
        #expect(try stats(s)["preprocessed_cache_hit"] == 1)
        try incrcc(args, in: s)
        #expect(try stats(s)["direct_cache_hit"] == 1)

        s.write("other/config.h", "#define VALUE 2\n")
        try incrcc(args, in: s)
        try run(["gcc", "-c", "src/main.c", "-Iother", "-Iinclude", "-o", "plain2.o"], in: s)
        #expect(s.read("main.o") == s.read("plain2.o"))
        #expect(s.read("main.o") != s.read("plain.o"))
        let values = try stats(s)
        #expect(values["cache_miss"] == 2 && values["direct_cache_hit"] == 1)
    }

    @Test func shadowingHeaderEditedHeaderAndMacroFlagMiss() throws {
        let s = project()
        s.write("first/placeholder.txt", "")
        let base = ["gcc", "-c", "src/main.c", "-Ifirst", "-Iinclude", "-o", "main.o"]
        try incrcc(base, in: s, env: Self.noDirect)
        try incrcc(base, in: s, env: Self.noDirect)
        #expect(try stats(s)["preprocessed_cache_hit"] == 1)

        s.write("first/config.h", "#define VALUE 3\n")
        try incrcc(base, in: s, env: Self.noDirect)
        try run(["gcc", "-c", "src/main.c", "-Ifirst", "-Iinclude", "-o", "plain.o"], in: s)
        #expect(s.read("main.o") == s.read("plain.o"))

        s.write("first/config.h", "#define VALUE 4\n")
        try incrcc(base, in: s, env: Self.noDirect)
        try run(["gcc", "-c", "src/main.c", "-Ifirst", "-Iinclude", "-o", "plain.o"], in: s)
        #expect(s.read("main.o") == s.read("plain.o"))

        // The scan keys the flag; the preprocessor's output, the same without it, finds the result.
        try incrcc(base + ["-DEXTRA=1"], in: s, env: Self.noDirect)
        try run(["gcc", "-c", "src/main.c", "-Ifirst", "-Iinclude", "-DEXTRA=1", "-o", "plain.o"], in: s)
        #expect(s.read("main.o") == s.read("plain.o"))
        let values = try stats(s)
        #expect(values["cache_miss"] == 3 && values["preprocessed_cache_hit"] == 2)
    }

    /// gcc reads `gcc_only.h`, clang `clang_only.h`: the scan covers both branches, so a change to the
    /// header gcc reads is a miss and the object is gcc's.
    @Test func headersThatDifferUnderClang() throws {
        let s = Scratch()
        s.write("t.c", "#ifdef __clang__\n#include \"clang_only.h\"\n#else\n#include \"gcc_only.h\"\n#endif\nint v = VALUE;\n")
        s.write("gcc_only.h", "#define VALUE 1\n")
        s.write("clang_only.h", "#define VALUE 100\n")
        let args = ["gcc", "-c", "t.c", "-o", "t.o"]
        try incrcc(args, in: s, env: Self.noDirect)
        try incrcc(args, in: s, env: Self.noDirect)
        #expect(try stats(s)["preprocessed_cache_hit"] == 1)
        s.write("gcc_only.h", "#define VALUE 2\n")
        try incrcc(args, in: s, env: Self.noDirect)
        try run(["gcc", "-c", "t.c", "-o", "plain.o"], in: s)
        #expect(s.read("t.o") == s.read("plain.o"))
        #expect(try stats(s)["cache_miss"] == 2)
    }

    @Test func computedIncludeFallsBackAndCounts() throws {
        let s = Scratch()
        s.write("t.c", "#define HEADER \"h.h\"\n#include HEADER\nint v = VALUE;\n")
        s.write("h.h", "#define VALUE 1\n")
        let args = ["gcc", "-c", "t.c", "-o", "t.o"]
        try incrcc(args, in: s, env: Self.noDirect)
        try incrcc(args, in: s, env: Self.noDirect)
        // The scan gives up; the preprocessor's output finds the result.
        let values = try stats(s)
        #expect(values["cache_miss"] == 1 && values["preprocessed_cache_hit"] == 1)
        #expect((values["scan_fallback_computed_include"] ?? 0) >= 1)
        // Direct mode is unaffected.
        try incrcc(args, in: s)
        try incrcc(args, in: s)
        #expect(try stats(s)["direct_cache_hit"] == 1)
    }

    @Test func scanNeverIndexesNothing() throws {
        let s = project()
        let env = Self.noDirect.merging(["INCRCC_SCAN": "never"]) { $1 }
        let args = ["gcc", "-c", "src/main.c", "-Iinclude", "-o", "main.o"]
        try incrcc(args, in: s, env: env)
        try incrcc(args, in: s, env: env)
        try awaitStores(s)
        #expect(cacheEntries(s, suffix: ".S").isEmpty)
        // Found by the preprocessor's output alone.
        #expect(try stats(s)["cache_miss"] == 1)
        #expect(cacheEntries(s, suffix: ".T").count == 1)
    }
}

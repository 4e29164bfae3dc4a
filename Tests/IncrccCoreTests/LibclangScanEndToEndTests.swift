import Foundation
import Testing

/// The libclang route (`scan = always`) for units the directive scan cannot follow.
@Suite(.enabled(if: Tools.required(Tools.hasIncrcc && Tools.hasGCC && Tools.hasLibclang)), .timeLimit(Tools.suiteTimeLimit))
struct LibclangScanEndToEndTests {
    static let always = ["INCRCC_NODIRECT": "1", "INCRCC_SCAN": "always"]

    /// `#include HEADER`, and headers chosen by `__clang__`: only a parse with gcc's macros finds gcc's.
    func project() -> Scratch {
        let s = Scratch()
        s.write("t.c", """
            #ifdef __clang__
            #define CHOSEN "clang_only.h"
            #else
            #define CHOSEN "gcc_only.h"
            #endif
            #include CHOSEN
            #include <stdio.h>
            int main(void) { printf("%d\\n", VALUE); return 0; }
            """)
        s.write("gcc_only.h", "#define VALUE 1\n")
        s.write("clang_only.h", "#define VALUE 100\n")
        return s
    }

    func plain(_ s: Scratch) throws -> Data? {
        try run(["gcc", "-O2", "-c", "t.c", "-o", "plain.o"], in: s)
        return s.read("plain.o")
    }

    @Test func computedIncludeHitsWithGccsHeaders() throws {
        let s = project()
        let args = ["gcc", "-O2", "-c", "t.c", "-o", "t.o"]
        try incrcc(args, in: s, env: Self.always)
        try incrcc(args, in: s, env: Self.always)
        #expect(s.read("t.o") == (try plain(s)))
        #expect(try stats(s)["preprocessed_cache_hit"] == 1)

        // clang's header is not part of gcc's compile: the exact set leaves it out, still a hit.
        s.write("clang_only.h", "#define VALUE 200\n")
        try incrcc(args, in: s, env: Self.always)
        #expect(try stats(s)["preprocessed_cache_hit"] == 2)
        #expect(s.read("t.o") == (try plain(s)))

        // gcc's header is: a miss, and gcc's new object.
        s.write("gcc_only.h", "#define VALUE 2\n")
        try incrcc(args, in: s, env: Self.always)
        #expect(s.read("t.o") == (try plain(s)))
        let values = try stats(s)
        #expect(values["cache_miss"] == 2 && values["preprocessed_cache_hit"] == 2)
    }

    /// The dynamic loader's own record (`LD_DEBUG=files`) of what each process mapped: the miss that
    /// indexes with libclang maps it (in the scan child), the direct hit after it maps nothing of it.
    @Test func aDirectHitDoesNotMapLibclang() throws {
        let s = project()
        let args = ["gcc", "-O2", "-c", "t.c", "-o", "t.o"]
        let env = ["INCRCC_SCAN": "always", "LD_DEBUG": "files"]
        try incrcc(args, in: s, env: env.merging(["LD_DEBUG_OUTPUT": s.file("miss.ld")]) { $1 })
        try incrcc(args, in: s, env: env.merging(["LD_DEBUG_OUTPUT": s.file("hit.ld")]) { $1 })
        #expect(try stats(s)["direct_cache_hit"] == 1)
        func mapped(_ prefix: String) throws -> String {
            try FileManager.default.contentsOfDirectory(atPath: s.path).filter { $0.hasPrefix(prefix) }
                .map { s.text($0) }.joined()
        }
        let miss = try mapped("miss.ld")
        let hit = try mapped("hit.ld")
        #expect(miss.contains("libclang"), "the check must be able to see libclang being loaded")
        #expect(!hit.isEmpty && !hit.contains("libclang"))
    }

    @Test func withoutLibclangCompilesStillWork() throws {
        let s = project()
        let env = Self.always.merging(["INCRCC_LIBCLANG": "/nonexistent/libclang.so", "INCRCC_LOGFILE": s.file("log")]) { $1 }
        let args = ["gcc", "-O2", "-c", "t.c", "-o", "t.o"]
        #expect(try incrcc(args, in: s, env: env).status == 0)
        #expect(try incrcc(args, in: s, env: env).status == 0)
        #expect(s.read("t.o") == (try plain(s)))
        #expect((try stats(s)["scan_libclang_unavailable"] ?? 0) >= 1)
        #expect(try incrcc(["-s"], in: s).stdout.contains("libclang could not be loaded"))
        #expect(s.text("log").contains("libclang not loaded (tried /nonexistent/libclang.so)"))
    }
}

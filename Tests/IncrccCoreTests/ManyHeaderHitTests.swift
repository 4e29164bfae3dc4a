import Foundation
import Testing
@testable import IncrccCore

/// Hits on units with many headers: stats recorded too soon after a change are trusted once settled, and
/// many absent include candidates are checked by reading their directories.
@Suite struct ManyHeaderHitTests {
    @Test func headersRecordedTooSoonAreTrustedOnceSettledAndStillChecked() throws {
        let s = Scratch()
        s.write("inc/config.h", "#define LIMIT 3\n")
        s.write("main.c", "#include \"config.h\"\nint limit(void) { return LIMIT; }\n")
        let arguments = ["gcc", "-Iinc", "-c", "main.c", "-o", "main.o"]
        let log = ["INCRCC_LOGFILE": s.file("log.txt")]
        try incrcc(arguments, in: s, env: log)
        try awaitStores(s)
        Thread.sleep(forTimeInterval: 2.2)
        try incrcc(arguments, in: s, env: log)
        try incrcc(arguments, in: s, env: log)
        let trusted = s.text("log.txt").components(separatedBy: "trusted from now on").count - 1
        #expect(trusted == 1, "the first hit after the header settled records its stat, the next one uses it")
        // A later edit is seen through the trusted stat and compiled.
        s.write("inc/config.h", "#define LIMIT 4\n")
        try incrcc(arguments, in: s, env: log)
        let served = try #require(s.read("main.o"))
        try run(arguments, in: s)
        #expect(s.read("main.o") == served)
        #expect(try stats(s)["direct_cache_hit"] == 2)
    }

    @Test func manyAbsentCandidatesAreCheckedByListingTheirDirectories() throws {
        let s = Scratch()
        var source = ""
        for index in 0..<300 {
            s.write("inc/h\(index).h", "#define V\(index) \(index)\n")
            source += "#include \"h\(index).h\"\n"
        }
        s.write("main.c", source + "int total(void) { return V7 + V299; }\n")
        let arguments = ["gcc", "-Iinc", "-c", "main.c", "-o", "main.o"]
        try incrcc(arguments, in: s)
        try awaitStores(s)
        try incrcc(arguments, in: s)
        #expect(try stats(s)["direct_cache_hit"] == 1)
        // The includer's directory comes first for a quoted include: a header created there shadows one.
        s.write("h7.h", "#define V7 700\n")
        try incrcc(arguments, in: s)
        let served = try #require(s.read("main.o"))
        try run(arguments, in: s)
        #expect(s.read("main.o") == served)
        #expect(try stats(s)["direct_cache_hit"] == 1)
        // Gone again: the first entry serves. A dangling link there is no header to the compiler: a hit too.
        try FileManager.default.removeItem(atPath: s.file("h7.h"))
        try incrcc(arguments, in: s)
        symlink("nowhere.h", s.file("h9.h"))
        try incrcc(arguments, in: s)
        #expect(try stats(s)["direct_cache_hit"] == 3)
    }
}

import Foundation
import Testing
@testable import IncrccCore

/// Inputs and outputs that no dependency list names: each case compiles through incrcc after the hidden
/// input changed and compares the object byte for byte with a plain compile of the same state.
@Suite(.enabled(if: Tools.required(Tools.hasIncrcc && Tools.hasGCC)))
struct WrongResultTests {
    /// The object incrcc leaves, and the one gcc writes for the same call.
    func compareWithPlain(_ arguments: [String], object: String, in s: Scratch) throws {
        let cached = try incrcc(["gcc"] + arguments, in: s)
        #expect(cached.status == 0, "\(cached.stderr)")
        let served = try #require(s.read(object))
        try FileManager.default.removeItem(atPath: s.file(object))
        let plain = try run(["gcc"] + arguments, in: s)
        #expect(plain.status == 0)
        #expect(s.read(object) == served, "incrcc's \(object) differs from gcc's for \(arguments)")
    }

    @Test func precompiledHeaderThroughForcedIncludeIsAnInput() throws {
        let s = Scratch()
        s.write("pch.h", "#include <stdlib.h>\n#include \"config.h\"\n")
        s.write("main.c", "int v = VALUE;\nint main(void) { return v; }\n")
        for value in 1...3 {
            s.write("config.h", "#define VALUE \(value)\n")
            try run(["gcc", "-x", "c-header", "-c", "pch.h", "-o", "pch.h.gch"], in: s)
            try compareWithPlain(["-include", "pch.h", "-c", "main.c"], object: "main.o", in: s)
            try compareWithPlain(["-include", "pch.h", "-c", "main.c"], object: "main.o", in: s)
        }
        #expect(try stats(s)["direct_cache_hit"] == 3)
    }

    @Test func precompiledHeaderBesideAnIncludedHeaderIsAnInput() throws {
        let s = Scratch()
        s.write("pch.h", "#include \"config.h\"\n")
        s.write("main.c", "/* leading comment */\n#include \"pch.h\"\nint v = VALUE;\n")
        s.write("config.h", "#define VALUE 1\n")
        // No .gch yet: a hit, then one appears (built from another VALUE) and must be used.
        try compareWithPlain(["-c", "main.c"], object: "main.o", in: s)
        try compareWithPlain(["-c", "main.c"], object: "main.o", in: s)
        s.write("config.h", "#define VALUE 7\n")
        try run(["gcc", "-x", "c-header", "-c", "pch.h", "-o", "pch.h.gch"], in: s)
        s.write("config.h", "#define VALUE 1\n")
        try compareWithPlain(["-c", "main.c"], object: "main.o", in: s)
        let data = try run(["objdump", "-s", "-j", ".data", "main.o"], in: s)
        #expect(data.stdout.contains("07000000"))
    }

    @Test func leadingIncludesStopAtTheFirstToken() {
        let text = Array("// c\n/* a\n b */ #include \"a.h\"\n#define X 1\n#include <b.h>\nint x;\n#include \"c.h\"\n".utf8)
        #expect(PrecompiledHeaderProbe.leadingIncludes(text).map(\.name) == ["a.h", "b.h"])
    }

    @Test func incbinDataIsNeverServedStale() throws {
        let s = Scratch()
        s.write("a.c", "__asm__(\".section .rodata\\n.incbin \\\"data.bin\\\"\\n.text\");\nint x;\n")
        s.write("b.s", ".section .rodata\n.incbin \"data.bin\"\n")
        s.write("c.S", "#define N 1\n.section .rodata\n.include \"more.s\"\n")
        s.write("more.s", ".byte 1\n")
        for (content, byte) in [("AAAA", "4"), ("BBBB", "5")] {
            s.write("data.bin", content)
            s.write("more.s", ".byte \(byte)\n")
            try compareWithPlain(["-c", "a.c"], object: "a.o", in: s)
            try compareWithPlain(["-c", "b.s"], object: "b.o", in: s)
            try compareWithPlain(["-c", "c.S"], object: "c.o", in: s)
        }
        let values = try stats(s)
        #expect(values["direct_cache_hit"] == 0)
        #expect(values["unsupported_code_directive"] == 6)
        // Found in the source before compiling, as ccache finds it: not a miss.
        #expect((values["cache_miss"] ?? 0) == 0, "\(values)")
    }

    @Test func assemblerListingsAreRestoredOrRefused() throws {
        let s = Scratch()
        s.write("t.c", "int f(int x) { return x ? 1 : 2; }\n")
        // A listing into a file is an output: restored by a hit under any name.
        try incrcc(["gcc", "-c", "t.c", "-Wa,-adhln=t.lst"], in: s)
        let listed = try #require(s.read("t.lst"))
        #expect(String(decoding: listed, as: UTF8.self).contains(".file"))
        let again = try incrcc(["gcc", "-c", "t.c", "-Wa,-adhln=other.lst"], in: s)
        #expect(again.status == 0)
        #expect(s.read("other.lst") == listed)
        try incrcc(["gcc", "-c", "t.c", "-Xassembler", "--MD", "-Xassembler", "t.dep"], in: s)
        try incrcc(["gcc", "-c", "t.c", "-Wa,-a=one.lst", "-Wa,-as=two.lst"], in: s)
        let values = try stats(s)
        #expect(values["unsupported_compiler_option"] == 2 && values["direct_cache_hit"] == 1, "\(values)")
        // A listing to stdout is replayed by a hit.
        let first = try incrcc(["gcc", "-c", "t.c", "-Wa,-adhln"], in: s)
        let second = try incrcc(["gcc", "-c", "t.c", "-Wa,-adhln"], in: s)
        #expect(!first.stdout.isEmpty && first.stdout == second.stdout)
    }

    @Test(arguments: ["test.x.y", "test", "sub/a.b.o"])
    func splitDwarfFollowsTheOutputName(output: String) throws {
        let s = Scratch()
        s.write("t.c", "int f(void) { return 1; }\n")
        try FileManager.default.createDirectory(atPath: s.file("sub"), withIntermediateDirectories: true)
        let dwo = Path.replacingExtension(output, with: "dwo")
        for _ in 0..<2 {
            try? FileManager.default.removeItem(atPath: s.file(dwo))
            let result = try incrcc(["gcc", "-g", "-gsplit-dwarf", "-c", "t.c", "-o", output], in: s)
            #expect(result.status == 0)
            #expect(s.exists(dwo), "\(dwo) missing after compiling to \(output)")
        }
        #expect(try stats(s)["direct_cache_hit"] == 1)
    }

    @Test func repeatedWrapperNameAndMissingCompiler() throws {
        let s = Scratch()
        s.write("t.c", "int f(void) { return 1; }\n")
        let twice = try incrcc(["incrcc", "gcc", "-c", "t.c"], in: s)
        #expect(twice.status == 0, "\(twice.stderr)")
        #expect(s.exists("t.o"))
        let missing = try incrcc(["nosuchcc", "-c", "t.c"], in: s)
        #expect(missing.status == 1, "exits as ccache does")
        #expect(missing.stderr.contains("nosuchcc"))
    }

    /// `__DATE__` without SOURCE_DATE_EPOCH is today's local date: a hit on the same date only (two zones
    /// 26 hours apart never share one); `__TIME__` is never served.
    @Test func dateIsServedOnTheSameDateOnly() throws {
        let s = Scratch()
        s.write("d.h", "#define BUILT __DATE__\n")
        s.write("d.c", "#include \"d.h\"\nconst char *built = BUILT;\n")
        for (zone, runs) in [("EAST-14", 2), ("WEST+12", 1)] {
            for _ in 0..<runs {
                let cached = try incrcc(["gcc", "-c", "d.c"], in: s, env: ["TZ": zone])
                #expect(cached.status == 0)
                let served = s.read("d.o")
                try run(["gcc", "-c", "d.c"], in: s, env: ["TZ": zone])
                #expect(served == s.read("d.o"), "\(zone)")
            }
        }
        s.write("t.c", "const char *t = __TIME__;\n")
        for _ in 0..<2 { try incrcc(["gcc", "-c", "t.c"], in: s) }
        let values = try stats(s)
        #expect(values["direct_cache_hit"] == 1 && values["cache_miss"] == 4, "\(values)")
    }

    /// gcc's `__TIMESTAMP__` is the file's modification time whatever SOURCE_DATE_EPOCH says: never served.
    @Test func timestampIsNeverServedStale() throws {
        let s = Scratch()
        s.write("ts.c", "const char *t = __TIMESTAMP__;\n")
        let epoch = ["SOURCE_DATE_EPOCH": "1"]
        for date in ["2001-01-01", "2002-02-02"] {
            try run(["touch", "-d", date, "ts.c"], in: s)
            let cached = try incrcc(["gcc", "-c", "ts.c"], in: s, env: epoch)
            #expect(cached.status == 0)
            let served = s.read("ts.o")
            try run(["gcc", "-c", "ts.c"], in: s, env: epoch)
            #expect(served == s.read("ts.o"))
        }
        #expect(try stats(s)["direct_cache_hit"] == 0)
    }

    /// `-fprofile-use` (and `-fbranch-probabilities`) is cached with its profile data as an input, wherever
    /// gcc's directory options put it: a new profile is a new key.
    @Test(arguments: [
        ([String](), ["-fprofile-use"], "t.o"),
        (["-fprofile-dir=pd"], ["-fprofile-use=pd"], "t.o"),
        (["-fprofile-dir=pd"], ["-fprofile-dir=pd", "-fprofile-use"], "t.o"),
        (["-fprofile-dir=pd"], ["-fprofile-use=elsewhere", "-fprofile-dir=pd"], "out/../t.o"),
        (["-fprofile-dir=pd"], ["-fprofile-use", "-fprofile-dir=pd"], "ABSOLUTE/t.o"),
        (["-fprofile-dir=pd", "-fprofile-prefix-path=ROOT"], ["-fprofile-use", "-fprofile-dir=pd", "-fprofile-prefix-path=ROOT"], "t.o"),
        ([String](), ["-fbranch-probabilities"], "t.o"),
    ]) func profileDataIsAnInput(generateOptions: [String], use: [String], output: String) throws {
        let s = Scratch()
        s.write("t.c", """
            int work(int n) { int s = 0; for (int i = 0; i < n; i++) { if (i % 3) s += i; else s -= 1; } return s; }
            int main(int argc, char **argv) { (void)argv; return work(argc * 1000) & 1; }
            """)
        for directory in ["pd", "out"] {
            try FileManager.default.createDirectory(atPath: s.file(directory), withIntermediateDirectories: true)
        }
        func placed(_ items: [String]) -> [String] {
            items.map { $0.replacingOccurrences(of: "ABSOLUTE", with: s.path).replacingOccurrences(of: "ROOT", with: s.path) }
        }
        let object = placed([output])[0]
        let generate = ["-fprofile-generate"] + placed(generateOptions)
        for runs in [["x"], ["x", "y", "z", "w", "v"]] {
            try run(["gcc", "-O2"] + generate + ["-c", "t.c", "-o", object], in: s)
            try run(["gcc"] + generate + [object, "-o", "prog"], in: s)
            for extra in runs { try run([s.file("prog")] + Array(repeating: extra, count: runs.count), in: s) }
            let arguments = ["-O2"] + placed(use) + ["-Wno-missing-profile", "-c", "t.c", "-o", object]
            try compareWithPlain(arguments, object: object, in: s)
            try compareWithPlain(arguments, object: object, in: s)
            for name in (try FileManager.default.subpathsOfDirectory(atPath: s.path)) where name.hasSuffix(".gcda") {
                try FileManager.default.removeItem(atPath: s.file(name))
            }
        }
        let values = try stats(s)
        #expect(values["direct_cache_hit"] == 2)
        #expect(values["cache_miss"] == 2)
    }

    /// Creating a gcc precompiled header is cached; objects built with the served one equal gcc's.
    @Test func precompiledHeaderCreationIsCached() throws {
        let s = Scratch()
        s.write("sub/pch.h", "#include <stdio.h>\n#define VALUE 5\n")
        s.write("main.c", "#include \"pch.h\"\nint v = VALUE;\n")
        for _ in 0..<2 {
            try? FileManager.default.removeItem(atPath: s.file("sub/pch.h.gch"))
            #expect(try incrcc(["gcc", "-c", "sub/pch.h"], in: s).status == 0)
            #expect(s.exists("sub/pch.h.gch"))
            try compareWithPlain(["-Isub", "-c", "main.c"], object: "main.o", in: s)
        }
        try incrcc(["gcc", "-x", "c-header", "-c", "sub/pch.h", "-o", "other.gch"], in: s)
        #expect(s.exists("other.gch"))
        let values = try stats(s)
        #expect(values["direct_cache_hit"] == 2)
        if Tools.hasClang {
            try incrcc(["clang", "-c", "sub/pch.h", "-o", "sub/pch.h.pch"], in: s)
            #expect(try stats(s)["could_not_use_precompiled_header"] == 1)
        }
    }

    /// A `.gch` the compile read is an input even when the build removes it the moment the call returns,
    /// before the entry is written: the header then edited and compiled without it is never served the
    /// object built from the old precompiled one.
    @Test func precompiledHeaderRemovedAtOnceStaysAnInput() throws {
        let s = Scratch()
        for round in 0..<4 {
            s.write("sub/pch.h", "#define VALUE \(round * 2)\n")
            s.write("main.c", "#include \"pch.h\"\nint v = VALUE + \(round * 0);\n")
            try run(["gcc", "-c", "sub/pch.h"], in: s)
            #expect(try incrcc(["gcc", "-Isub", "-c", "main.c"], in: s).status == 0)
            try FileManager.default.removeItem(atPath: s.file("sub/pch.h.gch"))
            _ = try stats(s)  // waits for the entry
            s.write("sub/pch.h", "#define VALUE \(round * 2 + 1)\n")
            try compareWithPlain(["-Isub", "-c", "main.c"], object: "main.o", in: s)
        }
        #expect(try stats(s)["direct_cache_hit"] == 0)
    }

    /// A header created the moment the call returns, ahead of the one the compiler read in the search, is
    /// not taken for one the compile saw and passed over: the next call compiles with it.
    @Test func shadowingHeaderCreatedAtOnceIsNotIgnored() throws {
        let s = Scratch()
        for round in 0..<4 {
            try? FileManager.default.removeItem(atPath: s.file("first/x.h"))
            s.write("second/x.h", "#define VALUE \(round * 2)\n")
            s.write("first/.keep", "")
            s.write("main.c", "#include <x.h>\nint v = VALUE + \(round * 0);\n")
            #expect(try incrcc(["gcc", "-Ifirst", "-Isecond", "-c", "main.c"], in: s).status == 0)
            s.write("first/x.h", "#define VALUE \(round * 2 + 1)\n")
            _ = try stats(s)  // waits for the entry
            try compareWithPlain(["-Ifirst", "-Isecond", "-c", "main.c"], object: "main.o", in: s)
        }
        #expect(try stats(s)["direct_cache_hit"] == 0)
    }

    /// A source saved while the compiler runs (an editor during a build) is compiled in its new text; that
    /// object is not stored under the old text's key, so going back to the old text gets the old object.
    /// The edit is made by a prefix program, between incrcc reading the source and gcc starting.
    @Test func sourceEditedWhileCompilingIsNotStoredUnderItsOldText() throws {
        let s = Scratch()
        s.write("edit-once.sh", """
            #!/bin/sh
            if [ ! -e "\(s.file("edited"))" ]; then touch "\(s.file("edited"))"; echo 'int v = 2;' > "\(s.file("t.c"))"; fi
            exec "$@"

            """)
        try run(["chmod", "+x", "edit-once.sh"], in: s)
        let env = ["INCRCC_PREFIX": s.file("edit-once.sh")]
        s.write("t.c", "int v = 1;\n")
        #expect(try incrcc(["gcc", "-c", "t.c", "-o", "first.o"], in: s, env: env).status == 0)
        #expect(s.exists("edited"))
        s.write("t.c", "int v = 1;\n")
        for _ in 0..<2 {
            #expect(try incrcc(["gcc", "-c", "t.c", "-o", "t.o"], in: s, env: env).status == 0)
            try run(["gcc", "-c", "t.c", "-o", "plain.o"], in: s)
            #expect(s.read("t.o") == s.read("plain.o"))
        }
        let values = try stats(s)
        #expect(values["direct_cache_hit"] == 1)
        #expect(values["modified_input_file"] == 1)
    }

    /// Large objects are stored uncompressed and copied from the entry by the kernel; a damaged one is
    /// never served.
    @Test func largeObjectsAreStreamedAndChecked() throws {
        let s = Scratch()
        s.write("big.c", "#include <stdio.h>\nconst char big[3000000] = \"payload\";\nint f(void) { return big[5]; }\n")
        let arguments = ["-MD", "-c", "big.c"]
        try compareWithPlain(arguments, object: "big.o", in: s)
        try compareWithPlain(arguments, object: "big.o", in: s)
        #expect(try stats(s)["direct_cache_hit"] == 1)
        let results = (FileManager.default.enumerator(atPath: s.file("cache"))?.allObjects as? [String] ?? [])
            .filter { $0.hasSuffix(".R") }
        func size(_ path: String) -> Int {
            var status = stat()
            return stat(path, &status) == 0 ? Int(status.st_size) : 0
        }
        let result = try #require(results.map { s.file("cache/" + $0) }.max { size($0) < size($1) })
        var bytes = Array(try #require(FileManager.default.contents(atPath: result)))
        #expect(bytes.count > 3_000_000, "stored uncompressed")
        bytes[bytes.count / 2] ^= 0x55
        try Data(bytes).write(to: URL(fileURLWithPath: result))
        try compareWithPlain(arguments, object: "big.o", in: s)
        let values = try stats(s)
        #expect(values["direct_cache_hit"] == 1)
        #expect(values["corrupt_entry_removed"] == 1)
    }

    /// A large result whose dependency file is large too: the dependency file is still written for this
    /// call's target and laid out as gcc lays it out.
    @Test func largeResultsWithLargeDependencyFiles() throws {
        let s = Scratch()
        var includes = ""
        for index in 0..<1400 {
            let name = "a_rather_long_header_name_to_make_the_dependency_file_large_\(index).h"
            s.write("inc/" + name, "#define H\(index) \(index)\n")
            includes += "#include \"\(name)\"\n"
        }
        s.write("big.c", includes + "const char big[2000000] = \"payload\";\n")
        for output in ["big.o", "a_much_longer_object_name.o"] {
            let arguments = ["-Iinc", "-MD", "-c", "big.c", "-o", output]
            let cached = try incrcc(["gcc"] + arguments, in: s)
            #expect(cached.status == 0)
            let dependency = Path.replacingExtension(output, with: "d")
            let served = (s.read(output), s.read(dependency))
            #expect((served.1?.count ?? 0) > 64 << 10)
            try run(["gcc"] + arguments, in: s)
            #expect(served.0 == s.read(output))
            #expect(served.1 == s.read(dependency), "dependency file for \(output)")
        }
        #expect(try stats(s)["direct_cache_hit"] == 1)
    }
}

import Foundation
import Testing
@testable import IncrccCore

/// Macros and include directories that reach no file: each rule checked against the real compilers, the
/// served object compared byte for byte with a plain compile of the same call.
@Suite struct UnreachedOptionsTests {
    static var compilers: [String] { Tools.hasClang ? ["gcc", "clang"] : ["gcc"] }

    /// A release bump of a `-D` only one file uses: one miss, for that file.
    @Test(arguments: compilers) func versionBumpRecompilesOnlyItsUser(_ compiler: String) throws {
        let s = Scratch()
        for index in 1...5 {
            s.write("f\(index).c", "#include <stdio.h>\n#include \"common.h\"\nint f\(index)(void) { return printf(\"%d\", COMMON + \(index)); }\n")
        }
        s.write("common.h", "#define COMMON 7\n")
        s.write("v.c", "#include <stdio.h>\nconst char *version = VER;\n")
        let files = ["f1", "f2", "f3", "f4", "f5", "v"]
        for version in ["1.0", "1.1"] {
            for file in files {
                try compareWithPlain(compiler, ["-O2", "-g", "-DVER=\"\(version)\"", "-c", "\(file).c", "-o", "\(file).o"],
                                     object: "\(file).o", in: s)
            }
            try awaitStores(s)
        }
        var values = try stats(s)
        #expect(values["cache_miss"] == 7)
        #expect(values["direct_cache_hit"] == 5)
        #expect(values["direct_cache_hit_options_unreached"] == 5)
        // The next build with the new version is a plain direct hit everywhere.
        for file in files {
            try compareWithPlain(compiler, ["-O2", "-g", "-DVER=\"1.1\"", "-c", "\(file).c", "-o", "\(file).o"],
                                 object: "\(file).o", in: s)
        }
        values = try stats(s)
        #expect(values["direct_cache_hit"] == 11)
        #expect(values["direct_cache_hit_options_unreached"] == 5)
    }

    /// An unused macro, an empty include directory, `CPATH` of a directory whose headers are not included,
    /// a directory gone from the search: hits with the plain compile's object.
    @Test(arguments: compilers) func optionsThatReachNoFileHit(_ compiler: String) throws {
        let s = Scratch()
        s.write("inc/config.h", "#define LIMIT 3\n")
        s.write("empty/.keep", "")
        s.write("other/unused.h", "#define UNUSED 1\n")
        s.write("main.c", "#include <stdlib.h>\n#include \"config.h\"\nint limit(void) { return LIMIT + abs(-2); }\n")
        let base = ["-O1", "-Iinc", "-c", "main.c", "-o", "main.o"]
        try compareWithPlain(compiler, base, object: "main.o", in: s)
        try awaitStores(s)
        try compareWithPlain(compiler, ["-DNOT_USED_ANYWHERE=5"] + base, object: "main.o", in: s)
        try compareWithPlain(compiler, ["-Iempty"] + base, object: "main.o", in: s)
        try compareWithPlain(compiler, base + ["-isystem", "other"], object: "main.o", in: s)
        try compareWithPlain(compiler, base, object: "main.o", in: s, env: ["CPATH": s.file("other")])
        try compareWithPlain(compiler, ["-UNOT_DEFINED", "-Inowhere"] + base, object: "main.o", in: s)
        let values = try stats(s)
        #expect(values["cache_miss"] == 1)
        #expect(values["direct_cache_hit_options_unreached"] == 5)
    }

    /// A macro used only in a header's `#ifdef`, only in code, only through token pasting or
    /// a line join, a directory that now holds an included name, and `-g3` (gcc writes the
    /// macros into the object): each a miss with the right object.
    @Test(arguments: compilers) func optionsThatReachAFileMiss(_ compiler: String) throws {
        let s = Scratch()
        s.write("h.h", "#ifdef FEATURE\nstatic const int feature = 1;\n#else\nstatic const int feature = 0;\n#endif\n")
        s.write("ifdef.c", "#include \"h.h\"\nint get(void) { return feature; }\n")
        s.write("code.c", "int get(void) { return LEVEL; }\n")
        s.write("paste.c", "#define CAT(a, b) a##b\nconst char *v = CAT(VE, R);\n")
        s.write("spliced.c", "const char *v = VE\\\nR;\n")
        s.write("config.h", "#define CONFIGURED 1\n")
        s.write("dir.c", "#include <config.h>\nint c = CONFIGURED;\n")
        s.write("shadow/.keep", "")
        let cases: [(file: String, before: [String], after: [String])] = [
            ("ifdef", [], ["-DFEATURE"]),
            ("code", ["-DLEVEL=1"], ["-DLEVEL=2"]),
            ("paste", ["-DVER=\"1\""], ["-DVER=\"2\""]),
            ("spliced", ["-DVER=\"1\""], ["-DVER=\"2\""]),
            ("dir", ["-I."], ["-Ishadow", "-I."]),
        ]
        for item in cases {
            try compareWithPlain(compiler, item.before + ["-c", "\(item.file).c", "-o", "\(item.file).o"],
                                 object: "\(item.file).o", in: s)
        }
        try awaitStores(s)
        s.write("shadow/config.h", "#define CONFIGURED 2\n")
        for item in cases {
            try compareWithPlain(compiler, item.after + ["-c", "\(item.file).c", "-o", "\(item.file).o"],
                                 object: "\(item.file).o", in: s)
        }
        var values = try stats(s)
        #expect(values["cache_miss"] == 2 * cases.count)
        #expect(values["direct_cache_hit"] == 0)
        if compiler == "gcc" {
            s.write("plain.c", "int plain(void) { return 4; }\n")
            for version in ["1", "2"] {
                try compareWithPlain(compiler, ["-g3", "-DVER=\(version)", "-c", "plain.c", "-o", "plain.o"],
                                     object: "plain.o", in: s)
                try awaitStores(s)
            }
            values = try stats(s)
            #expect(values["direct_cache_hit"] == 0)
        }
    }

    /// `explain` names the flag that differs and the file that reads it, the header that changed, and a
    /// header that appeared in a directory new to the search.
    @Test func explainNamesWhatDiffers() throws {
        let s = Scratch()
        s.write("inc/h.h", "#define H 1\n")
        s.write("v.c", "#include \"h.h\"\nconst char *v = VER; int h = H;\n")
        s.write("w.c", "#include \"h.h\"\nint w = H;\n")
        s.write("new/.keep", "")
        for file in ["v", "w"] { try incrcc(["gcc", "-Iinc", "-DVER=\"1\"", "-c", "\(file).c"], in: s) }
        try awaitStores(s)
        let bumped = try incrcc(["explain", "gcc", "-Iinc", "-DVER=\"2\"", "-c", "v.c"], in: s).stdout
        #expect(bumped.contains("-DVER=\"2\" (was -DVER=\"1\")"), "\(bumped)")
        #expect(bumped.contains("VER is used by v.c"), "\(bumped)")
        let unused = try incrcc(["explain", "gcc", "-Iinc", "-DVER=\"2\"", "-c", "w.c"], in: s).stdout
        #expect(unused.contains("which no file reads: the call would hit"), "\(unused)")
        s.write("new/h.h", "#define H 2\n")
        let shadowed = try incrcc(["explain", "gcc", "-Inew", "-Iinc", "-DVER=\"1\"", "-c", "w.c"], in: s).stdout
        #expect(shadowed.contains("new/h.h exists and could be included"), "\(shadowed)")
        s.write("inc/h.h", "#define H 3\n")
        let changed = try incrcc(["explain", "--format", "json", "gcc", "-Iinc", "-DVER=\"2\"", "-c", "w.c"], in: s).stdout
        let object = try #require(try JSONSerialization.jsonObject(with: Data(changed.utf8)) as? [String: Any])
        #expect(object["verdict"] as? String == "compile")
        let reasons = try #require(object["reasons"] as? [String])
        #expect(reasons.contains { $0.contains("inc/h.h changed") }, "\(reasons)")
        #expect(try incrcc(["explain", "--format", "yaml", "gcc", "-c", "w.c"], in: s).status == 2)
    }

    // MARK: the rules one by one

    @Test func optionsAreTakenApart() {
        let options = PreprocessorOptions(
            arguments: ["-O2", "-DA=1", "-D", "B", "-UC", "-Iinc", "-isystem", "sys", "-iquote", "q", "-c"],
            environment: [Environment.Variable(name: "CPATH", value: "one::two"),
                          Environment.Variable(name: "LANG", value: "C")],
            language: .c, normalize: { $0 })
        #expect(options.remaining == ["-O2", "-c"])
        #expect(options.macros.map(\.name) == ["A", "B", "C"])
        #expect(options.macros.map(\.isDefinition) == [true, true, false])
        #expect(options.macros[1].body == "1")
        #expect(options.directories.map(\.path) == ["inc", "sys", "q", "one", ".", "two"])
        #expect(options.blocker == nil)
        for blocking in [["-g3"], ["-grecord-command-line"], ["-Wp,-DX"], ["-I-"], ["-frecord-gcc-switches"], ["-I=sys"]] {
            let blocked = PreprocessorOptions(arguments: blocking, environment: [], language: .c, normalize: { $0 })
            #expect(blocked.blocker != nil, "\(blocking)")
        }
        #expect(PreprocessorOptions(arguments: [], environment: [], language: .cHeader, normalize: { $0 }).blocker != nil)
    }

    func options(_ arguments: [String]) -> PreprocessorOptions {
        PreprocessorOptions(arguments: arguments, environment: [], language: .c, normalize: { $0 })
    }

    @Test func differencesAreJudgedOnTheirFace() throws {
        let plain = try OptionDifference.between(stored: options(["-DV=1", "-Ia"]), current: options(["-DV=2", "-Ia", "-Ib"])).get()
        #expect(plain.macroNames == ["V"])
        #expect(plain.directories == ["b"])
        for refused in [["-D_V=2"], ["-Dlinux2(x)=x"], ["-DV=\"open"], ["-DV=/*"], ["-DV=a##b"], ["-Dand=1"],
                        ["-D1V=2"], ["-DV=1", "-DV=2"], ["-DV=a\\"]] {
            if case .success = OptionDifference.between(stored: options([]), current: options(refused)) {
                Issue.record("\(refused) should be refused")
            }
        }
        // Directories that stay must keep their order and lists.
        if case .success = OptionDifference.between(stored: options(["-Ia", "-Ib"]), current: options(["-Ib", "-Ia"])) {
            Issue.record("a reordered search should be refused")
        }
        let moved = try OptionDifference.between(stored: options(["-Ia"]), current: options(["-isystem", "a"])).get()
        #expect(moved.directories == ["a"])
    }

    @Test func mentionsCoverJoinsStringsAndPastes() {
        var ids = MentionedIdentifiers()
        let text = "int x = VE\\\nRSION; /* COMMENTED */ _Pragma(\"push_macro(\\\"PM\\\")\")\n#define CAT(a,b) a##b\nCAT(PRE, FIX)\n"
            + "const char *s = \"/* INSTRING */\"; int n = 1'000; char c = '\"'; // LINE \\\nJOINED\nint AFTER;\n"
        ids.add(Array(text.utf8), origin: "t.c")
        for name in ["VERSION", "PM", "PREFIX", "INSTRING", "AFTER"] { #expect(ids.mentions(name), "\(name)") }
        for name in ["COMMENTED", "LINE", "JOINED"] { #expect(!ids.contains(name), "\(name)") }
        // A raw string could hide a comment opener: comments count there.
        var raw = MentionedIdentifiers()
        raw.add(Array("auto s = R\"x(\" /* )x\"; int REAL; /* HIDDEN */".utf8), origin: "r.cc")
        #expect(raw.contains("REAL") && raw.contains("HIDDEN"))
        #expect(ids.contains("VERSION"))
        #expect(!ids.contains("PREFIX"))
        #expect(!ids.mentions("UNRELATED"))
        var universal = MentionedIdentifiers()
        universal.add(Array("int \\u0041B;".utf8), origin: "u.c")
        #expect(universal.unreadable != nil)
        #expect(universal.mentions("ANYTHING"))
    }

    @Test func looseManifestsRoundTripAndRefuseDamage() throws {
        var manifest = LooseManifest()
        let file = RecordedFile(path: "inc/h.h", digest: Digest(high: 1, low: 2),
                                status: FileStatus(device: 1, inode: 2, size: 3, modifiedNanoseconds: 4,
                                                   changedNanoseconds: 5, mode: 0), statTrusted: true)
        manifest.add(LooseManifest.Entry(options: options(["-DV=1", "-Iinc"]), spellings: ["h.h", "stdio.h"],
                                         spellingsComplete: true,
                                         entry: ManifestEntry(files: [file], absentPaths: ["x/h.h"], result: Digest(high: 9, low: 9))))
        let bytes = manifest.encode()
        #expect(try LooseManifest.decode(bytes) == manifest)
        #expect(throws: MalformedEntry.self) { try LooseManifest.decode(Array(bytes.dropLast())) }
        #expect(throws: MalformedEntry.self) { try LooseManifest.decode(bytes + [0]) }
        var huge = bytes
        huge[1] = 0xff
        #expect(throws: MalformedEntry.self) { try LooseManifest.decode(huge) }
        #expect(throws: MalformedEntry.self) { try Manifest.decode(bytes) }
    }
}

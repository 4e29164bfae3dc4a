import Foundation
import Testing
@testable import IncrccCore

/// What builds that use ccache today rely on: Kbuild's `-Wp,-MMD`, `/dev/null` outputs, one entry for
/// coloured and plain diagnostics, ccache's settings under its names, and counters under its keys.
@Suite(.enabled(if: Tools.required(Tools.hasIncrcc && Tools.hasGCC)))
struct DropInTests {
    /// `-include /dev/null` (build systems' empty forced include) is cached like any compile.
    @Test func forcedIncludeOfDevNullIsCached() throws {
        let s = Scratch()
        s.write("n.c", "int n(void) { return 1; }\n")
        for _ in 0..<2 { try compareWithPlain("gcc", ["-include", "/dev/null", "-c", "n.c", "-o", "n.o"], object: "n.o", in: s) }
        let values = try stats(s)
        #expect(values["direct_cache_hit"] == 1 && values["internal_error"] == 0, "\(values)")
    }

    @Test(arguments: ["gcc", "clang"]) func kbuildDependencyFilesAreCached(compiler: String) throws {
        guard Tools.required(Tools.which(compiler) != nil) else { return }
        let s = Scratch()
        s.write("w.c", "#include <stdio.h>\nint f(void) { return X; }\n")
        try FileManager.default.createDirectory(atPath: s.file("out"), withIntermediateDirectories: true)
        let arguments = [compiler, "-Wp,-MMD,out/.w.o.d", "-Wp,-DX=1", "-c", "w.c", "-o", "out/w.o"]
        for _ in 0..<2 {
            let cached = try incrcc(arguments, in: s)
            #expect(cached.status == 0)
            let served = (s.read("out/.w.o.d"), s.read("out/w.o"))
            try run(arguments, in: s)
            #expect(served.0 == s.read("out/.w.o.d"))
            #expect(served.1 == s.read("out/w.o"))
        }
        let values = try stats(s)
        #expect(values["direct_cache_hit"] == 1)
        #expect(values["unsupported_compiler_option"] == 0)
        // Arguments -Wp cannot be taken apart safely still run uncached.
        try incrcc([compiler, "-Wp,-MD,a.d,-MT,x", "-c", "w.c", "-o", "out/w.o", "-DX=2"], in: s)
        #expect(try stats(s)["unsupported_compiler_option"] == 1)
    }

    @Test func devNullOutputsAndSyntaxChecksAreCached() throws {
        let s = Scratch()
        s.write("w.c", "int f(int x) { int unused; return x; }\n")
        let calls: [[String]] = [
            ["gcc", "-c", "w.c", "-o", "/dev/null"],
            ["gcc", "-Wall", "-fsyntax-only", "w.c"],
            ["gcc", "-x", "c", "-c", "/dev/null", "-o", "null.o"],
            ["gcc", "-MD", "-MF", "/dev/null", "-c", "w.c", "-o", "w.o"],
        ]
        for call in calls {
            let first = try incrcc(call, in: s, env: ["INCRCC_LOGFILE": s.file("log")])
            let before = try stats(s)["direct_cache_hit"] ?? 0
            let second = try incrcc(call, in: s, env: ["INCRCC_LOGFILE": s.file("log")])
            let plain = try run(call, in: s)
            #expect(first.status == 0 && second.status == 0)
            #expect(second.stderr == plain.stderr)
            #expect(try stats(s)["direct_cache_hit"] == before + 1, "no hit for \(call): \(s.text("log"))")
        }
        var status = stat()
        #expect(stat("/dev/null", &status) == 0 && status.st_mode & S_IFMT == S_IFCHR)
        #expect(try stats(s)["direct_cache_hit"] == calls.count)
        #expect(!s.exists("w.d"))
    }

    /// One entry serves a terminal (coloured) and a log (plain, as gcc writes it).
    @Test(.enabled(if: Tools.required(Tools.which("script") != nil))) func oneEntryForColouredAndPlainDiagnostics() throws {
        let s = Scratch()
        s.write("w.c", "int f(int x) { int unused; if (x = 1) return 2; }\n")
        let command = "\(Tools.incrcc) gcc -Wall -c w.c 2>&1"
        let terminal = try run(["script", "-qec", command, "/dev/null"], in: s, env: ["TERM": "xterm"])
        #expect(terminal.stdout.contains("\u{1b}["))
        let log = try incrcc(["gcc", "-Wall", "-c", "w.c"], in: s, env: ["TERM": "xterm"])
        let plain = try run(["gcc", "-Wall", "-c", "w.c"], in: s)
        #expect(log.stderr == plain.stderr)
        #expect(!log.stderr.contains("\u{1b}"))
        #expect(try stats(s)["direct_cache_hit"] == 1)
    }

    @Test func sourcesMayOptOutAndDisableTouchesNothing() throws {
        let s = Scratch()
        s.write("t.c", "// incrcc:disable\nint f(void) { return 1; }\n")
        try incrcc(["gcc", "-c", "t.c"], in: s)
        try incrcc(["gcc", "-c", "t.c"], in: s)
        #expect(try stats(s)["direct_cache_hit"] == 0)
        let other = Scratch()
        other.write("t.c", "int f(void) { return 1; }\n")
        let result = try incrcc(["gcc", "-c", "t.c"], in: other, env: ["INCRCC_DISABLE": "1"])
        #expect(result.status == 0 && other.exists("t.o"))
        #expect(!other.exists("cache"))
    }

    @Test func statsOffCountsNothing() throws {
        let s = Scratch()
        s.write("t.c", "int f(void) { return 1; }\n")
        for _ in 0..<2 { try incrcc(["gcc", "-c", "t.c"], in: s, env: ["INCRCC_NOSTATS": "1"]) }
        let values = try stats(s)
        #expect(values["direct_cache_hit"] == 0 && values["cache_miss"] == 0)
        #expect((values["files_in_cache"] ?? 0) > 0)
    }

    /// ccache's presence booleans: set at all they mean true, their `NO` form false, and a value that reads
    /// as "no" is refused with a message, compile and command alike, as ccache refuses it.
    @Test func doubtfulBooleanValuesAreRefused() throws {
        let s = Scratch()
        s.write("t.c", "int f(void) { return 1; }\n")
        for value in ["0", "false", "NO", "disable"] {
            let compile = try incrcc(["gcc", "-c", "t.c"], in: s, env: ["INCRCC_DISABLE": value])
            #expect(compile.status == 1 && compile.stderr.contains("INCRCC_DISABLE") && compile.stderr.contains("INCRCC_NODISABLE"),
                    "\(compile.stderr)")
            #expect(try incrcc(["-s"], in: s, env: ["INCRCC_NORECACHE": value]).status == 1)
        }
        #expect(!s.exists("t.o"))
        #expect(try incrcc(["gcc", "-c", "t.c"], in: s, env: ["INCRCC_DISABLE": "yes"]).status == 0)
        #expect(try incrcc(["gcc", "-c", "t.c"], in: s, env: ["INCRCC_NODISABLE": "1"]).status == 0)
        #expect(try incrcc(["gcc", "-c", "t.c"], in: s, env: ["INCRCC_NODISABLE": "1"]).status == 0)
        let values = try stats(s)
        #expect(values["direct_cache_hit"] == 1 && values["cache_miss"] == 1, "\(values)")
        // incrcc's own booleans take true and false.
        #expect(try incrcc(["gcc", "-c", "t.c"], in: s, env: ["INCRCC_BACKGROUND_STORE": "false"]).status == 0)
    }

    /// `ignore_headers_in_manifest`: an ignored header (by name or by directory) is not recorded, so its edit
    /// is not seen, as ccache trades it; any other header still is.
    @Test(arguments: ["gen/stamp.h", "gen"]) func ignoredHeadersAreNotRecorded(ignored: String) throws {
        let s = Scratch()
        s.write("gen/stamp.h", "/* build 1 */\n")
        s.write("inc/real.h", "#define R 1\n")
        s.write("t.c", "#include \"gen/stamp.h\"\n#include \"inc/real.h\"\nint r = R;\n")
        // Stored before each call returns: what is checked is the recording, not the wait for a writer.
        let env = ["INCRCC_IGNOREHEADERS": ignored, "INCRCC_BACKGROUND_STORE": "false"]
        try incrcc(["gcc", "-c", "t.c"], in: s, env: env)
        s.write("gen/stamp.h", "/* build 2 */\n")
        try incrcc(["gcc", "-c", "t.c"], in: s, env: env)
        #expect(try stats(s)["direct_cache_hit"] == 1)
        for manifest in cacheEntries(s) where manifest.hasSuffix(".M") {
            let shown = try incrcc(["--inspect", s.file("cache/" + manifest)], in: s).stdout
            #expect(!shown.contains("stamp.h") && shown.contains("inc/real.h"), "\(shown)")
        }
        s.write("inc/real.h", "#define R 2\n")
        try compareWithPlain("gcc", ["-c", "t.c", "-o", "t.o"], object: "t.o", in: s, env: env)
        #expect(try stats(s)["cache_miss"] == 2)
    }

    @Test func extraFilesAndIgnoredOptionsShapeTheKey() throws {
        let s = Scratch()
        s.write("t.c", "int f(void) { return 1; }\n")
        s.write("extra.txt", "one")
        let extra = ["INCRCC_EXTRAFILES": s.file("extra.txt")]
        try incrcc(["gcc", "-c", "t.c"], in: s, env: extra)
        try incrcc(["gcc", "-c", "t.c"], in: s, env: extra)
        s.write("extra.txt", "two")
        try incrcc(["gcc", "-c", "t.c"], in: s, env: extra)
        #expect(try stats(s)["direct_cache_hit"] == 1)
        let ignore = ["INCRCC_IGNOREOPTIONS": "-Wno-unused* -fmessage-length=0"]
        try incrcc(["gcc", "-Wno-unused-variable", "-c", "t.c"], in: s, env: ignore)
        try incrcc(["gcc", "-Wno-unused-parameter", "-fmessage-length=0", "-c", "t.c"], in: s, env: ignore)
        #expect(try stats(s)["direct_cache_hit"] == 2)
    }

    @Test func compilerCheckModes() throws {
        let s = Scratch()
        s.write("t.c", "int f(void) { return 1; }\n")
        for mode in ["mtime", "none", "string:v1", "%compiler% -dumpversion"] {
            let env = ["INCRCC_COMPILERCHECK": mode]
            try incrcc(["gcc", "-c", "t.c"], in: s, env: env)
            let hit = try incrcc(["gcc", "-c", "t.c"], in: s, env: env)
            #expect(hit.status == 0)
        }
        #expect(try stats(s)["direct_cache_hit"] == 4)
        let failing = try incrcc(["gcc", "-c", "t.c"], in: s, env: ["INCRCC_COMPILERCHECK": "false"])
        #expect(failing.status == 0 && s.exists("t.o"))
        let bad = try incrcc(["gcc", "-c", "t.c"], in: s, env: ["INCRCC_SLOPPINESS": "time_macros,nonsense"])
        #expect(bad.stderr.contains("nonsense"))
        #expect(bad.status == 0)
    }

    @Test func timeMacrosSloppinessCachesTimeMacros() throws {
        let s = Scratch()
        s.write("t.c", "const char *d = __DATE__;\n")
        let sloppy = ["INCRCC_SLOPPINESS": "time_macros"]
        try incrcc(["gcc", "-c", "t.c"], in: s, env: sloppy)
        try incrcc(["gcc", "-c", "t.c"], in: s, env: sloppy)
        #expect(try stats(s)["direct_cache_hit"] == 1)
    }

    /// `umask` applies to what incrcc creates in the cache; the outputs keep the caller's mask.
    @Test func umaskAppliesToTheCacheOnly() throws {
        let s = Scratch()
        s.write("t.c", "int f(void) { return 1; }\n")
        s.writeExecutable("cc.sh", "#!/bin/sh\numask 077\nexec \"$@\"\n")
        let env = ["INCRCC_UMASK": "002", "INCRCC_BACKGROUND_STORE": "false"]
        for _ in 0..<2 {
            try? FileManager.default.removeItem(atPath: s.file("t.o"))
            try run([s.file("cc.sh"), Tools.incrcc, "gcc", "-c", "t.c"], in: s, env: env)
            let mode = try #require(FileManager.default.attributesOfItem(atPath: s.file("t.o"))[.posixPermissions] as? Int)
            #expect(mode & 0o077 == 0, "output mode \(String(mode, radix: 8))")
        }
        let stats = try #require(FileManager.default.enumerator(atPath: s.file("cache"))?.allObjects as? [String])
        let entry = try #require(stats.first { $0.hasSuffix(".R") })
        let mode = try #require(FileManager.default.attributesOfItem(atPath: s.file("cache/" + entry))[.posixPermissions] as? Int)
        #expect(mode & 0o020 != 0, "entry mode \(String(mode, radix: 8))")
    }

    @Test func ccacheCountersAndSampledHits() throws {
        let s = Scratch()
        s.write("t.c", "int f(void) { return 1; }\n")
        try incrcc(["gcc", "-c", "t.c"], in: s)
        for _ in 0..<3 { try incrcc(["gcc", "-c", "t.c"], in: s, env: ["INCRCC_VERIFY_RATE": "1"]) }
        let values = try stats(s)
        #expect(values["direct_cache_hit"] == 3)
        // One verifier at a time: a sample that finds one at work is skipped.
        #expect((1...3).contains(values["verify_sampled"] ?? 0))
        #expect(values["cache_miss"] == 1)
        #expect(values["local_storage_hit"] == 3)
        #expect(values["local_storage_miss"] == 1)
        #expect(values["direct_cache_miss"] == 1)
    }

    /// A new SOURCE_DATE_EPOCH misses only where `__DATE__`/`__TIME__` is used.
    @Test func epochIsKeyedOnlyWhereATimeMacroIsUsed() throws {
        let s = Scratch()
        s.write("d.c", "const char *d = __DATE__;\n")
        s.write("p.c", "int plain;\n")
        for epoch in ["86400", "86400", "31536000", "86400"] {
            for source in ["d.c", "p.c"] {
                let object = Path.replacingExtension(source, with: "o")
                let cached = try incrcc(["gcc", "-c", source], in: s, env: ["SOURCE_DATE_EPOCH": epoch])
                #expect(cached.status == 0)
                let served = s.read(object)
                try run(["gcc", "-c", source], in: s, env: ["SOURCE_DATE_EPOCH": epoch])
                #expect(served == s.read(object), "\(source) at \(epoch)")
            }
        }
        let values = try stats(s)
        #expect(values["cache_miss"] == 3)
        #expect(values["direct_cache_hit"] == 5)
    }

    /// base_dir as ccache users set it: the working directory reached through a symlink (`$PWD`), `/`, and
    /// a list of directories all share results between checkouts.
    @Test(arguments: ["", "/", "/nonexistent:"]) func baseDirectoryAsCcacheUsersSetIt(base: String) throws {
        let s = Scratch()
        for checkout in ["real/one", "real/second-checkout"] {
            s.write(checkout + "/inc/h.h", "#define V 3\n")
            s.write(checkout + "/a.c", "#include \"h.h\"\nint v = V;\n")
        }
        try FileManager.default.createSymbolicLink(atPath: s.file("link"), withDestinationPath: s.file("real"))
        let directory = base.hasSuffix(":") ? base + s.path : base.isEmpty ? s.path : base
        for checkout in ["link/one", "real/second-checkout"] {
            let pwd = s.file(checkout)
            let arguments = ["gcc", "-c", pwd + "/a.c", "-I" + pwd + "/inc", "-o", "a.o"]
            let cached = try incrcc(arguments, in: s, cwd: pwd, env: ["PWD": pwd, "INCRCC_BASEDIR": directory])
            #expect(cached.status == 0, "\(cached.stderr)")
            let served = s.read(checkout + "/a.o")
            try run(arguments, in: s, cwd: pwd, env: ["PWD": pwd])
            #expect(served == s.read(checkout + "/a.o"))
        }
        #expect(try stats(s)["direct_cache_hit"] == 1)
    }

    /// `prefix_command`: misses run through the prefix (as distcc or icecc would), hits never touch it, and
    /// the key is the compiler's, not the prefix's.
    @Test func prefixCommandRunsMissesOnly() throws {
        let s = Scratch()
        s.write("t.c", "int f(void) { return 1; }\n")
        s.writeExecutable("bin/pre", "#!/bin/sh\necho \"$@\" >> \(s.file("prefix.log"))\nexec \"$@\"\n")
        let env = ["INCRCC_PREFIX": "pre", "PATH": s.file("bin") + ":" + (ProcessInfo.processInfo.environment["PATH"] ?? "")]
        for _ in 0..<2 { #expect(try incrcc(["gcc", "-c", "t.c"], in: s, env: env).status == 0) }
        #expect(s.text("prefix.log").split(separator: "\n").count == 1)
        #expect(s.text("prefix.log").contains("gcc"))
        #expect(try incrcc(["gcc", "-c", "t.c"], in: s).status == 0)
        #expect(try stats(s)["direct_cache_hit"] == 2)
        let missing = try incrcc(["gcc", "-c", "t.c"], in: s, env: ["INCRCC_PREFIX": "no-such-prefix"])
        #expect(missing.status == 1, "as ccache exits when a program it needs is missing")
    }

    /// Every sloppiness word ccache knows is accepted; `gcno_cwd` shares `-ftest-coverage` results between
    /// directories, which are otherwise keyed apart.
    @Test func ccacheSloppinessWordsAndGcnoCwd() throws {
        let s = Scratch()
        for directory in ["one", "two", "three"] { s.write(directory + "/t.c", "int f(void) { return 1; }\n") }
        let words = "time_macros,locale,include_file_mtime,include_file_ctime,pch_defines,file_stat_matches,"
            + "file_stat_matches_ctime,system_headers,clang_index_store,ivfsoverlay,modules,random_seed,incbin,gcno_cwd"
        let sloppy = ["INCRCC_SLOPPINESS": words]
        for directory in ["one", "two"] {
            let result = try incrcc(["gcc", "-ftest-coverage", "-c", "t.c"], in: s, cwd: s.file(directory), env: sloppy)
            #expect(result.status == 0 && result.stderr.isEmpty, "\(result.stderr)")
            #expect(s.exists(directory + "/t.gcno"))
        }
        #expect(try stats(s)["direct_cache_hit"] == 1)
        try incrcc(["gcc", "-ftest-coverage", "-c", "t.c"], in: s, cwd: s.file("three"))
        #expect(try stats(s)["direct_cache_hit"] == 1)
    }

    /// A generated header that holds its throw-away build dir keys alike in the next one, through the
    /// include scan too (direct mode off).
    @Test(arguments: [false, true]) func generatedHeadersHoldingTheirBuildDirectory(scanOnly: Bool) throws {
        let s = Scratch()
        var env = ["INCRCC_TEMP_DIRS": "work-XXXXXXXX"]
        if scanOnly { env["INCRCC_NODIRECT"] = "1" }
        for directory in ["work-abcdefgh", "work-zyxwvuts"] {
            let root = s.file(directory)
            s.write(directory + "/gen/config.h", "#define DATA_DIR \"\(root)/data\"\n#define SCALE 3\n")
            s.write(directory + "/a.c", "#include \"config.h\"\nint scale(int x) { return x * SCALE; }\n")
            let arguments = ["gcc", "-I" + root + "/gen", "-c", root + "/a.c", "-o", "a.o"]
            let cached = try incrcc(arguments, in: s, cwd: root, env: env)
            #expect(cached.status == 0, "\(cached.stderr)")
            let served = s.read(directory + "/a.o")
            try run(arguments, in: s, cwd: root)
            #expect(served == s.read(directory + "/a.o"))
        }
        let values = try stats(s)
        #expect(values[scanOnly ? "preprocessed_cache_hit" : "direct_cache_hit"] == 1)
    }

    /// `incrcc explain`: a hit, the header that changed, a header that would shadow one, a new key, and an
    /// uncacheable call, each said in a line.
    @Test func explainSaysWhatStandsInTheWay() throws {
        let s = Scratch()
        s.write("inc/h.h", "#define V 1\n")
        try FileManager.default.createDirectory(atPath: s.file("first"), withIntermediateDirectories: true)
        s.write("t.c", "#include \"h.h\"\nint v = V;\n")
        let call = ["gcc", "-Ifirst", "-Iinc", "-c", "t.c"]
        #expect(try incrcc(["explain"] + call, in: s).stdout.contains("no manifest under this key"))
        try incrcc(call, in: s)
        try awaitStores(s)
        #expect(try incrcc(["explain"] + call, in: s).stdout.contains("the call would hit"))
        s.write("inc/h.h", "#define V 2\n")
        #expect(try incrcc(["explain"] + call, in: s).stdout.contains("inc/h.h changed"))
        s.write("inc/h.h", "#define V 1\n")
        s.write("first/h.h", "#define V 3\n")
        #expect(try incrcc(["explain"] + call, in: s).stdout.contains("first/h.h exists now"))
        #expect(try incrcc(["explain", "gcc", "-fuse-ld=mold", "t.c", "-o", "prog"], in: s).stdout.contains("called_for_link"))
        #expect(try incrcc(["explain", "nosuchcc", "-c", "t.c"], in: s).status == 2)
        // Explaining changes nothing: the next compile still finds the header that appeared.
        try incrcc(call, in: s)
        #expect(try stats(s)["direct_cache_hit"] == 0)
    }

    /// `depend_mode` is accepted under ccache's name; a miss then counts no preprocessed-mode miss, and a
    /// bad value is refused as for any boolean.
    @Test func dependModeIsAcceptedAndCountedAsCcacheCountsIt() throws {
        let s = Scratch()
        s.write("t.c", "int f(void) { return 1; }\n")
        try incrcc(["gcc", "-c", "t.c", "-o", "a.o"], in: s, env: ["INCRCC_DEPEND": "1"])
        #expect(try stats(s)["preprocessed_cache_miss"] == 0)
        try incrcc(["gcc", "-c", "t.c", "-O1", "-o", "b.o"], in: s)
        let values = try stats(s)
        #expect(values["preprocessed_cache_miss"] == 1 && values["cache_miss"] == 2, "\(values)")
        #expect(try incrcc(["-p"], in: s, env: ["INCRCC_DEPEND": "1"]).stdout.contains("depend_mode"))
    }

    /// With direct mode off, a source the preprocessor does not read (`.i`, `.s`) is still found by its own
    /// key, counted as a preprocessed-mode hit, as ccache counts it.
    @Test func preprocessedSourcesHitWithDirectModeOff() throws {
        let s = Scratch()
        s.write("t.c", "int f(void) { return 2; }\n")
        #expect(try run(["gcc", "-E", "t.c", "-o", "t.i"], in: s).status == 0)
        #expect(try run(["gcc", "-S", "t.c", "-o", "t.s"], in: s).status == 0)
        for source in ["t.i", "t.s"] {
            for _ in 0..<2 {
                try compareWithPlain("gcc", ["-c", source, "-o", "o.o"], object: "o.o", in: s, env: ["INCRCC_NODIRECT": "1"])
            }
        }
        let values = try stats(s)
        #expect(values["preprocessed_cache_hit"] == 2 && values["direct_cache_hit"] == 0 && values["cache_miss"] == 2, "\(values)")
    }
}

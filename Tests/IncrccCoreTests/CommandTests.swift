import Foundation
import Testing
import IncrccCore

@Suite(.enabled(if: Tools.required(Tools.hasIncrcc && Tools.hasGCC)), .timeLimit(Tools.suiteTimeLimit))
struct CommandTests {
    func compileTwice(_ s: Scratch) throws {
        s.write("a.c", "int a(void) { return 1; }\n")
        try incrcc(["gcc", "-c", "a.c"], in: s)
        try incrcc(["gcc", "-c", "a.c"], in: s)
    }

    @Test func statsInEveryFormat() throws {
        let s = Scratch()
        try compileTwice(s)
        let table = try incrcc(["-s"], in: s)
        #expect(table.status == 0)
        #expect(table.stdout.contains("Hits") && table.stdout.contains("50.0%"))
        let values = try stats(s)
        #expect(values["direct_cache_hit"] == 1 && values["cache_miss"] == 1)
        // The result and its manifest, as ccache counts entries (what incrcc keeps beside them counts towards
        // the size only); ccache's local reads and writes: a manifest and a result each.
        #expect(values["files_in_cache"] == 2 && values["scan_indexed"] == 0)
        #expect(values["local_storage_read_miss"] == 2 && values["local_storage_read_hit"] == 2)
        #expect(values["local_storage_write"] == 2)
        #expect((values["stats_updated_timestamp"] ?? 0) > 0 && values["max_cache_size_kibibyte"] != nil)
        #expect((values["cache_size_kibibyte"] ?? -1) >= 0)
        let json = try incrcc(["--print-stats", "--format", "json"], in: s)
        let decoded = try JSONSerialization.jsonObject(with: Data(json.stdout.utf8)) as? [String: Int]
        #expect(decoded?["direct_cache_hit"] == 1)
        #expect(try incrcc(["--print-stats", "--format=xml"], in: s).status != 0)
    }

    @Test func zeroKeepsSizeAndClearEmpties() throws {
        let s = Scratch()
        try compileTwice(s)
        #expect(try incrcc(["-z"], in: s).status == 0)
        var values = try stats(s)
        #expect(values["direct_cache_hit"] == 0)
        #expect(values["files_in_cache"] == 2)
        #expect((values["stats_zeroed_timestamp"] ?? 0) > 0)
        #expect(try incrcc(["-C"], in: s).status == 0)
        values = try stats(s)
        #expect(values["files_in_cache"] == 0)
        try incrcc(["gcc", "-c", "a.c"], in: s)
        #expect(try stats(s)["cache_miss"] == 1)
    }

    @Test func sizeLimitIsKept() throws {
        let s = Scratch()
        #expect(try incrcc(["-M", "160k"], in: s).status == 0)
        #expect(s.text("cache/incrcc.conf").contains("max_size = 160k"))
        var seed: UInt64 = 12345
        for i in 0..<60 {
            // Hex noise, so that compression cannot make the entries small.
            var pad = ""
            for _ in 0..<6000 {
                seed = seed &* 6364136223846793005 &+ 1442695040888963407
                pad.append(String(seed >> 60, radix: 16))
            }
            s.write("f\(i).c", "int f\(i)(void) { return \(i); }\nstatic const char pad[] = \"\(pad)\";\nconst char *g\(i)(void) { return pad; }\n")
            try incrcc(["gcc", "-c", "f\(i).c"], in: s)
        }
        let values = try stats(s)
        #expect((values["cache_size_kibibyte"] ?? 0) <= 160_000 / 1024)
        #expect((values["cleanups_performed"] ?? 0) >= 1)
        // What remains still serves hits.
        try incrcc(["gcc", "-c", "f59.c"], in: s)
        #expect(try stats(s)["direct_cache_hit"] == 1)
        #expect(try incrcc(["-M", "lots"], in: s).status != 0)
    }

    /// ccache's `-k`/`-o`: a setting read and written by its `incrcc.conf` name; a bad key or value is
    /// refused with a message and exit 1, and the file keeps its other lines.
    @Test func getAndSetConfigLikeCcache() throws {
        let s = Scratch()
        try FileManager.default.createDirectory(atPath: s.file("cache"), withIntermediateDirectories: true)
        s.write("cache/incrcc.conf", "# team settings\n\ncompression_level = 5\n")
        #expect(try incrcc(["-k", "compression_level"], in: s).stdout == "5\n")
        #expect(try incrcc(["-o", "compression_level=3"], in: s).status == 0)
        #expect(try incrcc(["--get-config=compression_level"], in: s).stdout == "3\n")
        #expect(try incrcc(["--set-config", "verify_rate=0.5"], in: s).status == 0)
        #expect(s.text("cache/incrcc.conf") == "# team settings\n\ncompression_level = 3\nverify_rate = 0.5\n")
        for bad in [["-o", "compression_level=99"], ["-o", "nosuch=1"], ["-o", "novalue"], ["-k", "nosuch"], ["-k"], ["-o"]] {
            let refused = try incrcc(bad, in: s)
            #expect(refused.status == 1 && refused.stderr.hasPrefix("incrcc: "), "\(bad): \(refused.stderr)")
        }
        #expect(try incrcc(["--print-version"], in: s).stdout == Commands.version + "\n")
    }

    /// A regular file where the cache should be: a compile says so once and runs uncached with the right
    /// object; the commands that change the cache refuse instead of reporting success.
    @Test func cacheDirectoryThatIsAFileIsSaidNotUsed() throws {
        let s = Scratch()
        s.write("cache", "not a directory\n")
        s.write("a.c", "int a(void) { return 1; }\n")
        let compiled = try incrcc(["gcc", "-c", "a.c", "-o", "a.o"], in: s)
        #expect(compiled.status == 0 && compiled.stderr.contains("Not a directory"), "\(compiled.stderr)")
        let object = s.read("a.o")
        #expect(try run(["gcc", "-c", "a.c", "-o", "a.o"], in: s).status == 0)
        #expect(object != nil && object == s.read("a.o"))
        for command in ["-C", "-c", "-z"] {
            let refused = try incrcc([command], in: s)
            #expect(refused.status == 1 && refused.stderr.contains("not a directory"), "\(command)")
        }
        #expect(s.text("cache") == "not a directory\n")
    }

    @Test func showConfigNamesOrigins() throws {
        let s = Scratch()
        let r = try incrcc(["-p"], in: s, env: ["INCRCC_COMPRESSLEVEL": "7"])
        #expect(r.stdout.contains("(environment INCRCC_COMPRESSLEVEL) compression_level = 7"))
        #expect(r.stdout.contains("(environment INCRCC_DIR) cache_dir = \(s.file("cache"))"))
        #expect(r.stdout.contains("(default) max_size = 5.0 GB"))
    }

    @Test func versionAndHelp() throws {
        let s = Scratch()
        #expect(try incrcc(["--version"], in: s).stdout.hasPrefix("incrcc version"))
        #expect(try incrcc(["--help"], in: s).stdout.contains("--print-stats"))
        let none = try incrcc([], in: s)
        #expect(none.status != 0 && none.stderr.contains("Usage"))
    }

    @Test func badConfigurationStillCompilesCorrectly() throws {
        let s = Scratch()
        s.write("cache/incrcc.conf", "max_size = a lot\n")
        s.write("a.c", "int a(void) { return 1; }\n")
        let r = try incrcc(["gcc", "-c", "a.c", "-o", "a.o"], in: s)
        #expect(r.status == 0)
        #expect(r.stderr.contains("incrcc.conf:1") && r.stderr.contains("max_size"))
        try run(["gcc", "-c", "a.c", "-o", "plain.o"], in: s)
        #expect(s.read("a.o") == s.read("plain.o"))
        try FileManager.default.removeItem(atPath: s.file("cache/incrcc.conf"))
        let bad = try incrcc(["gcc", "-c", "a.c", "-o", "a.o"], in: s, env: ["INCRCC_COMPRESSLEVEL": "x"])
        #expect(bad.status == 0 && bad.stderr.contains("compression_level"))
    }

    @Test func unusableCacheDirectoryStillCompiles() throws {
        let s = Scratch()
        s.write("blocker", "a file where a directory should be\n")
        s.write("a.c", "int a(void) { return 1; }\n")
        let r = try incrcc(["gcc", "-c", "a.c", "-o", "a.o"], in: s, env: ["INCRCC_DIR": s.file("blocker/cache")])
        #expect(r.status == 0)
        #expect(r.stderr.contains("cache directory unusable"))
        #expect(s.exists("a.o"))
    }

    @Test func disableAndRecache() throws {
        let s = Scratch()
        try compileTwice(s)
        try incrcc(["gcc", "-c", "a.c"], in: s, env: ["INCRCC_DISABLE": "1"])
        try incrcc(["gcc", "-c", "a.c"], in: s, env: ["INCRCC_RECACHE": "1"])
        let values = try stats(s)
        // Disabled means untouched: not even counted.
        #expect(values["disabled"] == 0)
        #expect(values["recache"] == 1)
        #expect(values["direct_cache_hit"] == 1)
        #expect(values["cache_miss"] == 1, "a recache is not also a miss")
    }

    @Test func logFileRecordsDecisions() throws {
        let s = Scratch()
        s.write("a.c", "int a(void) { return 1; }\n")
        let env = ["INCRCC_LOGFILE": s.file("log.txt")]
        try incrcc(["gcc", "-c", "a.c"], in: s, env: env)
        try incrcc(["gcc", "-c", "a.c"], in: s, env: env)
        let log = s.text("log.txt")
        #expect(log.contains("stored result"))
        #expect(log.contains("direct hit"))
    }

    /// ccache's eviction, file limit, `-d`, `--config-path` and `--checksum-file`.
    @Test func evictionFileLimitAndOtherCaches() throws {
        let s = Scratch()
        try compileTwice(s)
        s.write("b.c", "int b(void) { return 2; }\n")
        try incrcc(["gcc", "-c", "b.c"], in: s)
        #expect(try stats(s)["files_in_cache"] == 4)
        let dry = try incrcc(["--evict-older-than", "1d", "--dry-run"], in: s)
        #expect(dry.status == 0 && dry.stdout.hasPrefix("Would evict 0 entries"), "\(dry.stdout)")
        let all = try incrcc(["--evict-older-than=0s", "--dry-run"], in: s)
        #expect(all.stdout.hasPrefix("Would evict") && !all.stdout.hasPrefix("Would evict 0 "), "\(all.stdout)")
        #expect(try stats(s)["files_in_cache"] == 4, "a dry run removes nothing")
        #expect(try incrcc(["--evict-older-than", "soon"], in: s).status == 1)
        // Two results and two manifests; a limit of one per shard keeps at most one of each shard's pair.
        let limited = try incrcc(["-F", "16"], in: s)
        #expect(limited.status == 0 && limited.stdout.contains("16"))
        #expect(try incrcc(["-k", "max_files"], in: s).stdout == "16\n")
        #expect((try stats(s)["files_in_cache"] ?? 99) <= 4)
        #expect(try incrcc(["--evict-older-than", "0s"], in: s).stdout.hasPrefix("Evicted"))
        #expect(try stats(s)["files_in_cache"] == 0)
        try incrcc(["gcc", "-c", "a.c"], in: s)
        #expect(try stats(s)["direct_cache_hit"] == 1, "evicted entries miss")
        let other = s.file("other-cache")
        #expect(try incrcc(["-d", other, "--config-path"], in: s).stdout == other + "/incrcc.conf\n")
        #expect(try incrcc(["--dir=" + other, "-s"], in: s).stdout.contains(other))
        s.write("empty", "")
        #expect(try incrcc(["--checksum-file", s.file("empty")], in: s).stdout == "99aa06d3014798d86001c324468d497f\n")
    }

    /// `read_only`: hits are served, misses compile and store nothing, and a cache that is not there is
    /// not created.
    @Test func readOnlyServesAndNeverStores() throws {
        let s = Scratch()
        s.write("a.c", "int a(void) { return 1; }\n")
        s.write("b.c", "int b(void) { return 2; }\n")
        try incrcc(["gcc", "-c", "a.c"], in: s)
        try awaitStores(s)
        func entries() -> [String] {
            cacheEntries(s).filter { $0.hasSuffix(".R") || $0.hasSuffix(".M") || $0.hasSuffix(".F") }.sorted()
        }
        let before = entries()
        let readOnly = ["INCRCC_READONLY": "1"]
        for _ in 0..<2 {
            try FileManager.default.removeItem(atPath: s.file("a.o"))
            #expect(try incrcc(["gcc", "-c", "a.c"], in: s, env: readOnly).status == 0 && s.exists("a.o"))
            try compareWithPlain("gcc", ["-c", "b.c"], object: "b.o", in: s, env: readOnly)
        }
        try awaitStores(s)
        #expect(entries() == before)
        let values = try stats(s)
        #expect(values["direct_cache_hit"] == 2 && values["cache_miss"] == 3, "\(values)")
        let elsewhere = s.file("never-created")
        #expect(try incrcc(["gcc", "-c", "b.c"], in: s, env: ["INCRCC_READONLY": "1", "INCRCC_DIR": elsewhere]).status == 0)
        #expect(!FileManager.default.fileExists(atPath: elsewhere))
        // With direct mode off the preprocessor's output is keyed through temporaries: they go to
        // `temporary_dir`, the read-only cache's `tmp` is not made.
        try FileManager.default.removeItem(atPath: s.file("cache/tmp"))
        let temporaries = ["INCRCC_READONLY": "1", "INCRCC_NODIRECT": "1", "INCRCC_TEMPDIR": s.file("scratch-tmp")]
        try compareWithPlain("gcc", ["-c", "b.c"], object: "b.o", in: s, env: temporaries)
        #expect(!FileManager.default.fileExists(atPath: s.file("cache/tmp")))
        #expect(FileManager.default.fileExists(atPath: s.file("scratch-tmp")))
    }

    /// `-x` says what compression saves; `-X` frames every entry again (raw or at another level), the size
    /// counted follows, and the entries still serve hits.
    @Test func compressionShownAndRedone() throws {
        let s = Scratch()
        s.write("a.c", "int a(void) { return 1; }\n/* \(String(repeating: "padding ", count: 400)) */\n")
        try incrcc(["gcc", "-c", "a.c"], in: s)
        try awaitStores(s)
        let shown = try incrcc(["-x"], in: s)
        #expect(shown.status == 0 && shown.stdout.contains("Compression ratio:"), "\(shown.stdout)")
        #expect(!shown.stdout.contains("Compressed data:       0 B"))
        let raw = try incrcc(["-X", "uncompressed"], in: s)
        #expect(raw.status == 0 && raw.stdout.hasPrefix("Recompressed "), "\(raw.stdout)")
        #expect(try incrcc(["--show-compression"], in: s).stdout.contains("Compressed data:       0 B"))
        let rawSize = try stats(s)["cache_size_kibibyte"] ?? 0
        #expect(try incrcc(["--recompress", "19"], in: s).status == 0)
        #expect((try stats(s)["cache_size_kibibyte"] ?? 0) <= rawSize)
        #expect(try incrcc(["-X", "25"], in: s).status == 1)
        try FileManager.default.removeItem(atPath: s.file("a.o"))
        try compareWithPlain("gcc", ["-c", "a.c"], object: "a.o", in: s)
        #expect(try stats(s)["direct_cache_hit"] == 1)
    }

    /// `stats_log`: each call appends its counters under its source's name, and `--show-log-stats` sums the
    /// log alone (the cache's own counters are not in it).
    @Test func statsLogHoldsOneBuild() throws {
        let s = Scratch()
        s.write("t.c", "int t(void) { return 1; }\n")
        try incrcc(["gcc", "-c", "t.c"], in: s)
        let env = ["INCRCC_STATSLOG": s.file("build.log")]
        for _ in 0..<2 { try incrcc(["gcc", "-c", "t.c"], in: s, env: env) }
        try awaitStores(s)
        let log = s.text("build.log")
        #expect(log.hasPrefix("# t.c\n") && log.contains("\ndirect_cache_hit\n") && !log.contains("cache_miss"), "\(log)")
        let shown = try incrcc(["--show-log-stats"], in: s, env: env).stdout
        #expect(shown.contains("Hits") && shown.contains("2 (100.0%)"), "\(shown)")
        #expect(try incrcc(["--show-log-stats"], in: s).status == 1)
    }

    /// `--inspect`: a manifest's files with their digests, a result's outputs, and a damaged entry said so.
    @Test func inspectTellsWhatAnEntryHolds() throws {
        let s = Scratch()
        s.write("h.h", "int h;\n")
        s.write("t.c", "#include \"h.h\"\nint f(void) { return 1; }\n")
        try incrcc(["gcc", "-c", "t.c"], in: s)
        try awaitStores(s)
        let entries = cacheEntries(s)
        let manifest = try #require(entries.first { $0.hasSuffix(".M") })
        let result = try #require(entries.first { $0.hasSuffix(".R") })
        let shownManifest = try incrcc(["--inspect", s.file("cache/" + manifest)], in: s)
        #expect(shownManifest.status == 0 && shownManifest.stdout.contains("Entry type: 1 (manifest)"))
        #expect(shownManifest.stdout.contains("File: h.h") && shownManifest.stdout.contains("Hash: "), "\(shownManifest.stdout)")
        let shownResult = try incrcc(["--inspect", s.file("cache/" + result)], in: s).stdout
        #expect(shownResult.contains("Entry type: 0 (result)") && shownResult.contains("File: object"), "\(shownResult)")
        #expect(shownResult.contains("Compression type: zstd") && shownResult.contains("Checksum: ok"))
        let handle = try FileHandle(forWritingTo: URL(fileURLWithPath: s.file("cache/" + result)))
        try handle.seek(toOffset: 40)
        handle.write(Data("damage".utf8))
        try handle.close()
        #expect(try incrcc(["--inspect", s.file("cache/" + result)], in: s).stdout.contains("Checksum: damaged"))
        #expect(try incrcc(["--inspect", s.file("missing")], in: s).status == 1)
    }

    /// A bad setting in incrcc.conf is said once by the commands, which go on with its default, so `-M`
    /// mends the file in place (its other lines, blank ones included, kept); a failing `compiler_check`
    /// command is counted.
    @Test func commandsMendABadConfigurationFile() throws {
        let s = Scratch()
        try FileManager.default.createDirectory(atPath: s.file("cache"), withIntermediateDirectories: true)
        s.write("cache/incrcc.conf", "# mine\nmax_size = lots\n\nlog_file = \n")
        let shown = try incrcc(["-s"], in: s)
        #expect(shown.status == 0 && shown.stderr.contains("max_size") && shown.stderr.contains("default"), "\(shown.stderr)")
        #expect(try incrcc(["-M", "2G"], in: s).status == 0)
        #expect(s.text("cache/incrcc.conf") == "# mine\nmax_size = 2G\n\nlog_file = \n")
        #expect(try incrcc(["-s"], in: s).stderr.isEmpty)
        s.write("t.c", "int t;\n")
        #expect(try incrcc(["gcc", "-c", "t.c"], in: s, env: ["INCRCC_COMPILERCHECK": "no-such-command %compiler%"]).status == 0)
        #expect(try stats(s)["compiler_check_failed"] == 1)
        let verbose = try incrcc(["-s", "-v"], in: s).stdout
        let plain = try incrcc(["-s"], in: s).stdout
        #expect(verbose.contains("compiler_check_failed") && !plain.contains("compiler_check_failed"),
                "-s -v shows every counter that is not zero")
    }

    /// `umask` shapes what the commands create, as it does for compiles: a group-writable cache from `-z`,
    /// `-C` and `-c` whatever the caller's mask (the test process's is 022).
    @Test func commandsCreateTheCacheUnderItsUmask() throws {
        for command in ["-z", "-C", "-c"] {
            let s = Scratch()
            let result = try incrcc([command], in: s, env: ["INCRCC_UMASK": "002"])
            #expect(result.status == 0, "\(command): \(result.stderr)")
            for (path, expected) in [("cache", 0o775), ("cache/0", 0o775), ("cache/0/stats", 0o664)] {
                let mode = try FileManager.default.attributesOfItem(atPath: s.file(path))[.posixPermissions] as? Int
                #expect(mode == expected, "\(command): \(path) is \(String(mode ?? 0, radix: 8))")
            }
        }
    }
}

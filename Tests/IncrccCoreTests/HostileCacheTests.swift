import Foundation
import Testing
@testable import IncrccCore

/// The cache as someone else may have left it: swapped and crafted entries, planted links, a full disk,
/// `-C` under running compiles, counters at their limit, a compiler wrapper that calls incrcc again.
/// Every case checks that the compile says and writes exactly what gcc does, and that nothing outside the
/// cache is touched.
@Suite(.enabled(if: Tools.required(Tools.hasIncrcc && Tools.hasGCC)))
struct HostileCacheTests {
    /// Entry files of one kind under the cache, by key.
    func entries(_ s: Scratch, suffix: String) -> [String: String] {
        var found: [String: String] = [:]
        let root = s.file("cache")
        for path in (FileManager.default.enumerator(atPath: root)?.allObjects as? [String]) ?? []
        where path.hasSuffix(suffix) {
            found[String((path as NSString).lastPathComponent.dropLast(suffix.count))] = root + "/" + path
        }
        return found
    }

    static func digest(hex: String) -> Digest? {
        guard hex.utf8.count == 32, let high = UInt64(hex.prefix(16), radix: 16),
              let low = UInt64(hex.suffix(16), radix: 16) else { return nil }
        return Digest(high: high, low: low)
    }

    /// Compiles through incrcc and checks the object against gcc's.
    func expectPlainObject(_ arguments: [String], object: String, in s: Scratch,
                           env: [String: String] = [:]) throws -> RunResult {
        let cached = try incrcc(["gcc"] + arguments, in: s, env: env)
        let served = s.read(object)
        try? FileManager.default.removeItem(atPath: s.file(object))
        let plain = try run(["gcc"] + arguments, in: s)
        #expect(cached.status == plain.status)
        #expect(cached.stderr == plain.stderr)
        #expect(served == s.read(object), "wrong object for \(arguments)")
        return cached
    }

    @Test func swappedEntriesAreNeverServed() throws {
        let s = Scratch()
        s.write("a.c", "int a(void) { return 1; }\n")
        s.write("b.c", "int b(void) { return 2; }\n")
        try incrcc(["gcc", "-c", "a.c"], in: s, env: ["INCRCC_BACKGROUND_STORE": "false"])
        let aResults = entries(s, suffix: ".R"), aManifests = entries(s, suffix: ".M")
        try incrcc(["gcc", "-c", "b.c"], in: s, env: ["INCRCC_BACKGROUND_STORE": "false"])
        let bResult = try #require(entries(s, suffix: ".R").first { aResults[$0.key] == nil }?.value)
        let bManifest = try #require(entries(s, suffix: ".M").first { aManifests[$0.key] == nil }?.value)
        try FileManager.default.removeItem(atPath: bResult)
        try FileManager.default.copyItem(atPath: try #require(aResults.first?.value), toPath: bResult)
        _ = try expectPlainObject(["-c", "b.c"], object: "b.o", in: s)
        try FileManager.default.removeItem(atPath: bManifest)
        try FileManager.default.copyItem(atPath: try #require(aManifests.first?.value), toPath: bManifest)
        _ = try expectPlainObject(["-c", "b.c"], object: "b.o", in: s)
        #expect(try stats(s)["corrupt_entry_removed"] ?? 0 >= 2)
    }

    /// A manifest (validly framed for its key) that names a FIFO or a device where a header was: the call
    /// neither blocks nor reads without end, and compiles.
    @Test func manifestNamingSpecialFilesDoesNotHang() throws {
        let s = Scratch()
        s.write("h.h", "#define V 1\n")
        s.write("t.c", "#include \"h.h\"\nint v = V;\n")
        try incrcc(["gcc", "-c", "t.c"], in: s, env: ["INCRCC_BACKGROUND_STORE": "false"])
        let (hex, path) = try #require(entries(s, suffix: ".M").first)
        let key = try #require(Self.digest(hex: hex))
        #expect(mkfifo(s.file("fifo"), 0o644) == 0)
        for special in [s.file("fifo"), "/dev/zero"] {
            let frame = Array(try #require(FileManager.default.contents(atPath: path)))
            var manifest = try Manifest.decode(try EntryCodec.decode(frame, kind: .manifest, key: key))
            for index in manifest.entries.indices {
                for file in manifest.entries[index].files.indices {
                    manifest.entries[index].files[file].path = special
                    manifest.entries[index].files[file].status.size = 0
                    manifest.entries[index].files[file].statTrusted = false
                }
            }
            try Data(EntryCodec.encode(manifest.encode(), kind: .manifest, key: key, level: 1))
                .write(to: URL(fileURLWithPath: path))
            let started = Date()
            _ = try expectPlainObject(["-c", "t.c"], object: "t.o", in: s, env: ["INCRCC_BACKGROUND_STORE": "false"])
            #expect(Date().timeIntervalSince(started) < 20)
        }
    }

    /// Links planted at a shard directory, at `tmp`, at stats files and at the writers' lock: compiles,
    /// `-z`, `-c` and `-C` leave the victims exactly as they were.
    @Test func plantedLinksAreNeverFollowed() throws {
        let s = Scratch()
        s.write("t.c", "int f(void) { return 1; }\n")
        try incrcc(["gcc", "-c", "t.c"], in: s)
        // The statistics wait for the store after returning: `tmp` is replaced below, and removing it while
        // that writer took its marker out of `tmp/writers` made the removal fail.
        try incrcc(["-s"], in: s)
        let victims = ["victim/x.R", "victim/stats", "victim/keep.txt", "victim2/deps.d", "victim2/stores.lock",
                       "victim3/stats"]
        for name in victims { s.write(name, "precious \(name)\n") }
        try FileManager.default.createDirectory(atPath: s.file("cache/tmp"), withIntermediateDirectories: true)
        let fm = FileManager.default
        for shard in ["3", "a"] {
            try? fm.removeItem(atPath: s.file("cache/\(shard)"))
            try fm.createSymbolicLink(atPath: s.file("cache/\(shard)"), withDestinationPath: s.file("victim"))
        }
        try fm.createDirectory(atPath: s.file("cache/5/5"), withIntermediateDirectories: true)
        try? fm.removeItem(atPath: s.file("cache/5/stats"))
        try fm.createSymbolicLink(atPath: s.file("cache/5/stats"), withDestinationPath: s.file("victim3/stats"))
        try? fm.removeItem(atPath: s.file("cache/5/5/sub"))
        try fm.createSymbolicLink(atPath: s.file("cache/5/5/sub"), withDestinationPath: s.file("victim2"))
        try fm.removeItem(atPath: s.file("cache/tmp"))
        try fm.createSymbolicLink(atPath: s.file("cache/tmp"), withDestinationPath: s.file("victim2"))
        for index in 0..<12 {
            s.write("u\(index).c", "int u\(index)(void) { return \(index); }\n")
            _ = try expectPlainObject(["-c", "u\(index).c"], object: "u\(index).o", in: s)
        }
        for command in [["-z"], ["-s"], ["-c"], ["-C"], ["-M", "1M"]] { try incrcc(command, in: s) }
        for name in victims { #expect(s.text(name) == "precious \(name)\n", "\(name) was touched") }
        let listed = Set(try fm.contentsOfDirectory(atPath: s.file("victim")))
        #expect(listed == ["x.R", "stats", "keep.txt"])
        #expect(Set(try fm.contentsOfDirectory(atPath: s.file("victim2"))) == ["deps.d", "stores.lock"])
    }

    /// `-C` in a loop while compiles with warnings run: every compile exits 0 and shows its warning.
    @Test func clearingWhileCompilingLosesNothing() throws {
        let s = Scratch()
        s.write("w.c", "int f(int x) { int unused; return x; }\n")
        s.writeExecutable("clear.sh", "#!/bin/sh\nfor i in $(seq 200); do \"$1\" -C >/dev/null; done\n")
        let clearing = try start([s.file("clear.sh"), Tools.incrcc], in: s)
        var silent = 0
        for index in 0..<40 {
            s.write("w.c", "int f(int x) { int unused; return x + \(index % 4); }\n")
            let result = try incrcc(["gcc", "-Wall", "-c", "w.c"], in: s)
            if result.status != 0 || !result.stderr.contains("unused") { silent += 1 }
        }
        _ = try clearing.finish()
        #expect(silent == 0)
    }

    /// A cache on a file system with no room: misses and hits say exactly what gcc says and return what it
    /// returns; a failing compile keeps its error text.
    @Test(.enabled(if: Tools.canMountTmpfs)) func fullCacheFileSystemChangesNothing() throws {
        let s = Scratch()
        let full = try FullFileSystem(at: s.file("cache"), kilobytes: 48, in: s)
        defer { full.unmount() }
        s.write("w.c", "#include <stdio.h>\nint f(int x) { int unused; return x; }\n")
        s.write("bad.c", "int f(void) { return nosuch; }\n")
        for flags in [[String](), ["-MMD"], ["-MD"]] {
            for _ in 0..<2 {
                let result = try expectPlainObject(["-Wall", "-c", "w.c"] + flags, object: "w.o", in: s)
                #expect(result.stderr.contains("unused"))
            }
        }
        let failing = try incrcc(["gcc", "-c", "bad.c"], in: s)
        #expect(failing.status == 1)
        #expect(failing.stderr.contains("nosuch"))
    }

    /// Output files that are links, on a miss and on a hit, end as the compiler itself leaves them: each
    /// output either replaced by a file or written through to the link's target, compared with a plain
    /// compile in a directory of its own.
    @Test(arguments: ["gcc", "clang"].filter { Tools.which($0) != nil })
    func outputLinksEndAsTheCompilerLeavesThem(compiler: String) throws {
        let s = Scratch()
        s.write("t.c", "int f(void) { return 1; }\n")
        let outputs = ["t.o", "t.d"] + (compiler == "gcc" ? ["t.su"] : [])
        let flags = ["-MD", "-MF", "t.d", "-c", "t.c", "-o", "t.o"] + (compiler == "gcc" ? ["-fstack-usage"] : [])
        /// Each output link pointing at a victim file; afterwards, whether the link is still one and whether
        /// the victim was overwritten.
        func outcome(in dir: String, _ compile: () throws -> RunResult) throws -> [String] {
            for output in outputs {
                s.write(dir + "/victim-" + output, "victim\n")
                try? FileManager.default.removeItem(atPath: s.file(dir + "/" + output))
                try FileManager.default.createSymbolicLink(atPath: s.file(dir + "/" + output), withDestinationPath: "victim-" + output)
            }
            #expect(try compile().status == 0)
            return try outputs.map { output in
                let type = try FileManager.default.attributesOfItem(atPath: s.file(dir + "/" + output))[.type] as? FileAttributeType
                let link = type == .typeSymbolicLink ? "link" : "file"
                return "\(output): \(link), victim \(s.text(dir + "/victim-" + output) == "victim\n" ? "kept" : "written")"
            }
        }
        s.write("plain/t.c", "int f(void) { return 1; }\n")
        let expected = try outcome(in: "plain") { try run([compiler] + flags, in: s, cwd: s.file("plain")) }
        s.write("cached/t.c", "int f(void) { return 1; }\n")
        for round in 0..<2 {
            let got = try outcome(in: "cached") { try incrcc([compiler] + flags, in: s, cwd: s.file("cached")) }
            #expect(got == expected, "round \(round) (\(round == 0 ? "miss" : "hit"))")
        }
        #expect(expected.contains("t.o: file, victim kept"), "the compilers replace an object link")
        #expect(try stats(s)["direct_cache_hit"] == 1)
    }

    /// A statistics file with flipped bytes is reset to zero and reported in one line, never summed; an
    /// untouched one keeps its counts.
    @Test func damagedStatisticsAreResetNotBelieved() throws {
        let s = Scratch()
        s.write("t.c", "int f(void) { return 1; }\n")
        for _ in 0..<3 { try incrcc(["gcc", "-c", "t.c"], in: s) }
        let before = try stats(s)
        #expect(before["direct_cache_hit"] == 2)
        let files = try FileManager.default.subpathsOfDirectory(atPath: s.file("cache")).filter { $0.hasSuffix("/stats") }
        let counted = try #require(files.first { path in
            let values = StatsFiles.decode(Array(try! Data(contentsOf: URL(fileURLWithPath: s.file("cache/" + path)))))
            return (values?[.directHit] ?? 0) > 0
        })
        var bytes = Array(try Data(contentsOf: URL(fileURLWithPath: s.file("cache/" + counted))))
        // A counter's high bytes flipped, as random damage would: 1095216660581 and the like.
        let slot = 8 + 8 + Counter.directHit.rawValue * 8
        bytes[slot + 4] ^= 0xff
        try Data(bytes).write(to: URL(fileURLWithPath: s.file("cache/" + counted)))
        let shown = try incrcc(["--print-stats"], in: s)
        #expect(shown.status == 0)
        #expect(shown.stderr.components(separatedBy: "damaged").count == 2, "one line: \(shown.stderr)")
        let after = try stats(s)
        #expect((after["direct_cache_hit"] ?? 0) <= 2, "never the damaged value")
        #expect(try incrcc(["--print-stats"], in: s).stderr.isEmpty, "reported once")
        try incrcc(["gcc", "-c", "t.c"], in: s)
        #expect((try stats(s)["direct_cache_hit"] ?? 0) >= 1)
    }

    @Test func saturatedCountersStillPrint() throws {
        let s = Scratch()
        s.write("t.c", "int f(void) { return 1; }\n")
        try incrcc(["gcc", "-c", "t.c"], in: s)
        try awaitStores(s)
        var saturated = CounterValues()
        for counter in Counter.allCases { saturated[counter] = UInt64.max - 5 }
        let bytes = StatsFiles.encode(saturated)
        for shard in ["0", "1", "2"] {
            try FileManager.default.createDirectory(atPath: s.file("cache/\(shard)"), withIntermediateDirectories: true)
            try Data(bytes).write(to: URL(fileURLWithPath: s.file("cache/\(shard)/stats")))
        }
        let shown = try incrcc(["-s"], in: s)
        #expect(shown.status == 0)
        #expect(shown.stdout.contains("18446744073709551615"))
        try incrcc(["gcc", "-c", "t.c"], in: s)
        #expect(try incrcc(["--print-stats"], in: s).status == 0)
    }

    /// A script named gcc, first in PATH, that calls `incrcc gcc` again: stopped with a message, not looped.
    @Test func wrapperThatCallsIncrccAgainStops() throws {
        let s = Scratch()
        s.write("t.c", "int f(void) { return 1; }\n")
        s.writeExecutable("bin/gcc", "#!/bin/sh\nexec \(Tools.incrcc) gcc \"$@\"\n")
        let path = s.file("bin") + ":" + (ProcessInfo.processInfo.environment["PATH"] ?? "/usr/bin:/bin")
        let started = Date()
        let result = try incrcc(["gcc", "-c", "t.c"], in: s, env: ["PATH": path])
        #expect(result.status != 0)
        #expect(result.stderr.contains("calling itself"))
        #expect(Date().timeIntervalSince(started) < 10)
    }

    /// A cache directory that belongs to someone else is not used, and the compile still succeeds.
    @Test(.enabled(if: geteuid() == 0)) func foreignCacheDirectoryIsRefused() throws {
        let s = Scratch()
        s.write("t.c", "int f(void) { return 1; }\n")
        try FileManager.default.createDirectory(atPath: s.file("cache"), withIntermediateDirectories: true)
        #expect(chown(s.file("cache"), 65534, 65534) == 0)
        #expect(chmod(s.file("cache"), 0o777) == 0)
        let result = try incrcc(["gcc", "-c", "t.c"], in: s)
        #expect(result.status == 0)
        #expect(result.stderr.contains("belongs to another user"))
        #expect(s.exists("t.o"))
        #expect(!FileManager.default.fileExists(atPath: s.file("cache/tmp")))
    }

    /// A copy of incrcc named gcc earlier in PATH is recognised by its bytes and skipped: one incrcc handles
    /// the call.
    @Test func copyOfIncrccInPathIsSkipped() throws {
        let s = Scratch()
        s.write("t.c", "int f(void) { return 1; }\n")
        try FileManager.default.createDirectory(atPath: s.file("bin"), withIntermediateDirectories: true)
        try FileManager.default.copyItem(atPath: Tools.incrcc, toPath: s.file("bin/gcc"))
        let path = s.file("bin") + ":" + (ProcessInfo.processInfo.environment["PATH"] ?? "/usr/bin:/bin")
        let result = try incrcc(["gcc", "-c", "t.c"], in: s, env: ["PATH": path, "INCRCC_LOGFILE": s.file("log")])
        #expect(result.status == 0)
        #expect(s.text("log").components(separatedBy: "direct key").count == 2)
    }

    /// A hit whose outputs cannot be written (their file system is full) leaves what gcc leaves and returns
    /// what gcc returns.
    @Test(.enabled(if: Tools.canMountTmpfs)) func fullOutputFileSystemOnAHit() throws {
        let s = Scratch()
        s.write("t.c", "#include <stdio.h>\nint f(void) { return 1; }\n")
        try FileManager.default.createDirectory(atPath: s.file("out"), withIntermediateDirectories: true)
        try incrcc(["gcc", "-MD", "-c", "t.c", "-o", "out/t.o"], in: s)
        try FileManager.default.removeItem(atPath: s.file("out/t.o"))
        try FileManager.default.removeItem(atPath: s.file("out/t.d"))
        let full = try FullFileSystem(at: s.file("out"), kilobytes: 16, in: s)
        defer { full.unmount() }
        let cached = try incrcc(["gcc", "-MD", "-c", "t.c", "-o", "out/t.o"], in: s)
        let cachedFiles = Set(try FileManager.default.contentsOfDirectory(atPath: s.file("out")))
        for name in cachedFiles where name != "filler" { try FileManager.default.removeItem(atPath: s.file("out/" + name)) }
        let plain = try run(["gcc", "-MD", "-c", "t.c", "-o", "out/t.o"], in: s)
        let plainFiles = Set(try FileManager.default.contentsOfDirectory(atPath: s.file("out")))
        #expect(plain.status != 0)
        #expect(cached.status == plain.status)
        #expect(cachedFiles == plainFiles)
        #expect(!cachedFiles.contains { $0.contains("incrcc-tmp") })
    }

    /// A store child that was stopped (SIGSTOP) does not make the next call with its key wait.
    @Test func stoppedWriterIsNotWaitedFor() throws {
        let s = Scratch()
        s.write("t.c", "int f(void) { return 1; }\n")
        try incrcc(["gcc", "-c", "t.c"], in: s, env: ["INCRCC_BACKGROUND_STORE": "false"])
        let (_, manifest) = try #require(entries(s, suffix: ".M").first)
        for (_, result) in entries(s, suffix: ".R") { try FileManager.default.removeItem(atPath: result) }
        try FileManager.default.removeItem(atPath: manifest)
        let stopped = try start(["sleep", "30"], in: s)
        defer {
            kill(stopped.pid, SIGKILL)
            _ = try? stopped.finish()
        }
        kill(stopped.pid, SIGSTOP)
        let marker = String(manifest.dropLast(2)) + ".P"
        let fd = open(marker, O_RDWR | O_CREAT | O_CLOEXEC, 0o644)
        #expect(fd >= 0)
        defer { close(fd) }
        #expect(flock(fd, LOCK_EX) == 0)
        let pid = Array(String(stopped.pid).utf8)
        _ = pid.withUnsafeBytes { pwrite(fd, $0.baseAddress, $0.count, 0) }
        usleep(100_000)
        let began = Date()
        let result = try incrcc(["gcc", "-c", "t.c"], in: s)
        #expect(result.status == 0)
        #expect(Date().timeIntervalSince(began) < 5)
    }

    /// The dependency file of a hit under an output name of another length is laid out as the compiler lays
    /// it out for that name.
    @Test(arguments: ["gcc", "clang"]) func dependencyFileBreaksLinesForTheNewTarget(compiler: String) throws {
        guard Tools.required(Tools.which(compiler) != nil) else { return }
        let s = Scratch()
        s.write("t.c", "#include <stdio.h>\n#include <stdlib.h>\nint x;\n")
        for output in ["a.o", "a_much_longer_name_for_the_object_file.o", "b.o"] {
            let result = try incrcc([compiler, "-MD", "-c", "t.c", "-o", output], in: s)
            #expect(result.status == 0)
            let dependency = Path.replacingExtension(output, with: "d")
            let served = s.read(dependency)
            try run([compiler, "-MD", "-c", "t.c", "-o", output], in: s)
            #expect(served == s.read(dependency), "\(compiler) \(output)")
        }
        #expect(try stats(s)["direct_cache_hit"] == 2)
    }

    /// A stopped store child holds the writers' lock: the statistics do not wait the full ten seconds for it.
    @Test func statisticsDoNotWaitForStoppedWriters() throws {
        let s = Scratch()
        let stopped = try start(["sleep", "30"], in: s)
        defer {
            kill(stopped.pid, SIGKILL)
            _ = try? stopped.finish()
        }
        kill(stopped.pid, SIGSTOP)
        try FileManager.default.createDirectory(atPath: s.file("cache/tmp/writers"), withIntermediateDirectories: true)
        s.write("cache/tmp/writers/\(stopped.pid)", "")
        let fd = open(s.file("cache/tmp/stores.lock"), O_RDWR | O_CREAT | O_CLOEXEC, 0o644)
        #expect(fd >= 0)
        defer { close(fd) }
        #expect(flock(fd, LOCK_SH) == 0)
        usleep(100_000)
        let began = Date()
        #expect(try incrcc(["-s"], in: s).status == 0)
        #expect(Date().timeIntervalSince(began) < 5)
    }

    /// Absent include candidates proven by their directories' settled stats: a header created in one of
    /// them later is still seen, and the object is gcc's.
    @Test func headerCreatedInAProvenDirectoryIsSeen() throws {
        let s = Scratch()
        s.write("b/h.h", "#define V 1\n")
        s.write("b/sub/k.h", "#define K 1\n")
        try FileManager.default.createDirectory(atPath: s.file("a"), withIntermediateDirectories: true)
        s.write("t.c", "#include \"h.h\"\n#include \"sub/k.h\"\nint v = V + K;\n")
        // Directories must be settled (two seconds old) before they can stand for their entries.
        usleep(2_300_000)
        let arguments = ["-Ia", "-Ib", "-c", "t.c"]
        _ = try expectPlainObject(arguments, object: "t.o", in: s)
        try awaitStores(s)
        _ = try expectPlainObject(arguments, object: "t.o", in: s)
        #expect(try stats(s)["direct_cache_hit"] == 1)
        let manifest = try #require(entries(s, suffix: ".M").first)
        let key = try #require(Self.digest(hex: manifest.key))
        let frame = Array(try #require(FileManager.default.contents(atPath: manifest.value)))
        let decoded = try Manifest.decode(try EntryCodec.decode(frame, kind: .manifest, key: key))
        #expect(decoded.entries.first?.absentDirectories.isEmpty == false)
        // A header appears where a candidate was, one level down too: both are misses with gcc's object.
        s.write("a/sub/k.h", "#define K 40\n")
        _ = try expectPlainObject(arguments, object: "t.o", in: s)
        s.write("a/h.h", "#define V 2\n")
        _ = try expectPlainObject(arguments, object: "t.o", in: s)
        #expect(try stats(s)["direct_cache_hit"] == 1)
    }
}

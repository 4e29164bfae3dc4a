import Foundation
import Testing
@testable import IncrccCore

@Suite struct StoreTests {
    /// Shard directories, stats files and temporary names are spelled by `NumberText` as the standard
    /// library would spell them.
    @Test func numberTextSpellsAsTheStandardLibrary() {
        for value: UInt64 in [0, 1, 9, 10, 15, 16, 255, 0xdead_beef, UInt64.max] {
            #expect(NumberText.hex(value) == String(value, radix: 16))
        }
        for value in [0, 7, 10, 99, 123_456, -1, -42, Int.max, Int.min] {
            #expect(NumberText.decimal(value) == String(value))
        }
        for text in ["0", "7", "42", "000123", "999999999999999999"] {
            #expect(NumberText.decimalValue(text) == Int(text))
        }
        for text in ["", "-1", "+1", " 1", "1x", "0x10", "1234567890123456789"] {
            #expect(NumberText.decimalValue(text) == nil)
        }
    }

    func sampleManifest() -> Manifest {
        let status = FileStatus(device: 1, inode: 2, size: 3, modifiedNanoseconds: 4, changedNanoseconds: 5, mode: 0)
        let shared = RecordedFile(path: "/usr/include/stdio.h", digest: Digest(high: 1, low: 2), status: status, statTrusted: true)
        let other = RecordedFile(path: "a.h", digest: Digest(high: 3, low: 4), status: status, statTrusted: false)
        var manifest = Manifest()
        manifest.add(ManifestEntry(files: [shared], absentPaths: ["x.h"], result: Digest(high: 9, low: 9)))
        manifest.add(ManifestEntry(files: [shared, other], absentPaths: ["x.h", "y.h"], result: Digest(high: 8, low: 8)))
        return manifest
    }

    @Test func manifestRoundTripsNewestFirst() throws {
        let manifest = sampleManifest()
        let decoded = try Manifest.decode(manifest.encode())
        #expect(decoded == manifest)
        #expect(decoded.entries.first?.result == Digest(high: 8, low: 8))
    }

    @Test func manifestKeepsAtMostItsLimit() {
        var manifest = Manifest()
        for i in 0..<(Manifest.maximumEntries + 5) {
            manifest.add(ManifestEntry(files: [], absentPaths: [], result: Digest(high: UInt64(i), low: 0)))
        }
        #expect(manifest.entries.count == Manifest.maximumEntries)
        #expect(manifest.entries.first?.result.high == UInt64(Manifest.maximumEntries + 4))
    }

    @Test func truncatedManifestIsRejected() {
        let bytes = sampleManifest().encode()
        for cut in [1, 10, bytes.count / 2, bytes.count - 1] {
            #expect(throws: MalformedEntry.self) { try Manifest.decode(Array(bytes.prefix(cut))) }
        }
    }

    @Test func entryFrameDetectsDamage() throws {
        let key = Digest(high: 1, low: 2)
        let payload = Array(repeating: UInt8(7), count: 10_000) + Array("tail".utf8)
        var frame = EntryCodec.encode(payload, kind: .result, key: key, level: 3)
        #expect(frame.count < payload.count)
        #expect(try EntryCodec.decode(frame, kind: .result, key: key) == payload)
        #expect(throws: MalformedEntry.self) { try EntryCodec.decode(frame, kind: .manifest, key: key) }
        #expect(throws: MalformedEntry.self) {
            try EntryCodec.decode(Array(frame.prefix(frame.count - 3)), kind: .result, key: key)
        }
        frame[frame.count - 2] ^= 0xff
        #expect(throws: MalformedEntry.self) { try EntryCodec.decode(frame, kind: .result, key: key) }
        #expect(throws: MalformedEntry.self) { try EntryCodec.decode(Array("garbage".utf8), kind: .result, key: key) }
    }

    /// An entry is valid only at its own key: the same bytes under another key are damage, never a hit.
    @Test func entryIsBoundToItsKey() throws {
        let payload = Array("an object".utf8)
        for kind in EntryCodec.Kind.allCases {
            let frame = EntryCodec.encode(payload, kind: kind, key: Digest(high: 1, low: 2), level: 1)
            #expect(try EntryCodec.decode(frame, kind: kind, key: Digest(high: 1, low: 2)) == payload)
            #expect(throws: MalformedEntry.self) { try EntryCodec.decode(frame, kind: kind, key: Digest(high: 1, low: 3)) }
            #expect(throws: MalformedEntry.self) { try EntryCodec.decode(frame, kind: kind, key: Digest(high: 3, low: 2)) }
        }
    }

    /// A shared hit's frame is kept compressed in the local store, bound to the local key only; a frame of
    /// another payload, size or kind is not rekeyed, and a store writing a large payload still writes it raw.
    @Test func rekeyedFrameIsBoundToItsNewKeyOnly() throws {
        let payload = [UInt8](repeating: 7, count: 5000) + Array("tail".utf8)
        let remote = Digest(high: 9, low: 9), local = Digest(high: 4, low: 5)
        let frame = EntryCodec.encode(payload, kind: .result, key: remote, level: 1)
        #expect(EntryCodec.isCompressed(frame))
        let moved = try #require(EntryCodec.rekeyed(frame, payload: payload, kind: .result, key: local))
        #expect(moved.count == frame.count)
        #expect(try EntryCodec.decode(moved, kind: .result, key: local) == payload)
        #expect(throws: MalformedEntry.self) { try EntryCodec.decode(moved, kind: .result, key: remote) }
        #expect(EntryCodec.rekeyed(frame, payload: payload + [1], kind: .result, key: local) == nil)
        #expect(EntryCodec.rekeyed(frame, payload: payload, kind: .manifest, key: local) == nil)
        #expect(EntryCodec.rekeyed(Array(frame.prefix(10)), payload: payload, kind: .result, key: local) == nil)

        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("rekey-\(UUID().uuidString)").path
        defer { try? FileManager.default.removeItem(atPath: directory) }
        for (threshold, compressed) in [(1 << 20, true), (1000, false)] {
            let store = CacheStore(directory: directory + "/\(threshold)", compressionLevel: 1, uncompressedAbove: threshold)
            try store.write(local, kind: .result, payload: payload, frame: frame)
            let stored = try FileSystem.readFile(store.path(for: local, kind: .result))
            #expect(EntryCodec.isCompressed(stored) == compressed)
            #expect(store.read(local, kind: .result) == payload)
        }
    }

    /// Sizes are checked before anything is allocated: a claimed size beyond the frame's own, beyond what the
    /// compressed bytes may expand to, or a compression bomb's, is damage.
    @Test func entrySizesAreCheckedBeforeAllocating() throws {
        let key = Digest(high: 9, low: 9)
        let payload = Array(repeating: UInt8(0), count: 64 << 20)
        let bomb = EntryCodec.encode(payload, kind: .result, key: key, level: 3)
        // 64 MiB of zeros compress far beyond the accepted ratio: stored raw, still readable.
        #expect(bomb.count > payload.count)
        #expect(try EntryCodec.decode(bomb, kind: .result, key: key).count == payload.count)
        var small = EntryCodec.encode(Array(repeating: 1, count: 4096), kind: .result, key: key, level: 3)
        for claimed: UInt64 in [0xFFFF_FFFF, 1 << 40, 4097, 4095, 0] {
            var lie = small
            withUnsafeBytes(of: claimed.littleEndian) { lie.replaceSubrange(10..<18, with: $0) }
            #expect(throws: MalformedEntry.self) { try EntryCodec.decode(lie, kind: .result, key: key) }
        }
        small[9] = 7
        #expect(throws: MalformedEntry.self) { try EntryCodec.decode(small, kind: .result, key: key) }
    }

    /// A fixed-seed fuzz of the frame decoder and the payload decoders: damaged bytes throw, never trap.
    @Test func decodersSurviveDamage() throws {
        var generator = SeededGenerator(seed: 0x1acc)
        let key = Digest(high: 5, low: 6)
        var manifest = Manifest()
        manifest.add(ManifestEntry(
            files: [RecordedFile(path: "/usr/include/stdio.h", digest: Digest(high: 1, low: 1),
                                 status: FileStatus(device: 1, inode: 2, size: 3, modifiedNanoseconds: 4,
                                                    changedNanoseconds: 5, mode: 0), statTrusted: true)],
            absentPaths: ["a/b.h"], result: Digest(high: 7, low: 7)))
        let samples: [(EntryCodec.Kind, [UInt8])] = [
            (.manifest, manifest.encode()),
            (.result, CachedResult(stdout: [], stderr: Array("warning".utf8),
                                   files: [OutputFile(.object, Array(repeating: 0x7f, count: 300))]).encode()),
        ]
        var decoded = 0
        for (kind, payload) in samples {
            let frame = EntryCodec.encode(payload, kind: kind, key: key, level: 1)
            for _ in 0..<400 {
                var damaged = frame
                for _ in 0..<Int.random(in: 1...4, using: &generator) {
                    let at = Int.random(in: 0..<damaged.count, using: &generator)
                    damaged[at] = UInt8.random(in: 0...255, using: &generator)
                }
                if Bool.random(using: &generator) { damaged.removeLast(Int.random(in: 0..<damaged.count, using: &generator)) }
                if let bytes = try? EntryCodec.decode(damaged, kind: kind, key: key) {
                    decoded += 1
                    #expect(bytes == payload)
                }
                // The payload decoders alone, on damaged payloads with no checksum in the way.
                var raw = payload
                raw[Int.random(in: 0..<raw.count, using: &generator)] = UInt8.random(in: 0...255, using: &generator)
                raw.removeLast(Int.random(in: 0..<min(raw.count, 8), using: &generator))
                _ = try? Manifest.decode(raw)
                _ = try? CachedResult.decode(raw)
            }
        }
        #expect(decoded < 800)
    }

    @Test func resultRoundTrip() throws {
        let result = CachedResult(stdout: [1], stderr: Array("warning".utf8),
                                  files: [OutputFile(.object, [0, 1, 2]), OutputFile(.dependencyWithoutTarget, [58])])
        #expect(try CachedResult.decode(result.encode()) == result)
    }

    @Test func digestsDiffer() {
        #expect(Digest.of(Array("a".utf8)) != Digest.of(Array("b".utf8)))
        #expect(Digest.of([]).hex.count == 32)
        var one = StreamingHasher()
        one.update("ab")
        one.update("c")
        var two = StreamingHasher()
        two.update("a")
        two.update("bc")
        #expect(one.finalize() != two.finalize())
    }
}

@Suite struct ConfigurationTests {
    @Test func layersAndOrigins() throws {
        let files = ["/etc/incrcc.conf": "max_size = 2G\ncompression_level = 5\n",
                     "/c/incrcc.conf": "# comment\ncompression_level = 3\n"]
        let env = ["INCRCC_DIR": "/c", "INCRCC_CC": "clang", "HOME": "/home/u"]
        let config = try Configuration.load(lookup: { env[$0] }, readFile: { files[$0].map { Array($0.utf8) } })
        #expect(config.cacheDirectory == "/c")
        #expect(config.maxSize == 2_000_000_000)
        #expect(config.compressionLevel == 3)
        #expect(config.cCompiler == "clang")
        #expect(config.origin(of: "compression_level") == .file("/c/incrcc.conf"))
        #expect(config.origin(of: "cc") == .environment("INCRCC_CC"))
        #expect(config.origin(of: "max_size") == .file("/etc/incrcc.conf"))
    }

    @Test func badValuesAreReportedWithTheirPlace() {
        let files = ["/home/u/.cache/incrcc/incrcc.conf": "max_size = lots\n"]
        #expect(throws: ConfigurationError.self) {
            try Configuration.load(lookup: { $0 == "HOME" ? "/home/u" : nil }, readFile: { files[$0].map { Array($0.utf8) } })
        }
        do {
            _ = try Configuration.load(lookup: { ["HOME": "/h", "INCRCC_COMPRESSLEVEL": "99"][$0] }, readFile: { _ in nil })
            Issue.record("expected an error")
        } catch {
            #expect(error.message.contains("compression_level"))
        }
    }

    @Test func defaultCacheDirectory() {
        #expect(Configuration.defaultCacheDirectory(lookup: { ["XDG_CACHE_HOME": "/x", "HOME": "/h"][$0] }) == "/x/incrcc")
        #expect(Configuration.defaultCacheDirectory(lookup: { ["HOME": "/h"][$0] }) == "/h/.cache/incrcc")
        // Without HOME: per user, never a fixed name in /tmp that someone else could create first.
        #expect(Configuration.defaultCacheDirectory(lookup: { _ in nil }) == "/tmp/incrcc-\(geteuid())")
    }

    /// A cache directory another user owns is refused unless it is shared with a group of the caller.
    @Test(.enabled(if: geteuid() == 0)) func foreignCacheDirectoriesAreRefused() throws {
        let s = Scratch()
        for (name, owner, group, mode) in [("mine", 0, 0, 0o755), ("shared", 65534, 0, 0o2775),
                                           ("foreign", 65534, 65534, 0o755), ("open", 65534, 0, 0o777)] {
            try FileManager.default.createDirectory(atPath: s.file(name), withIntermediateDirectories: true)
            #expect(chown(s.file(name), uid_t(owner), gid_t(group)) == 0)
            #expect(chmod(s.file(name), mode_t(mode)) == 0)
        }
        #expect(CacheOwnership.problem(with: s.file("mine")) == nil)
        #expect(CacheOwnership.problem(with: s.file("shared")) == nil)
        #expect(CacheOwnership.problem(with: s.file("foreign")) != nil)
        #expect(CacheOwnership.problem(with: s.file("open")) != nil)
    }

    @Test func sizes() {
        #expect(SizeText.parse("5G") == 5_000_000_000)
        #expect(SizeText.parse("500M") == 500_000_000)
        #expect(SizeText.parse("2GiB") == 2 * 1024 * 1024 * 1024)
        #expect(SizeText.parse("1.5") == 1_500_000_000)
        #expect(SizeText.parse("0") == 0)
        #expect(SizeText.parse("1b") == 1 && SizeText.parse("500B") == 500)
        #expect(SizeText.parse("5GB") == 5_000_000_000)
        #expect(SizeText.parse("12X") == nil)
        #expect(SizeText.parse("") == nil)
        #expect(SizeText.format(5_000_000_000) == "5.0 GB")
    }
}

@Suite struct StatsTests {
    @Test func reportUsesCcacheKeys() {
        var values = CounterValues()
        values[.directHit] = 3
        values[.miss] = 1
        values[.cacheSizeBytes] = 4096
        let report = StatsReport(values: values, maxSize: 0, cacheDirectory: "/c")
        #expect(report.tabSeparated().contains("direct_cache_hit\t3\n"))
        #expect(report.tabSeparated().contains("cache_size_kibibyte\t4\n"))
        #expect(report.json().contains("\"cache_miss\": 1"))
        #expect(report.table().contains("75.0%"))
    }
}

@Suite struct LibclangLoaderTests {
    @Test func explicitPathWins() {
        #expect(LibclangLoader.candidates(lookup: { $0 == "INCRCC_LIBCLANG" ? "/x/libclang.so" : nil }) == ["/x/libclang.so"])
        let defaults = LibclangLoader.candidates(lookup: { _ in nil })
        #expect(defaults.first == "libclang.so.1")
        #expect(defaults.contains("/usr/lib/llvm-14/lib/libclang.so.1"))
    }

    @Test func missingLibraryIsAClearError() {
        do {
            _ = try LibclangLoader.load(lookup: { $0 == "INCRCC_LIBCLANG" ? "/nonexistent/libclang.so" : nil })
            Issue.record("expected a failure")
        } catch {
            #expect(error.description.contains("/nonexistent/libclang.so"))
        }
    }

    @Test(.enabled(if: FileSystem.exists("/usr/lib/llvm-14/lib/libclang.so.1")))
    func loadsDebianLibclang() throws {
        let clang = try LibclangLoader.load(lookup: { $0 == "INCRCC_LIBCLANG" ? "/usr/lib/llvm-14/lib/libclang.so.1" : nil })
        #expect(clang.version.contains("clang version"))
    }
}

/// A small deterministic generator (SplitMix64) for fuzzing from a fixed seed.
struct SeededGenerator: RandomNumberGenerator {
    var state: UInt64
    init(seed: UInt64) { state = seed }
    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE5_E9B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
}

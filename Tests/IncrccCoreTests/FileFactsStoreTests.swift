import Foundation
import Testing
@testable import IncrccCore

struct FileFactsStoreTests {
    /// A store whose clock runs ahead, so files written by the test count as settled.
    func store(_ s: Scratch, settled: Bool = true) -> FileFactsStore {
        let ahead: Int64 = settled ? 10_000_000_000 : 0
        return FileFactsStore(store: CacheStore(directory: s.file("cache"), compressionLevel: 1),
                              now: Clock.nowNanoseconds() + ahead)
    }

    /// Where the facts of `path`'s directory are kept.
    func recordPath(_ s: Scratch, for path: String) -> String {
        CacheStore(directory: s.file("cache"), compressionLevel: 1)
            .path(for: FileFactsStore.key(ofDirectory: Path.directory(of: path)), kind: .fileFacts)
    }

    /// Facts learned by a call of their own, written as the call ends.
    func remembered(_ s: Scratch, _ path: String, settled: Bool = true) -> (facts: FileFacts, status: FileStatus)? {
        let facts = store(s, settled: settled)
        defer { facts.flush() }
        return facts.facts(of: path)
    }

    @Test func recordRoundTripsEveryField() throws {
        var references = FileReferences()
        references.includes = [IncludeDirective(name: "a.h", isQuoted: true, isNext: false),
                               IncludeDirective(name: "sys/b.h", isQuoted: false, isNext: true)]
        references.existenceTests = [IncludeDirective(name: "c.h", isQuoted: false, isNext: false)]
        references.fallback = .precompiledHeader
        let record = FileFactsRecord(
            path: "/usr/include/x.h",
            status: FileStatus(device: 1, inode: 2, size: 3, modifiedNanoseconds: 4, changedNanoseconds: 5, mode: 0),
            facts: FileFacts(digest: Digest(high: 6, low: 7), references: references, timeMacros: [.clock, .timestamp]))
        #expect(try FileFactsRecord.decode(record.encode()) == record)
        let bytes = record.encode()
        #expect(throws: MalformedEntry.self) { try FileFactsRecord.decode(Array(bytes.dropLast())) }
        #expect(throws: MalformedEntry.self) { try FileFactsRecord.decode(bytes + [0]) }
    }

    @Test func settledFileIsRememberedAndServedFromTheRecord() throws {
        let s = Scratch()
        s.write("h.h", "#include <stdio.h>\nconst char *t = __TIME__;\n")
        s.write("other.h", "int other;\n")
        let header = s.file("h.h")
        let first = try #require(remembered(s, header))
        _ = remembered(s, s.file("other.h"))
        #expect(first.facts.references.includes.map(\.name) == ["stdio.h"])
        #expect(first.facts.digest == Digest.of(Array("#include <stdio.h>\nconst char *t = __TIME__;\n".utf8)))
        #expect(first.facts.mentionsTimeMacro)
        let recordFile = recordPath(s, for: header)
        let key = FileFactsStore.key(ofDirectory: s.path)
        let stored = try FileFactsDirectoryRecord.decode(
            try EntryCodec.decode(Array(try Data(contentsOf: URL(fileURLWithPath: recordFile))), kind: .fileFacts, key: key),
            directory: s.path)
        // One record for the directory holds both files.
        #expect(Set(stored.records.keys) == ["h.h", "other.h"])

        // A record that says something else about the same stat is what the store answers with: proof that
        // the file was not read again.
        var altered = stored
        altered.records["h.h"]?.facts.digest = Digest(high: 1, low: 1)
        try Data(EntryCodec.encode(altered.encode(), kind: .fileFacts, key: key, level: 1)).write(to: URL(fileURLWithPath: recordFile))
        let served = try #require(store(s).facts(of: header))
        #expect(served.facts.digest == Digest(high: 1, low: 1))
        #expect(served.facts.mentionsTimeMacro && served.facts.references == first.facts.references)
        // A record stored under another directory's name is refused.
        #expect(throws: MalformedEntry.self) { try FileFactsDirectoryRecord.decode(altered.encode(), directory: s.file("inc")) }
        #expect(throws: MalformedEntry.self) { try FileFactsDirectoryRecord.decode(altered.encode() + [0], directory: s.path) }
    }

    @Test func changedFileIsReadAgain() throws {
        let s = Scratch()
        s.write("h.h", "int a;\n")
        let header = s.file("h.h")
        _ = try #require(remembered(s, header))
        // Same size, new content: the ctime moves, so the record no longer applies.
        s.write("h.h", "int b;\n")
        let again = try #require(remembered(s, header))
        #expect(again.facts.digest == Digest.of(Array("int b;\n".utf8)))
    }

    @Test func recentFileIsNeverRemembered() throws {
        let s = Scratch()
        s.write("h.h", "int a;\n")
        let header = s.file("h.h")
        #expect(remembered(s, header, settled: false)?.facts.digest == Digest.of(Array("int a;\n".utf8)))
        #expect(!FileManager.default.fileExists(atPath: recordPath(s, for: header)))
    }

    @Test func damagedRecordIsReadAgainAndReplaced() throws {
        let s = Scratch()
        s.write("h.h", "#include \"x.h\"\n")
        let header = s.file("h.h")
        _ = try #require(remembered(s, header))
        let recordFile = recordPath(s, for: header)
        var bytes = Array(try Data(contentsOf: URL(fileURLWithPath: recordFile)))
        bytes[bytes.count - 2] ^= 0xff
        try Data(bytes).write(to: URL(fileURLWithPath: recordFile))
        let again = try #require(remembered(s, header))
        #expect(again.facts.references.includes.map(\.name) == ["x.h"])
        #expect(try EntryCodec.decode(Array(try Data(contentsOf: URL(fileURLWithPath: recordFile))), kind: .fileFacts,
                                      key: FileFactsStore.key(ofDirectory: s.path)).count > 0)
    }

    @Test func writtenRecordsAreCountedOnFlush() throws {
        let s = Scratch()
        s.write("a.h", "int a;\n")
        s.write("b.h", "int b;\n")
        let facts = store(s)
        _ = facts.facts(of: s.file("a.h"))
        _ = facts.facts(of: s.file("b.h"))
        _ = facts.facts(of: s.file("a.h"))
        let stats = StatsFiles(cacheDirectory: s.file("cache"))
        func total(_ counter: Counter) -> UInt64 { (0..<StatsFiles.shardCount).reduce(0) { $0 + stats.read(shard: $1)[counter] } }
        #expect(total(.cacheSizeBytes) == 0)
        facts.flush()
        // Their bytes count towards the size; files_in_cache counts results and manifests only, as ccache does.
        #expect(total(.filesInCache) == 0)
        #expect(total(.cacheSizeBytes) > 0)
    }

    /// SHA-256 digests are remembered in one record per directory: read by a later call without reading the
    /// files, never stale after a change, and a record stored for another directory is not used.
    @Test func strongDigestsAreRememberedPerDirectory() throws {
        let s = Scratch()
        s.write("inc/a.h", "#define A 1\n")
        s.write("inc/b.h", "#define B 2\n")
        let first = store(s)
        for name in ["a.h", "b.h"] {
            let known = try #require(first.strongDigest(of: s.file("inc/" + name)))
            #expect(known.strong == StrongDigest.of(Array(try #require(s.read("inc/" + name)))))
        }
        first.flush()
        let cache = CacheStore(directory: s.file("cache"), compressionLevel: 1)
        let payload = try #require(cache.read(FileFactsStore.strongKey(of: s.file("inc")), kind: .fileFacts))
        let stored = try StrongDigestRecord.decode(payload, directory: s.file("inc"))
        #expect(Set(stored.entries.keys) == ["a.h", "b.h"])
        // A later call answers from the record alone: the file made unreadable keeps its stat's answer.
        chmod(s.file("inc/a.h"), 0)
        if getuid() != 0 {
            #expect(store(s).strongDigest(of: s.file("inc/a.h"))?.strong == stored.entries["a.h"]?.strong)
        }
        chmod(s.file("inc/a.h"), 0o644)
        s.write("inc/a.h", "#define A 10\n")
        #expect(store(s).strongDigest(of: s.file("inc/a.h"))?.strong == StrongDigest.of(Array("#define A 10\n".utf8)))
        #expect(throws: MalformedEntry.self) {
            try StrongDigestRecord.decode(stored.encode(), directory: s.file("other"))
        }
        #expect(throws: MalformedEntry.self) { try StrongDigestRecord.decode(stored.encode() + [0], directory: s.file("inc")) }
    }

    /// Before a fork the SHA-256 records stay pending for the detached child; once handed over, this
    /// process never writes them, and a plain flush still does.
    @Test func strongDigestsWaitForTheChildThatWritesThem() throws {
        let s = Scratch()
        s.write("inc/a.h", "#define A 1\n")
        let cache = CacheStore(directory: s.file("cache"), compressionLevel: 1)
        let recordPath = cache.path(for: FileFactsStore.strongKey(of: s.file("inc")), kind: .fileFacts)
        let parent = store(s)
        _ = try #require(parent.strongDigest(of: s.file("inc/a.h")))
        parent.flush(strongDigests: false)
        #expect(!FileManager.default.fileExists(atPath: recordPath))
        parent.handStrongDigestsToChild()
        parent.flush()
        #expect(!FileManager.default.fileExists(atPath: recordPath), "handed over: written by the child alone")
        let child = store(s)
        _ = try #require(child.strongDigest(of: s.file("inc/a.h")))
        child.flush(strongDigests: false)
        child.flush()
        #expect(FileManager.default.fileExists(atPath: recordPath))
    }

    /// A stored record is searched, not decoded whole: every entry is found by name (names of any bytes,
    /// in any number), absent names are not, and what `decode` refuses is refused, with names out of order.
    @Test func storedStrongDigestsFindEachEntryByName() throws {
        var record = StrongDigestRecord(directory: "/inc")
        let names = (0..<500).map { "h\($0).h" } + ["a", "zz", "é.h", "Ä.h", "\u{1F600}.h", "b.h.orig"]
        for (index, name) in names.enumerated() {
            let status = FileStatus(device: 1, inode: UInt64(index), size: Int64(index), modifiedNanoseconds: 5,
                                    changedNanoseconds: 6, mode: 0)
            record.entries[name] = StrongDigestRecord.Entry(
                status: status, digest: Digest.of(Array(name.utf8)), strong: StrongDigest.of(Array(name.utf8)))
        }
        let bytes = record.encode()
        let stored = try StoredStrongDigests(bytes, directory: "/inc")
        #expect(stored.count == names.count)
        for name in names {
            let entry = try #require(stored.entry(named: name), "\(name)")
            #expect(entry.strong == StrongDigest.of(Array(name.utf8)) && entry.status.inode == record.entries[name]?.status.inode)
            #expect(entry == record.entries[name])
        }
        for absent in ["", "h5", "h500.h", "zzz", "e.h", "0"] { #expect(stored.entry(named: absent) == nil, "\(absent)") }
        #expect(throws: MalformedEntry.self) { try StoredStrongDigests(bytes, directory: "/other") }
        #expect(throws: MalformedEntry.self) { try StoredStrongDigests(bytes + [0], directory: "/inc") }
        #expect(throws: MalformedEntry.self) { try StoredStrongDigests(Array(bytes.dropLast()), directory: "/inc") }
        // Two entries written out of order, and a name with a slash.
        func written(_ pairs: [String]) -> [UInt8] {
            var writer = ByteWriter()
            writer.write("/inc")
            writer.write(UInt64(pairs.count))
            for name in pairs {
                writer.write(name)
                writer.write(FileStatus(device: 0, inode: 0, size: 0, modifiedNanoseconds: 0, changedNanoseconds: 0, mode: 0))
                writer.write(Digest.of([1]))
                writer.appendRaw(StrongDigest.of([1]).bytes)
            }
            return writer.bytes
        }
        #expect((try? StoredStrongDigests(written(["a.h", "b.h"]), directory: "/inc"))?.entry(named: "b.h") != nil)
        #expect(throws: MalformedEntry.self) { try StoredStrongDigests(written(["b.h", "a.h"]), directory: "/inc") }
        #expect(throws: MalformedEntry.self) { try StoredStrongDigests(written(["a.h", "a.h"]), directory: "/inc") }
        #expect(throws: MalformedEntry.self) { try StoredStrongDigests(written(["a/b.h"]), directory: "/inc") }
    }
}

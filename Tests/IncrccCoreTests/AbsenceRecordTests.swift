import Foundation
import Testing
@testable import IncrccCore

struct AbsenceRecordTests {
    func status(_ path: String) -> FileStatus? { (try? FileSystem.statusIfExists(path)) ?? nil }
    func statusNow(_ index: Int, _ path: String) -> FileStatus? { status(path) }
    func n(_ name: String) -> Digest { AbsenceRecord.nameDigest(name.utf8) }

    /// `record.remember(path)` with the real stats and every directory taken as settled unless told.
    func remember(_ record: inout AbsenceRecord, _ path: String, settled: Bool = true) -> Bool {
        record.remember([path], status: status, isSettled: { _ in settled })
    }

    /// A directory whose mtime lies in the past, so that an entry created in it later moves the mtime even
    /// within the kernel's clock tick.
    func oldDirectory(_ s: Scratch, _ name: String) -> String {
        let path = s.file(name)
        try? FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
        var times = [timeval(tv_sec: 1_000_000_000, tv_usec: 0), timeval(tv_sec: 1_000_000_000, tv_usec: 0)]
        _ = utimes(path, &times)
        return path
    }

    @Test func aRememberedNameStaysAbsentUntilTheDirectoryChanges() {
        let s = Scratch()
        let directory = oldDirectory(s, "inc")
        var record = AbsenceRecord()
        let rememberedConfig = remember(&record, directory + "/config.h")
        #expect(rememberedConfig)
        #expect(record.provesAbsent(directory + "/config.h", status: statusNow))
        // Another name of the same directory was never checked.
        #expect(!record.provesAbsent(directory + "/other.h", status: statusNow))
        s.write("inc/config.h", "#define X 1\n")
        #expect(!record.provesAbsent(directory + "/config.h", status: statusNow))
    }

    @Test func aMissingSubdirectoryIsRememberedInItsExistingParent() throws {
        let s = Scratch()
        let directory = oldDirectory(s, "inc")
        var record = AbsenceRecord()
        let rememberedBits = remember(&record, directory + "/bits/types/FILE.h")
        #expect(rememberedBits)
        #expect(record.directories[directory]?.names == [AbsenceRecord.nameDigest("bits".utf8)])
        #expect(record.provesAbsent(directory + "/bits/types/FILE.h", status: statusNow))
        // Anything under the missing name is absent as well.
        #expect(record.provesAbsent(directory + "/bits/other.h", status: statusNow))
        try FileManager.default.createDirectory(atPath: directory + "/bits/types", withIntermediateDirectories: true)
        #expect(!record.provesAbsent(directory + "/bits/types/FILE.h", status: statusNow))
    }

    /// Remembered together, candidates sharing a missing directory are walked once and each is still proven,
    /// next to candidates of the existing directory and a dangling link, which is not.
    @Test func candidatesSharingAMissingDirectoryAreRememberedTogether() throws {
        let s = Scratch()
        let directory = oldDirectory(s, "inc")
        try FileManager.default.createSymbolicLink(atPath: directory + "/link.h", withDestinationPath: s.file("target.h"))
        let paths = ["bits/a.h", "bits/b.h", "z.h", "bits/types/c.h", "link.h", "bits/d.h"].map { directory + "/" + $0 }
        var record = AbsenceRecord()
        let added = record.remember(paths, status: status, isSettled: { _ in true })
        #expect(added)
        #expect(record.directories[directory]?.names == [n("bits"), n("z.h")])
        for path in paths where !path.hasSuffix("link.h") { #expect(record.provesAbsent(path, status: statusNow), "\(path)") }
        #expect(!record.provesAbsent(directory + "/link.h", status: statusNow))
    }

    @Test func onlyNamesWithNoEntryAtAllAreRemembered() throws {
        let s = Scratch()
        let directory = oldDirectory(s, "inc")
        // A dangling link is absent to the compiler, but its target may appear without the directory changing.
        try FileManager.default.createSymbolicLink(atPath: directory + "/link.h", withDestinationPath: s.file("target.h"))
        s.write("inc/file.h", "")
        var record = AbsenceRecord()
        let rememberedLink = remember(&record, directory + "/link.h")
        #expect(!rememberedLink)
        // A file where a directory is expected.
        let rememberedUnderFile = remember(&record, directory + "/file.h/x.h")
        #expect(!rememberedUnderFile)
        // Relative paths depend on the working directory.
        let rememberedRelative = remember(&record, "inc/none.h")
        #expect(!rememberedRelative)
        // A directory too young to stand for its names.
        let rememberedYoung = remember(&record, directory + "/young.h", settled: false)
        #expect(!rememberedYoung)
        #expect(record.directories.isEmpty)
        #expect(!record.provesAbsent(directory + "/link.h", status: statusNow))
    }

    @Test func aDirectorySwappedInUnderTheSameNameProvesNothing() throws {
        let s = Scratch()
        let directory = oldDirectory(s, "inc")
        var record = AbsenceRecord()
        let rememberedConfig = remember(&record, directory + "/config.h")
        #expect(rememberedConfig)
        try FileManager.default.moveItem(atPath: directory, toPath: s.file("old"))
        _ = oldDirectory(s, "inc")
        #expect(!record.provesAbsent(directory + "/config.h", status: statusNow))
    }

    @Test func recordsRoundTripMergeAndRefuseDamage() throws {
        let one = FileStatus(device: 1, inode: 2, size: 3, modifiedNanoseconds: 4, changedNanoseconds: 5, mode: 0)
        let two = FileStatus(device: 1, inode: 2, size: 3, modifiedNanoseconds: 9, changedNanoseconds: 9, mode: 0)
        var mine = AbsenceRecord(directories: ["/a": .init(status: one, names: [n("x.h")]),
                                               "/b": .init(status: two, names: [n("y.h")])])
        #expect(try AbsenceRecord.decode(mine.encode()) == mine)
        let stored = AbsenceRecord(directories: ["/a": .init(status: one, names: [n("z.h")]),
                                                 "/b": .init(status: one, names: [n("old.h")]),
                                                 "/c": .init(status: one, names: [n("w.h")])])
        mine.merge(stored)
        #expect(mine.directories["/a"]?.names == [n("x.h"), n("z.h")])
        // Under another stat, the newer knowledge stands alone.
        #expect(mine.directories["/b"]?.names == [n("y.h")])
        #expect(mine.directories["/c"]?.names == [n("w.h")])
        let bytes = mine.encode()
        #expect(throws: MalformedEntry.self) { try AbsenceRecord.decode(Array(bytes.dropLast())) }
        #expect(throws: MalformedEntry.self) { try AbsenceRecord.decode(bytes + [0]) }
        let relative = AbsenceRecord(directories: ["inc": .init(status: one, names: [n("x.h")])])
        #expect(throws: MalformedEntry.self) { try AbsenceRecord.decode(relative.encode()) }
    }

    @Test func theStoreKeepsTheRecordForTheNextCall() {
        let s = Scratch()
        let directory = oldDirectory(s, "inc")
        let ahead = Clock.nowNanoseconds() + 10_000_000_000
        let first = FileFactsStore(store: CacheStore(directory: s.file("cache"), compressionLevel: 1), now: ahead)
        #expect(!first.remembersAbsent(directory + "/config.h"))
        first.rememberAbsent([directory + "/config.h"])
        first.flush()
        let next = FileFactsStore(store: CacheStore(directory: s.file("cache"), compressionLevel: 1), now: ahead)
        #expect(next.remembersAbsent(directory + "/config.h"))
        s.write("inc/config.h", "")
        let after = FileFactsStore(store: CacheStore(directory: s.file("cache"), compressionLevel: 1), now: ahead)
        #expect(!after.remembersAbsent(directory + "/config.h"))
    }

    /// One call that remembers twice, in several directories, and asks in between and after: every answer
    /// holds although the record's directories were indexed anew each time.
    @Test func oneCallRemembersAndAsksInTurns() {
        let s = Scratch()
        let directories = (0..<6).map { oldDirectory(s, "d\($0)") }
        let ahead = Clock.nowNanoseconds() + 10_000_000_000
        let facts = FileFactsStore(store: CacheStore(directory: s.file("cache"), compressionLevel: 1), now: ahead)
        facts.rememberAbsent(directories.prefix(3).map { $0 + "/a.h" })
        for directory in directories.prefix(3) { #expect(facts.remembersAbsent(directory + "/a.h")) }
        facts.rememberAbsent(directories.suffix(3).map { $0 + "/b.h" })
        facts.flush()
        for directory in directories.prefix(3) { #expect(facts.remembersAbsent(directory + "/a.h")) }
        for directory in directories.suffix(3) { #expect(facts.remembersAbsent(directory + "/b.h")) }
        #expect(!facts.remembersAbsent(directories[0] + "/b.h"))
    }

    /// Many names at once, as a shared hit remembers them: each proven afterwards, names already known add
    /// nothing, and a directory whose stat moved starts over with the names found now.
    @Test func namesRememberedTogetherAreEachProven() throws {
        let s = Scratch()
        let one = oldDirectory(s, "one")
        let two = oldDirectory(s, "two")
        let names = (0..<300).map { "h\($0).h" }
        var record = AbsenceRecord()
        let paths = names.map { one + "/" + $0 } + [two + "/x.h", two + "/sub/y.h"]
        let added = record.remember(paths, status: status, isSettled: { _ in true })
        #expect(added)
        for path in paths { #expect(record.provesAbsent(path, status: statusNow), "\(path)") }
        #expect(record.directories[one]?.names.count == 300)
        let again = record.remember(paths, status: status, isSettled: { _ in true })
        #expect(!again, "nothing new")
        s.write("two/z.h", "")
        let afterChange = record.remember([two + "/w.h"], status: status, isSettled: { _ in true })
        #expect(afterChange)
        #expect(record.directories[two]?.names == [n("w.h")], "the old names went with the old stat")
        #expect(!record.provesAbsent(two + "/x.h", status: statusNow))
        #expect(record.provesAbsent(two + "/w.h", status: statusNow))
    }
}

struct AbsenceProbeTests {
    final class Count { var stats = 0 }

    /// Every answer is `stat`'s (present files, absent names, paths through a missing directory, through a
    /// file, through dangling links), and the candidates under a missing directory cost no stat each.
    @Test func answersAsStatDoesWithAStatPerMissingDirectory() throws {
        let s = Scratch()
        s.write("inc/a.h", "int a;\n")
        _ = symlink(s.file("nowhere.h"), s.file("inc/dangling.h"))
        _ = symlink(s.file("nowhere"), s.file("inc/linkdir"))
        let count = Count()
        var probe = AbsenceProbe(status: { path throws(SystemError) in
            count.stats += 1
            return try FileSystem.statusIfExists(path)
        })
        let candidates = ["inc/a.h", "inc/b.h", "inc/a.h/x.h", "inc/dangling.h", "inc/linkdir/x.h", "inc", "inc/a.h"]
            + (0..<20).map { "inc/bits/h\($0).h" } + ["inc/bits/types/t.h", "inc/bits/types/u.h", "inc/linkdir/y.h"]
        for candidate in candidates.map(s.file) {
            let expected = (try? FileSystem.statusIfExists(candidate)) == .some(nil)
            let answer = probe.isAbsent(candidate)
            #expect(answer == expected, "\(candidate)")
        }
        // 20 candidates in the missing `bits`: the first one and `bits` itself; `types` below it once.
        count.stats = 0
        var absent = 0
        for index in 20..<40 where probe.isAbsent(s.file("inc/bits/h\(index).h")) { absent += 1 }
        let typesAbsent = probe.isAbsent(s.file("inc/bits/types/v.h"))
        #expect(absent == 20 && typesAbsent)
        #expect(count.stats == 0)

        // A new probe (a new call) sees the directory that appeared.
        s.write("inc/bits/h3.h", "int h;\n")
        var fresh = AbsenceProbe()
        let appeared = fresh.isAbsent(s.file("inc/bits/h3.h")), stillMissing = fresh.isAbsent(s.file("inc/bits/h4.h"))
        #expect(!appeared && stillMissing)
    }
}

import Foundation
import Testing
@testable import IncrccCore

@Suite struct BackgroundStoreTests {
    func writers(_ s: Scratch) -> BackgroundStore {
        try? FileManager.default.createDirectory(atPath: s.file("cache/tmp"), withIntermediateDirectories: true)
        return BackgroundStore(store: CacheStore(directory: s.file("cache"), compressionLevel: 1))
    }

    static let shortWait: Int64 = 30_000_000

    @Test func aWriterHoldsItsKeyAndTheCommandsUntilItFinishes() throws {
        let s = Scratch()
        let store = writers(s)
        let key = Digest.of(Array("one key".utf8))
        let other = Digest.of(Array("another key".utf8))
        #expect(!store.waitForWriter(of: key, waitingAtMost: Self.shortWait), "no writer: nothing to wait for")
        #expect(store.waitForAllWriters(waitingAtMost: Self.shortWait))

        let locks = try #require(store.begin(key))
        #expect(FileManager.default.fileExists(atPath: store.markerPath(key)))
        #expect(store.begin(key) == nil, "a second writer of the same key has to store in the foreground")
        #expect(!store.waitForWriter(of: key, waitingAtMost: Self.shortWait), "a writer outlasting the wait is not waited out")
        #expect(!store.waitForAllWriters(waitingAtMost: Self.shortWait))
        let second = try #require(store.begin(other), "writers of other keys work side by side")

        store.finish(key, marker: locks.marker)
        close(locks.writers)
        #expect(!FileManager.default.fileExists(atPath: store.markerPath(key)))
        #expect(!store.waitForWriter(of: key, waitingAtMost: Self.shortWait))
        #expect(!store.waitForAllWriters(waitingAtMost: Self.shortWait), "the other writer is still at work")
        store.finish(other, marker: second.marker)
        close(second.writers)
        #expect(store.waitForAllWriters(waitingAtMost: Self.shortWait))
    }

    @Test func aMarkerLeftByAKilledWriterIsNoObstacle() throws {
        let s = Scratch()
        let store = writers(s)
        let key = Digest.of(Array("killed writer".utf8))
        let marker = store.markerPath(key)
        try FileManager.default.createDirectory(atPath: (marker as NSString).deletingLastPathComponent,
                                                withIntermediateDirectories: true)
        #expect(FileManager.default.createFile(atPath: marker, contents: Data()))
        #expect(store.waitForWriter(of: key, waitingAtMost: Self.shortWait), "no lock on it: the lookup is repeated at once")
        let locks = try #require(store.begin(key), "the next writer takes the marker over")
        store.finish(key, marker: locks.marker)
        close(locks.writers)
        #expect(!FileManager.default.fileExists(atPath: marker))
    }

    @Test func cleanupRemovesMarkersOfKilledWritersOnly() throws {
        let s = Scratch()
        let store = writers(s)
        let old = store.markerPath(Digest.of(Array("old".utf8)))
        let recent = store.markerPath(Digest.of(Array("recent".utf8)))
        for marker in [old, recent] {
            try FileManager.default.createDirectory(atPath: (marker as NSString).deletingLastPathComponent,
                                                    withIntermediateDirectories: true)
            #expect(FileManager.default.createFile(atPath: marker, contents: Data()))
        }
        let twoHoursAgo = Date(timeIntervalSinceNow: -7200)
        try FileManager.default.setAttributes([.modificationDate: twoHoursAgo], ofItemAtPath: old)
        Cleanup(store: store.store, maxSize: 1 << 30).cleanAll(limit: 1 << 30, now: Clock.nowNanoseconds())
        #expect(!FileManager.default.fileExists(atPath: old))
        #expect(FileManager.default.fileExists(atPath: recent), "a writer may still be at work")
    }

    @Test func settingAndEnvironment() throws {
        var config = try Configuration.load(lookup: { _ in nil }, readFile: { _ in nil })
        #expect(config.backgroundStore)
        config = try Configuration.load(lookup: { $0 == "INCRCC_BACKGROUND_STORE" ? "0" : nil }, readFile: { _ in nil })
        #expect(!config.backgroundStore)
        #expect(config.origin(of: "background_store") == .environment("INCRCC_BACKGROUND_STORE"))
        #expect(throws: ConfigurationError.self) {
            try Configuration.load(lookup: { _ in nil }, readFile: { path in path.hasSuffix("incrcc.conf") ? Array("background_store = later\n".utf8) : nil })
        }
    }
}

@Suite(.enabled(if: Tools.required(Tools.hasIncrcc && Tools.hasGCC)))
struct BackgroundStoreEndToEndTests {
    /// The process id a log line was written by, for the first line containing `text`.
    func writer(of text: String, in log: String) -> String? {
        guard let line = log.split(separator: "\n").first(where: { $0.contains(text) }),
              line.hasPrefix("["), let close = line.firstIndex(of: "]") else { return nil }
        return String(line[line.index(after: line.startIndex)..<close])
    }

    @Test func missesStoreAfterReturningExceptWhereThatCouldLoseEntries() throws {
        let s = Scratch()
        let cases: [(env: [String: String], detached: Bool)] = [
            ([:], true),
            (["INCRCC_BACKGROUND_STORE": "false"], false),
            (["NIX_BUILD_TOP": s.path], false),
            (["NIX_BUILD_TOP": s.path, "IN_NIX_SHELL": "impure"], true),
        ]
        for (index, item) in cases.enumerated() {
            s.write("a\(index).c", "#include <stdio.h>\nint f\(index)(void) { return \(index); }\n")
            let log = s.file("log\(index).txt")
            let r = try incrcc(["gcc", "-c", "a\(index).c", "-o", "a\(index).o"], in: s,
                               env: item.env.merging(["INCRCC_LOGFILE": log]) { $1 })
            #expect(r.status == 0)
            try awaitStores(s)
            let text = s.text("log\(index).txt")
            let caller = try #require(writer(of: "direct key", in: text))
            let storer = try #require(writer(of: "stored result", in: text), "\(text)")
            #expect((caller != storer) == item.detached, "\(item.env): \(text)")
        }
        let values = try stats(s)
        #expect(values["cache_miss"] == 4)
        #expect(values["files_in_cache"].map { $0 >= 8 } == true, "the detached children counted their files")
    }

    @Test func aCallWaitsForTheEntriesOfAWriterOfItsKey() throws {
        let s = Scratch()
        s.write("main.c", "#include <stdlib.h>\nint main(void) { return abs(-3); }\n")
        let args = ["gcc", "-O2", "-c", "main.c", "-o", "main.o"]
        try incrcc(args, in: s, env: ["INCRCC_LOGFILE": s.file("log.txt")])
        try awaitStores(s)
        let line = try #require(s.text("log.txt").split(separator: "\n").first { $0.contains("direct key ") })
        let hex = String(try #require(line.split(separator: " ").last))
        let directory = s.file("cache/\(hex.prefix(1))/\(hex.dropFirst().prefix(1))")
        let manifest = directory + "/\(hex).M"
        let saved = try #require(FileManager.default.contents(atPath: manifest))
        try FileManager.default.removeItem(atPath: manifest)
        // The entry under the key without macros and include directories would serve the call too.
        for case let name as String in FileManager.default.enumerator(atPath: s.file("cache"))?.allObjects ?? []
        where name.hasSuffix(".L") {
            try FileManager.default.removeItem(atPath: s.file("cache/" + name))
        }

        // This test plays a writer still at work: the marker locked, the manifest not yet there.
        let marker = open(directory + "/\(hex).P", O_RDWR | O_CREAT | O_CLOEXEC, 0o644)
        #expect(marker >= 0)
        #expect(flock(marker, LOCK_EX) == 0)
        let waiting = try start([Tools.incrcc] + args, in: s)
        Thread.sleep(forTimeInterval: 0.5)
        var status: Int32 = 0
        #expect(waitpid(waiting.pid, &status, WNOHANG) == 0, "the call waits while the writer works")
        #expect(FileManager.default.createFile(atPath: manifest, contents: saved))
        unlink(directory + "/\(hex).P")
        close(marker)
        #expect(try waiting.finish().status == 0)
        let values = try stats(s)
        #expect(values["direct_cache_hit"] == 1 && values["cache_miss"] == 1)
    }
}

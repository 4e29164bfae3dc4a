import Foundation
import Testing

/// Who may write the shared tier is the server's to decide, not the client's: a Redis ACL user limited to
/// reads and an HTTP server that takes PUT only from writers serve hits to untrusted builds, which cannot
/// write however they are configured. Such a refusal is counted and logged, not warned about.
@Suite(.enabled(if: Tools.required(Tools.hasIncrcc && Tools.hasGCC && Tools.hasMake && SharedTools.hasHelpers)),
       .timeLimit(Tools.suiteTimeLimit))
struct SharedPermissionTests {
    let project = SharedCacheEndToEndTests()

    /// A trusted machine fills the server with `writer`; an untrusted one with `reader` gets every unit as a
    /// shared hit, then builds an edited project whose uploads the server refuses. Returns the untrusted
    /// machine's edited build.
    func trustedWritesUntrustedReads(_ s: Scratch, writer: String, reader: String) throws -> (RunResult, [String: Int]) {
        let trusted = Machine("trusted", s, remote: writer)
        let untrusted = Machine("untrusted", s, remote: reader)
        defer { trusted.stopHelpers(); untrusted.stopHelpers() }
        project.writeProject(s, at: "ci/proj")
        project.writeProject(s, at: "pr/proj")
        #expect(try project.build(s, "ci/proj", on: trusted).status == 0)
        #expect(try trusted.stats()["remote_storage_write"] == 8)
        let read = try project.build(s, "pr/proj", on: untrusted)
        #expect(read.status == 0 && read.stderr.isEmpty, "\(read.stderr)")
        #expect(try untrusted.stats()["remote_storage_read_hit"] == 4)
        #expect(project.objects(s, "pr/proj") == (try project.plainObjects(s, "pr/proj")))
        // An untrusted change: its results must not reach anyone. Written a kernel tick (4 ms at HZ=250, the
        // grain of file times) after the objects `plainObjects` put back, or make may take it as no newer.
        usleep(20_000)
        s.write("pr/proj/include/shape.h", "#pragma once\n#define SCALE 4\nint area(int w, int h);\nint perimeter(int w, int h);\nint scale(int v);\n")
        let edited = try project.build(s, "pr/proj", on: untrusted)
        #expect(edited.status == 0)
        return (edited, try untrusted.stats())
    }

    @Test(.enabled(if: Tools.required(SharedTools.hasRedis)))
    func redisReaderWithoutWriteRightsCannotWrite() throws {
        let s = Scratch()
        let server = try RedisServer.start(s, name: "redis", configuration: [
            "user default off",
            "user writer on >w-secret ~incrcc:* +@all",
            "user reader on >r-secret ~incrcc:* +get +exists",
        ])
        defer { server.stop() }
        let admin = ["--user", "writer", "--pass", "w-secret"]
        let (edited, stats) = try trustedWritesUntrustedReads(
            s, writer: "redis://writer:w-secret@127.0.0.1:\(server.port)", reader: "redis://reader:r-secret@127.0.0.1:\(server.port)")
        #expect(try server.keyCount(auth: admin) == 8, "nothing the untrusted build compiled was stored")
        #expect(try server.cli(["ACL", "LOG"], auth: admin).stdout.lowercased().contains("set"), "the server refused the writes")
        #expect((stats["remote_storage_error"] ?? 0) >= 1 && (stats["remote_storage_write"] ?? 0) == 0, "\(stats)")
        #expect(!edited.stderr.contains("warning"), "a refusal is no outage: \(edited.stderr)")
    }

    @Test(.enabled(if: Tools.required(SharedTools.hasNginx)))
    func httpServerTakesPutsOnlyFromWriters() throws {
        let s = Scratch()
        let server = try NginxServer.start(s, writer: (user: "ci", password: "c-secret"))
        defer { server.stop() }
        let base = "127.0.0.1:\(server.httpPort)/cache"
        let (edited, stats) = try trustedWritesUntrustedReads(s, writer: "http://ci:c-secret@" + base, reader: "http://" + base)
        #expect(server.storedFiles().count == 8, "nothing the untrusted build compiled was stored")
        #expect((stats["remote_storage_error"] ?? 0) >= 1 && (stats["remote_storage_write"] ?? 0) == 0, "\(stats)")
        #expect(!edited.stderr.contains("warning"), "a refusal is no outage: \(edited.stderr)")
    }
}

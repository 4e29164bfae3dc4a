import Foundation
import StorageProtocol
import Testing

/// The shared tier on a Remote Execution API server (BuildGrid), through incrcc-storage-reapi: what one
/// machine compiles, another gets as hits; large entries travel through ByteStream; a server that is down
/// or that returns bytes other than their digest costs a warning, never a wrong object.
@Suite(.enabled(if: Tools.required(Tools.hasIncrcc && Tools.hasGCC && Tools.hasMake && SharedTools.hasBuildGrid)),
       .timeLimit(Tools.suiteTimeLimit))
struct SharedReapiTests {
    let project = SharedCacheEndToEndTests()

    /// grpcs:// with the server's certificate named by `ca-file`: shared as over plaintext. Without it the
    /// certificate is not trusted, and the build goes on with one warning.
    @Test(.enabled(if: Tools.required(SharedTools.openssl != nil)))
    func tlsWithTheServersCertificateAuthority() throws {
        let s = Scratch()
        let made = try run([SharedTools.openssl ?? "openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes",
                            "-keyout", s.file("key.pem"), "-out", s.file("cert.pem"), "-days", "2", "-subj", "/CN=127.0.0.1",
                            "-addext", "subjectAltName=IP:127.0.0.1"], in: s)
        #expect(made.status == 0, "\(made.stderr)")
        let server = try BuildGridServer.start(s, instance: "", tls: (s.file("cert.pem"), s.file("key.pem")))
        defer { server.stop() }
        let url = "grpcs://127.0.0.1:\(server.port)|ca-file=\(s.file("cert.pem"))"
        let a = Machine("a", s, remote: url)
        let b = Machine("b", s, remote: url)
        let untrusting = Machine("c", s, remote: "grpcs://127.0.0.1:\(server.port)")
        defer { a.stopHelpers(); b.stopHelpers(); untrusting.stopHelpers() }
        for dir in ["a/proj", "b/proj", "c/proj"] { project.writeProject(s, at: dir) }
        let first = try project.build(s, "a/proj", on: a)
        #expect(first.status == 0 && first.stderr.isEmpty, "\(first.stderr)")
        // The statistics wait for the uploads, which happen after each call returned.
        let statsA = try a.stats()
        #expect(statsA["remote_storage_write"] == 8, "a result and a manifest per unit: \(statsA)")
        let second = try project.build(s, "b/proj", on: b)
        #expect(second.status == 0 && second.stderr.isEmpty, "\(second.stderr)")
        let statsB = try b.stats()
        #expect(statsB["remote_storage_read_hit"] == 4, "\(statsB)")
        #expect(project.objects(s, "b/proj") == (try project.plainObjects(s, "b/proj")))
        let refused = try project.build(s, "c/proj", on: untrusting)
        #expect(refused.status == 0, "\(refused.stderr)")
        #expect(refused.stderr.components(separatedBy: "warning: remote storage").count - 1 == 1, "\(refused.stderr)")
        #expect(try untrusting.stats()["remote_storage_read_hit"] ?? 0 == 0)
    }

    /// The helper started by hand, as `crsh:` users do, and a client connected to it.
    func startHelper(_ s: Scratch, url: String) throws -> (StorageHelperClient, StartedProcess) {
        try FileManager.default.createDirectory(atPath: s.file("helper"), withIntermediateDirectories: true,
                                                attributes: [.posixPermissions: 0o700])
        let socket = s.file("helper/reapi.sock")
        let helper = try start([SharedTools.reapiHelper], in: s, env: [
            "CRSH_IPC_ENDPOINT": socket, "CRSH_URL": url, "CRSH_IDLE_TIMEOUT": "0", "CRSH_NUM_ATTR": "0",
        ])
        // The socket's name appears at bind, before the helper listens: connecting is retried meanwhile.
        for _ in 0..<1000 {
            if let client = try? StorageHelperClient.connect(socketPath: socket, timeoutMilliseconds: 5000) {
                return (client, helper)
            }
            usleep(10_000)
        }
        kill(helper.pid, SIGKILL)
        _ = try? helper.finish()
        throw SpawnFailure(code: -1)
    }

    @Test func secondMachineGetsRemoteHitsFromBuildGrid() throws {
        let s = Scratch()
        let server = try BuildGridServer.start(s, instance: "team/cpp")
        defer { server.stop() }
        let url = "grpc://127.0.0.1:\(server.port)|instance=team/cpp"
        let a = Machine("a", s, remote: url)
        let b = Machine("b", s, remote: url)
        defer { a.stopHelpers(); b.stopHelpers() }
        project.writeProject(s, at: "one/proj")
        project.writeProject(s, at: "two/deeper/proj")
        let first = try project.build(s, "one/proj", on: a)
        #expect(first.status == 0 && first.stderr.isEmpty, "\(first.stderr)")
        let statsA = try a.stats()
        #expect(statsA["cache_miss"] == 4 && statsA["remote_storage_write"] == 8, "\(statsA)")

        let second = try project.build(s, "two/deeper/proj", on: b)
        #expect(second.status == 0 && second.stderr.isEmpty, "\(second.stderr)")
        let statsB = try b.stats()
        #expect(statsB["direct_cache_hit"] == 4 && statsB["cache_miss"] == 0, "\(statsB)")
        #expect(statsB["remote_storage_read_hit"] == 4, "\(statsB)")
        #expect(project.objects(s, "two/deeper/proj") == (try project.plainObjects(s, "two/deeper/proj")))
        #expect(try run([s.file("two/deeper/proj/prog")], in: s).stdout == "6 10 5\n")

        // Another instance on the same server is another cache: nothing is found there.
        let c = Machine("c", s, remote: "grpc://127.0.0.1:\(server.port)|instance=other")
        defer { c.stopHelpers() }
        project.writeProject(s, at: "three/proj")
        let third = try project.build(s, "three/proj", on: c)
        // BuildGrid refuses an instance it does not serve: the build goes on with one warning.
        #expect(third.status == 0, "\(third.stderr)")
        #expect(try c.stats()["remote_storage_read_hit"] ?? 0 == 0)
    }

    /// The helper on its own, as ccache users start it (`crsh:`): entries above the batch size go
    /// through ByteStream both ways, and the protocol's operations keep their meaning.
    @Test func helperKeepsLargeEntriesAndAnswersEveryOperation() throws {
        let s = Scratch()
        let server = try BuildGridServer.start(s, instance: "")
        defer { server.stop() }
        let (client, helper) = try startHelper(s, url: "grpc://127.0.0.1:\(server.port)")
        defer { kill(helper.pid, SIGKILL); _ = try? helper.finish() }
        var generator = SystemRandomNumberGenerator()
        let large = (0..<(3 << 20) + 17).map { _ in UInt8.random(in: 0...255, using: &generator) }
        let small = Array("a small entry".utf8)
        let (bigKey, smallKey, absent) = (Array(repeating: UInt8(1), count: 20), Array(repeating: UInt8(2), count: 20),
                                          Array(repeating: UInt8(3), count: 20))
        #expect(try client.get(absent, timeoutMilliseconds: 10_000) == .noop)
        #expect(try client.exists(absent, timeoutMilliseconds: 10_000) == .ok([0]))
        #expect(try client.put(bigKey, value: large, overwrite: true, timeoutMilliseconds: 30_000) == .ok([]))
        #expect(try client.put(smallKey, value: small, overwrite: true, timeoutMilliseconds: 10_000) == .ok([]))
        #expect(try client.get(bigKey, timeoutMilliseconds: 30_000) == .ok(large))
        #expect(try client.get(smallKey, timeoutMilliseconds: 10_000) == .ok(small))
        #expect(try client.exists(smallKey, timeoutMilliseconds: 10_000) == .ok([1]))
        // Without overwrite an existing entry stays; with it, it is replaced.
        #expect(try client.put(smallKey, value: [9], overwrite: false, timeoutMilliseconds: 10_000) == .noop)
        #expect(try client.get(smallKey, timeoutMilliseconds: 10_000) == .ok(small))
        #expect(try client.put(smallKey, value: [9], overwrite: true, timeoutMilliseconds: 10_000) == .ok([]))
        #expect(try client.get(smallKey, timeoutMilliseconds: 10_000) == .ok([9]))
        #expect(try client.remove(smallKey, timeoutMilliseconds: 10_000) == .ok([]))
        #expect(try client.get(smallKey, timeoutMilliseconds: 10_000) == .noop)
        #expect(try client.remove(smallKey, timeoutMilliseconds: 10_000) == .noop)
    }

    /// A REAPI server on BuildGrid's own Python stubs that answers every lookup with an entry whose bytes
    /// are not those its digest names: inlined (`inline`), from the CAS (`batch`), or a digest of an
    /// impossible size (`size`).
    static let lyingServer = """
        import hashlib, sys
        from concurrent import futures
        import grpc
        from buildgrid._protos.build.bazel.remote.execution.v2 import remote_execution_pb2 as re
        from buildgrid._protos.build.bazel.remote.execution.v2 import remote_execution_pb2_grpc as rg
        port, mode = int(sys.argv[1]), sys.argv[2]
        named, served = b"the entry the digest names", b"another entry, other bytes"
        digest = re.Digest(hash=hashlib.sha256(named).hexdigest(), size_bytes=(1 << 40) if mode == "size" else len(named))
        class ActionCache(rg.ActionCacheServicer):
            def GetActionResult(self, request, context):
                entry = re.OutputFile(path="entry", digest=digest)
                if mode == "inline":
                    entry.contents = served
                return re.ActionResult(output_files=[entry])
        class Storage(rg.ContentAddressableStorageServicer):
            def BatchReadBlobs(self, request, context):
                return re.BatchReadBlobsResponse(responses=[re.BatchReadBlobsResponse.Response(digest=digest, data=served)])
        server = grpc.server(futures.ThreadPoolExecutor(4))
        rg.add_ActionCacheServicer_to_server(ActionCache(), server)
        rg.add_ContentAddressableStorageServicer_to_server(Storage(), server)
        server.add_insecure_port(f"127.0.0.1:{port}")
        server.start()
        server.wait_for_termination()
        """

    @Test(arguments: ["inline", "batch", "size"])
    func bytesOtherThanTheirDigestAreNeverPassedOn(mode: String) throws {
        let s = Scratch()
        s.write("lying.py", Self.lyingServer)
        let port = try freeLoopbackPort()
        let python = (SharedTools.bgd.map { URL(fileURLWithPath: $0).deletingLastPathComponent().path } ?? "") + "/python3"
        let server = try start([python, s.file("lying.py"), String(port), mode], in: s)
        defer { kill(server.pid, SIGKILL); _ = try? server.finish() }
        #expect(waitUntilListening(port: port, seconds: 60))
        let (client, helper) = try startHelper(s, url: "grpc://127.0.0.1:\(port)")
        defer { kill(helper.pid, SIGKILL); _ = try? helper.finish() }
        let reply = try client.get(Array(repeating: 7, count: 20), timeoutMilliseconds: 10_000)
        guard case .failed(let message) = reply else {
            Issue.record("served \(reply)")
            return
        }
        #expect(message.contains("digest"), "\(message)")
    }

    @Test func serverDownCostsOneWarningAndBuildsRight() throws {
        let s = Scratch()
        let port = try freeLoopbackPort()
        project.writeProject(s, at: "a/proj")
        let machine = Machine("a", s, remote: "grpc://127.0.0.1:\(port)")
        defer { machine.stopHelpers() }
        let built = try project.build(s, "a/proj", on: machine)
        #expect(built.status == 0, "\(built.stderr)")
        #expect(built.stderr.components(separatedBy: "warning: remote storage").count - 1 == 1, "\(built.stderr)")
        #expect(project.objects(s, "a/proj") == (try project.plainObjects(s, "a/proj")))
        let stats = try machine.stats()
        #expect(stats["cache_miss"] == 4 && (stats["remote_storage_error"] ?? 0) >= 1, "\(stats)")
    }
}

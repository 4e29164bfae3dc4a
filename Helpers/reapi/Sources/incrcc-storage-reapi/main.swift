import Dispatch
import Glibc
import GRPCCore
import GRPCNIOTransportHTTP2
import StorageHelperServer

/// incrcc-storage-reapi: a storage helper (ccache's protocol) for Remote Execution API v2 servers, the
/// caches Bazel users already run (Buildbarn, BuildBuddy, BuildGrid, EngFlow, NativeLink, bazel-remote).
/// URLs as Bazel writes them, `grpc://host[:port]` and `grpcs://host[:port]` (TLS with the system's
/// roots, or `ca-file`); attributes `instance`, `bearer-token`, `header=Name=Value` (repeatable),
/// `connect-timeout` and `operation-timeout` (milliseconds).
///
/// An entry is an action result with one output file, `entry`, whose bytes live in the CAS: the action
/// digest is the SHA-256 of the key (with a prefix of its own, so that no Bazel action can share it), the
/// file's digest the SHA-256 of the value. What a server returns is checked against that digest before it
/// is passed on: a server, or whoever can write to it, can withhold an entry but not change one.
struct ReapiBackend: StorageBackend {
    let identity = "incrcc-storage-reapi 1 (grpc-swift)"
    let connection: ReapiConnection

    init(url text: String, attributes: HelperAttributes) throws(StartError) {
        connection = ReapiConnection(target: try ReapiTarget(url: text, attributes: attributes))
    }

    func makeSession() -> Result<StorageSession, StartError> {
        connection.start().map { ReapiSession(store: ActionCacheStore(client: $0, target: connection.target)) }
    }
}

/// Where and how to reach the server, from the URL and the attributes.
struct ReapiTarget: Sendable {
    var host: String
    var port: Int
    var tls: Bool
    var caFile: String?
    var instance: String
    var metadata: [(name: String, value: String)]
    var connectTimeout: Int
    var operationTimeout: Int

    init(url text: String, attributes: HelperAttributes) throws(StartError) {
        let url = try HelperURL(text)
        switch url.scheme {
        case "grpc": tls = false
        case "grpcs": tls = true
        default: throw StartError("unsupported scheme '\(url.scheme)'")
        }
        guard !url.host.isEmpty else { throw StartError("URL without a host") }
        guard url.path.isEmpty || url.path == "/" else {
            throw StartError("a path in the URL is not used; name the instance with |instance=NAME")
        }
        host = url.host
        port = url.port ?? (tls ? 443 : 80)
        caFile = attributes.value("ca-file")
        instance = attributes.value("instance") ?? ""
        metadata = []
        if let token = attributes.value("bearer-token") { metadata.append(("authorization", "Bearer \(token)")) }
        if url.user != nil || url.password != nil {
            throw StartError("user information in the URL is not used; use |bearer-token=… or |header=…")
        }
        for header in attributes.values("header") {
            guard let equals = header.firstIndex(of: "="), equals != header.startIndex else {
                throw StartError("header attribute is not Name=Value")
            }
            metadata.append((header[..<equals].lowercased(), String(header[header.index(after: equals)...])))
        }
        connectTimeout = try attributes.milliseconds("connect-timeout", fallback: 100)
        operationTimeout = try attributes.milliseconds("operation-timeout", fallback: 5_000)
    }

    /// An address literal is its own target: resolved as a name, it would become the TLS server name,
    /// which may not be an address (the connection then fails); certificates name addresses in their own field.
    var resolvable: any ResolvableTarget {
        var v4 = in_addr(), v6 = in6_addr()
        if inet_pton(AF_INET, host, &v4) == 1 { return .ipv4(address: host, port: port) }
        if inet_pton(AF_INET6, host, &v6) == 1 { return .ipv6(address: host, port: port) }
        return .dns(host: host, port: port)
    }

    /// A resource name under the instance (ByteStream's `{instance}/blobs/…`; no leading slash without one).
    func resource(_ tail: String) -> String { instance.isEmpty ? tail : instance + "/" + tail }
}

/// One gRPC client for the helper's life, shared by every session (HTTP/2 carries their calls side by
/// side on one connection); its connections run on a task of their own.
final class ReapiConnection: @unchecked Sendable {
    let target: ReapiTarget
    private var lock = pthread_mutex_t()
    private var client: GRPCClient<HTTP2ClientTransport.Posix>?

    init(target: ReapiTarget) {
        self.target = target
        pthread_mutex_init(&lock, nil)
    }

    func start() -> Result<GRPCClient<HTTP2ClientTransport.Posix>, StartError> {
        pthread_mutex_lock(&lock)
        defer { pthread_mutex_unlock(&lock) }
        if let client { return .success(client) }
        do {
            var config = HTTP2ClientTransport.Posix.Config.defaults
            config.connection.maxIdleTime = nil
            config.backoff.initial = .milliseconds(100)
            // No connect timeout of its own in the transport: reconnecting is retried at most this far apart,
            // and each call's deadline is the operation timeout.
            config.backoff.max = .milliseconds(target.connectTimeout)
            config.http2.maxFrameSize = 1 << 20
            let security: HTTP2ClientTransport.Posix.TransportSecurity
            if target.tls {
                let caFile = target.caFile
                security = .tls { tls in
                    if let caFile { tls.trustRoots = .certificates([.file(path: caFile, format: .pem)]) }
                }
            } else {
                security = .plaintext
            }
            let transport = try HTTP2ClientTransport.Posix(
                target: target.resolvable, transportSecurity: security, config: config)
            let made = GRPCClient(transport: transport)
            Task.detached { try? await made.runConnections() }
            client = made
            return .success(made)
        } catch {
            return .failure(StartError("cannot set up a gRPC client: \(error)"))
        }
    }
}

/// The helper's sessions are blocking (one thread per client connection); each request runs as a task
/// and its thread waits for it.
final class ReapiSession: StorageSession {
    let store: ActionCacheStore

    init(store: ActionCacheStore) { self.store = store }

    func get(_ key: [UInt8]) -> BackendReply { wait { await $0.get(key) } }
    func put(_ key: [UInt8], value: [UInt8], overwrite: Bool) -> BackendReply {
        wait { await $0.put(key, value: value, overwrite: overwrite) }
    }
    func remove(_ key: [UInt8]) -> BackendReply { wait { await $0.remove(key) } }
    func exists(_ key: [UInt8]) -> BackendReply { wait { await $0.exists(key) } }

    private func wait(_ body: @escaping @Sendable (ActionCacheStore) async -> BackendReply) -> BackendReply {
        let outcome = ReplySlot()
        let store = self.store
        Task.detached { outcome.fill(await body(store)) }
        return outcome.take()
    }
}

/// A reply handed from a task to the thread waiting for it.
final class ReplySlot: @unchecked Sendable {
    private let ready = DispatchSemaphore(value: 0)
    private var reply: BackendReply = .failed("no reply")

    func fill(_ value: BackendReply) {
        reply = value
        ready.signal()
    }

    func take() -> BackendReply {
        ready.wait()
        return reply
    }
}

StorageHelperServer.main { url, attributes throws(StartError) in try ReapiBackend(url: url, attributes: attributes) }

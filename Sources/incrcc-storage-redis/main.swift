import CHiredis
import Glibc
import StorageHelperServer

/// incrcc-storage-redis: a storage helper (ccache's protocol) for `redis://[[user]:password@]host[:port][/db]`
/// and `redis+unix:/path/to/socket[?db=N]`, with attributes `connect-timeout`, `operation-timeout` and
/// `stall-timeout` (milliseconds). Entries are stored under `incrcc:<hex key>`.
struct RedisBackend: StorageBackend {
    enum Address: Sendable {
        case tcp(host: String, port: Int)
        case unix(path: String)
    }

    var address: Address
    var user: String?
    var password: String?
    var database: Int
    var connectTimeout: Int
    var operationTimeout: Int
    /// How long one read or write on the connection may wait without progress (hiredis applies its timeout
    /// to each socket operation): a hung server is given up on after this, however large the value.
    var stallTimeout: Int
    let identity = "incrcc-storage-redis 1 (hiredis)"

    init(url text: String, attributes: HelperAttributes) throws(StartError) {
        let url = try HelperURL(text)
        switch url.scheme {
        case "redis":
            guard !url.host.isEmpty else { throw StartError("redis URL without a host") }
            address = .tcp(host: url.host, port: url.port ?? 6379)
            let dbText = url.path.hasPrefix("/") ? String(url.path.dropFirst()) : url.path
            guard let db = dbText.isEmpty ? 0 : Int(dbText), db >= 0 else { throw StartError("bad database '\(dbText)'") }
            database = db
        case "redis+unix":
            guard !url.path.isEmpty else { throw StartError("redis+unix URL without a socket path") }
            address = .unix(path: url.path)
            let dbText = url.query.last { $0.name == "db" }?.value ?? "0"
            guard let db = Int(dbText), db >= 0 else { throw StartError("bad database '\(dbText)'") }
            database = db
        default:
            throw StartError("unsupported scheme '\(url.scheme)'")
        }
        user = url.user
        password = url.password
        connectTimeout = try attributes.milliseconds("connect-timeout", fallback: 100)
        operationTimeout = try attributes.milliseconds("operation-timeout", fallback: 5_000)
        stallTimeout = try attributes.milliseconds("stall-timeout", fallback: 500)
    }

    func makeSession() -> Result<StorageSession, StartError> {
        let context: UnsafeMutablePointer<redisContext>?
        switch address {
        case .tcp(let host, let port):
            context = redisConnectWithTimeout(host, Int32(port), timeval(milliseconds: connectTimeout))
        case .unix(let path):
            context = redisConnectUnixWithTimeout(path, timeval(milliseconds: connectTimeout))
        }
        guard let context else { return .failure(StartError("cannot allocate a connection")) }
        if context.pointee.err != 0 {
            let message = RedisSession.errorText(context)
            redisFree(context)
            return .failure(StartError("cannot connect: " + message))
        }
        redisSetTimeout(context, timeval(milliseconds: min(operationTimeout, stallTimeout)))
        let session = RedisSession(context: context)
        var setup: [[String]] = []
        if let password { setup.append(user.map { ["AUTH", $0, password] } ?? ["AUTH", password]) }
        if database != 0 { setup.append(["SELECT", String(database)]) }
        for command in setup {
            switch session.command(command.map { Array($0.utf8) }, expect: { _ in .ok([]) }) {
            case .ok: continue
            case .failed(let message), .timedOut(let message):
                // The message names the command, never its arguments (a password).
                return .failure(StartError("\(command[0]) failed: \(message)"))
            case .noop:
                return .failure(StartError("\(command[0]) failed"))
            }
        }
        return .success(session)
    }
}

extension timeval {
    init(milliseconds: Int) {
        self.init(tv_sec: milliseconds / 1000, tv_usec: (milliseconds % 1000) * 1000)
    }
}

final class RedisSession: StorageSession {
    let context: UnsafeMutablePointer<redisContext>

    init(context: UnsafeMutablePointer<redisContext>) { self.context = context }

    deinit { redisFree(context) }

    static func errorText(_ context: UnsafeMutablePointer<redisContext>) -> String {
        withUnsafeBytes(of: context.pointee.errstr) { raw in
            let bytes = raw.prefix { $0 != 0 }
            return String(decoding: bytes, as: UTF8.self)
        }
    }

    static func key(_ key: [UInt8]) -> [UInt8] { Array(("incrcc:" + hexKey(key)).utf8) }

    /// Sends one command; `expect` turns a non-error reply into the answer.
    func command(_ arguments: [[UInt8]], expect: (redisReply) -> BackendReply) -> BackendReply {
        var pointers: [UnsafePointer<CChar>?] = []
        var lengths: [Int] = []
        let storage = arguments.map { argument -> UnsafeMutablePointer<CChar> in
            let copy = UnsafeMutablePointer<CChar>.allocate(capacity: max(argument.count, 1))
            argument.withUnsafeBytes { raw in
                if let base = raw.baseAddress { UnsafeMutableRawPointer(copy).copyMemory(from: base, byteCount: raw.count) }
            }
            return copy
        }
        defer { storage.forEach { $0.deallocate() } }
        for (index, argument) in arguments.enumerated() {
            pointers.append(UnsafePointer(storage[index]))
            lengths.append(argument.count)
        }
        let raw = pointers.withUnsafeMutableBufferPointer { argv in
            lengths.withUnsafeBufferPointer { argvlen in
                redisCommandArgv(context, Int32(arguments.count), argv.baseAddress, argvlen.baseAddress)
            }
        }
        guard let raw else {
            let message = Self.errorText(context)
            let code = errno
            if context.pointee.err == REDIS_ERR_IO && (code == EAGAIN || code == EWOULDBLOCK) {
                return .timedOut("redis did not answer in time")
            }
            return .failed("redis: " + (message.isEmpty ? "connection lost" : message))
        }
        let reply = raw.assumingMemoryBound(to: redisReply.self)
        defer { freeReplyObject(raw) }
        if reply.pointee.type == REDIS_REPLY_ERROR {
            return .failed("redis: " + Self.text(reply.pointee))
        }
        return expect(reply.pointee)
    }

    static func text(_ reply: redisReply) -> String {
        guard let pointer = reply.str else { return "" }
        return String(decoding: UnsafeRawBufferPointer(start: pointer, count: Int(reply.len)), as: UTF8.self)
    }

    func get(_ key: [UInt8]) -> BackendReply {
        command([Array("GET".utf8), Self.key(key)]) { reply in
            switch reply.type {
            case REDIS_REPLY_NIL: return .noop
            case REDIS_REPLY_STRING:
                guard let pointer = reply.str else { return .ok([]) }
                return .ok(Array(UnsafeRawBufferPointer(start: pointer, count: Int(reply.len))))
            default: return .failed("redis: unexpected reply to GET")
            }
        }
    }

    func put(_ key: [UInt8], value: [UInt8], overwrite: Bool) -> BackendReply {
        var arguments = [Array("SET".utf8), Self.key(key), value]
        if !overwrite { arguments.append(Array("NX".utf8)) }
        return command(arguments) { reply in reply.type == REDIS_REPLY_NIL ? .noop : .ok([]) }
    }

    func remove(_ key: [UInt8]) -> BackendReply {
        command([Array("DEL".utf8), Self.key(key)]) { reply in reply.integer > 0 ? .ok([]) : .noop }
    }

    func exists(_ key: [UInt8]) -> BackendReply {
        command([Array("EXISTS".utf8), Self.key(key)]) { reply in .ok([reply.integer > 0 ? 1 : 0]) }
    }
}

StorageHelperServer.main { (url, attributes) throws(StartError) in try RedisBackend(url: url, attributes: attributes) }

import Glibc

/// One connection to a storage helper, as incrcc (or any client) uses it: the greeting checked, then
/// requests one at a time, each within its own deadline.
public final class StorageHelperClient {
    var channel: Channel
    public let capabilities: [UInt8]

    /// What a get, put, remove or exists came to.
    public enum Reply: Equatable, Sendable {
        /// Done: the value for a get, `[1]`/`[0]` for exists, empty otherwise.
        case ok([UInt8])
        /// Not found (get), not stored (put), not removed (remove).
        case noop
        /// The helper's message: a backend error, or one starting with "timeout" for a backend timeout.
        case failed(String)
    }

    /// Connects to the helper listening at `socketPath` and reads its greeting within `timeoutMilliseconds`.
    /// A path with nobody listening throws `.system(ENOENT)` or `.system(ECONNREFUSED)` at once.
    public static func connect(socketPath: String, timeoutMilliseconds: Int) throws(ChannelError) -> StorageHelperClient {
        let descriptor = socket(AF_UNIX, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
        guard descriptor >= 0 else { throw .system(errno) }
        var channel = Channel(descriptor: descriptor)
        var address = sockaddr_un()
        address.sun_family = sa_family_t(AF_UNIX)
        let path = Array(socketPath.utf8)
        guard path.count < MemoryLayout.size(ofValue: address.sun_path) else { throw .system(ENAMETOOLONG) }
        withUnsafeMutableBytes(of: &address.sun_path) { $0.copyBytes(from: path) }
        let connected = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                Glibc.connect(descriptor, $0, socklen_t(MemoryLayout<sockaddr_un>.size))
            }
        }
        guard connected == 0 else { throw .system(errno) }
        channel.expire(afterMilliseconds: timeoutMilliseconds)
        let version = try channel.readByte()
        guard version == StorageWire.version else { throw .malformed("protocol version \(version)") }
        let capabilities = try channel.readShort()
        return StorageHelperClient(channel: channel, capabilities: capabilities)
    }

    init(channel: consuming Channel, capabilities: [UInt8]) {
        self.channel = channel
        self.capabilities = capabilities
    }

    public func supports(_ capability: StorageWire.Capability) -> Bool {
        capabilities.contains(capability.rawValue)
    }

    /// The value under `key`; values longer than `maximum` are refused before they are read.
    public func get(_ key: [UInt8], timeoutMilliseconds: Int,
                             maximum: UInt64 = StorageWire.maximumValue) throws(ChannelError) -> Reply {
        try send(.get(key: key), timeoutMilliseconds: timeoutMilliseconds)
        return try readReply { (channel: borrowing Channel) throws(ChannelError) in
            let length = try channel.readUInt64()
            guard length <= maximum else { throw .malformed("value of \(length) bytes") }
            return try channel.read(Int(length))
        }
    }

    public func put(_ key: [UInt8], value: [UInt8], overwrite: Bool,
                             timeoutMilliseconds: Int) throws(ChannelError) -> Reply {
        try send(.put(key: key, overwrite: overwrite, value: value), timeoutMilliseconds: timeoutMilliseconds)
        return try readReply { (_: borrowing Channel) throws(ChannelError) in [] }
    }

    public func remove(_ key: [UInt8], timeoutMilliseconds: Int) throws(ChannelError) -> Reply {
        try send(.remove(key: key), timeoutMilliseconds: timeoutMilliseconds)
        return try readReply { (_: borrowing Channel) throws(ChannelError) in [] }
    }

    public func exists(_ key: [UInt8], timeoutMilliseconds: Int) throws(ChannelError) -> Reply {
        try send(.exists(key: key), timeoutMilliseconds: timeoutMilliseconds)
        return try readReply { (channel: borrowing Channel) throws(ChannelError) in [try channel.readByte()] }
    }

    /// The helper's identity and diagnostics.
    public func info(timeoutMilliseconds: Int) throws(ChannelError) -> (identity: String, diagnostics: [String]) {
        try send(.info, timeoutMilliseconds: timeoutMilliseconds)
        let identity = String(decoding: try channel.readShort(), as: UTF8.self)
        let count = Int(try channel.readByte())
        var diagnostics: [String] = []
        for _ in 0..<count { diagnostics.append(String(decoding: try channel.readShort(), as: UTF8.self)) }
        return (identity, diagnostics)
    }

    /// Asks the helper to exit now; the connection may close before it answers.
    public func stop(timeoutMilliseconds: Int) {
        try? send(.stop, timeoutMilliseconds: timeoutMilliseconds)
        _ = try? channel.readByte()
    }

    func send(_ request: StorageRequest, timeoutMilliseconds: Int) throws(ChannelError) {
        channel.expire(afterMilliseconds: timeoutMilliseconds)
        try channel.write(request.encoded)
    }

    func readReply(_ body: (borrowing Channel) throws(ChannelError) -> [UInt8]) throws(ChannelError) -> Reply {
        let code = try channel.readByte()
        switch StorageWire.Status(rawValue: code) {
        case .ok: return .ok(try body(channel))
        case .noop: return .noop
        case .error: return .failed(String(decoding: try channel.readShort(), as: UTF8.self))
        case nil: throw .malformed("status \(code)")
        }
    }
}

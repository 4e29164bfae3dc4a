/// What a backend answered one request with.
public enum BackendReply: Equatable, Sendable {
    /// Done: the value for a get, nothing for a put or remove.
    case ok([UInt8])
    /// Not found (get), not stored (put), not removed (remove).
    case noop
    /// The server could not be reached or refused; the message is short and holds no secret.
    case failed(String)
    /// The server did not answer in time.
    case timedOut(String)
}

/// One connection to the storage server, used by one client connection at a time.
public protocol StorageSession: AnyObject {
    func get(_ key: [UInt8]) -> BackendReply
    func put(_ key: [UInt8], value: [UInt8], overwrite: Bool) -> BackendReply
    func remove(_ key: [UInt8]) -> BackendReply
    func exists(_ key: [UInt8]) -> BackendReply
}

/// A storage server reached through sessions; several clients at once each get one of their own, so
/// parallel compiles never queue behind one connection.
public protocol StorageBackend: Sendable {
    /// Name and version, for the protocol's info request.
    var identity: String { get }
    /// A new session, connected on demand; nil with a message when it cannot be made.
    func makeSession() -> Result<StorageSession, StartError>
}

/// A helper that cannot start: a bad URL or attribute, or a failed set-up.
public struct StartError: Error, Sendable {
    public var message: String
    public init(_ message: String) { self.message = message }
}

/// The attributes ccache passes a helper (`CRSH_ATTR_KEY_<i>`/`CRSH_ATTR_VALUE_<i>`), in order.
public struct HelperAttributes: Sendable {
    public var pairs: [(key: String, value: String)]

    public init(pairs: [(key: String, value: String)]) { self.pairs = pairs }

    public init(environment: (String) -> String?) throws(StartError) {
        pairs = []
        let count = Int(environment("CRSH_NUM_ATTR") ?? "0") ?? -1
        guard count >= 0 && count < 1000 else { throw StartError("CRSH_NUM_ATTR is not a count") }
        for index in 0..<count {
            guard let key = environment("CRSH_ATTR_KEY_\(index)") else {
                throw StartError("CRSH_ATTR_KEY_\(index) is missing")
            }
            pairs.append((key, environment("CRSH_ATTR_VALUE_\(index)") ?? ""))
        }
    }

    public func value(_ key: String) -> String? { pairs.last { $0.key == key }?.value }

    public func values(_ key: String) -> [String] { pairs.filter { $0.key == key }.map(\.value) }

    /// A duration in milliseconds; `fallback` when unset.
    public func milliseconds(_ key: String, fallback: Int) throws(StartError) -> Int {
        guard let text = value(key) else { return fallback }
        guard let number = Int(text), number > 0 else { throw StartError("\(key): '\(text)' is not milliseconds") }
        return number
    }
}

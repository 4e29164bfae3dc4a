import Glibc
import StorageProtocol

/// The helper side of ccache's storage-helper protocol: listens on the Unix socket named by
/// `CRSH_IPC_ENDPOINT`, serves each client connection on a thread of its own with a pooled backend
/// session, and exits after `CRSH_IDLE_TIMEOUT` seconds without clients, on `stop`, or when its socket
/// path no longer names its socket (a client replaced it).
public enum StorageHelperServer {
    /// How long a backend that failed slowly (a timeout, a hung connect) is skipped: requests answer an
    /// error at once meanwhile, so a hung or unreachable server costs a build one wait per window, not one
    /// per call. A failure that came at once (refused, reset: a server restarting) sets no back-off: the
    /// next request reconnects, so a server that is back is used at once.
    public static let defaultBackoffMilliseconds = 10_000

    /// A helper's whole life: its backend made from `CRSH_URL` and the attributes, or a message and exit 1.
    public static func main<Backend: StorageBackend>(
        _ make: (String, HelperAttributes) throws(StartError) -> Backend) -> Never {
        do {
            let backend = try make(Environment.value("CRSH_URL") ?? "", HelperAttributes(environment: Environment.value))
            run(backend: backend)
        } catch {
            fail(error.message)
        }
    }

    public static func run(backend: some StorageBackend, backoffMilliseconds: Int = defaultBackoffMilliseconds) -> Never {
        signal(SIGPIPE, SIG_IGN)
        guard let endpoint = Environment.value("CRSH_IPC_ENDPOINT"), !endpoint.isEmpty else {
            fail("CRSH_IPC_ENDPOINT is not set")
        }
        let idleSeconds = Int(Environment.value("CRSH_IDLE_TIMEOUT") ?? "0") ?? 0
        let listener: Int32
        var listening = listen(at: endpoint)
        if case .failure(.system(EADDRINUSE)) = listening {
            // A helper that was killed leaves its socket behind, and ccache starts the next one at that name.
            switch previousListener(at: endpoint) {
            case .alive: exit(0)
            case .gone:
                unlink(endpoint)
                listening = listen(at: endpoint)
            case .foreign: break
            }
        }
        switch listening {
        case .success(let descriptor): listener = descriptor
        case .failure(let error): fail("cannot listen at \(endpoint): \(error.description)")
        }
        detachFromCaller()
        var own = stat()
        fstat(listener, &own)
        var endpointStatus = stat()
        stat(endpoint, &endpointStatus)
        let state = ServerState(backend: backend, backoffNanoseconds: Int64(backoffMilliseconds) * 1_000_000,
                                endpoint: endpoint)
        while true {
            var entry = pollfd(fd: listener, events: Int16(POLLIN), revents: 0)
            let ready = poll(&entry, 1, 1000)
            if ready > 0 {
                let client = accept(listener, nil, nil)
                if client >= 0 {
                    _ = fcntl(client, F_SETFD, FD_CLOEXEC)
                    // Greeted here, before its thread starts: a compile waits for the greeting before it asks.
                    let greeting = ServerState.greeting
                    if greeting.withUnsafeBytes({ write(client, $0.baseAddress, $0.count) }) == greeting.count {
                        state.serve(client)
                    } else {
                        close(client)
                    }
                }
                continue
            }
            // Replaced or removed: a new helper owns the name now.
            var current = stat()
            if stat(endpoint, &current) != 0 || current.st_ino != endpointStatus.st_ino
                || current.st_dev != endpointStatus.st_dev {
                exit(0)
            }
            if idleSeconds > 0, state.idleNanoseconds() >= Int64(idleSeconds) * 1_000_000_000 {
                unlink(endpoint)
                exit(0)
            }
        }
    }

    /// Once listening, the helper lets go of what it inherited from whoever started it: ccache hands it
    /// /dev/null, but a helper started for `crsh:` from a script whose output is read through a pipe kept
    /// that reader waiting until the helper exited. A log file (a regular file, as incrcc gives) stays the
    /// error output; a session of its own keeps a terminal's signals away.
    static func detachFromCaller() {
        let null = open("/dev/null", O_RDWR | O_CLOEXEC)
        guard null >= 0 else { return }
        dup2(null, 0)
        dup2(null, 1)
        var status = stat()
        if fstat(2, &status) != 0 || status.st_mode & S_IFMT != S_IFREG { dup2(null, 2) }
        if null > 2 { close(null) }
        _ = setsid()
    }

    public static func fail(_ message: String) -> Never {
        let text = Array("\(CommandLine.arguments.first ?? "storage helper"): \(message)\n".utf8)
        text.withUnsafeBytes { _ = Glibc.write(2, $0.baseAddress, $0.count) }
        exit(1)
    }

    enum PreviousListener { case alive, gone, foreign }

    /// What holds `path`: a helper still answering (which serves the callers instead), a socket of this
    /// user's that nobody listens on any more (removed and replaced), or something else, never removed.
    static func previousListener(at path: String) -> PreviousListener {
        var status = stat()
        guard lstat(path, &status) == 0, status.st_mode & S_IFMT == S_IFSOCK, status.st_uid == geteuid() else {
            return .foreign
        }
        let probe = socket(AF_UNIX, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
        guard probe >= 0 else { return .foreign }
        defer { close(probe) }
        // Whoever accepts is alive; only a socket nobody listens on refuses.
        let connected = atSocketAddress(path) { Glibc.connect(probe, $0, $1) }
        if connected == 0 { return .alive }
        return errno == ECONNREFUSED ? .gone : .foreign
    }

    /// Calls `operation` with the address of the socket at `path`. A path longer than an address holds (ccache
    /// names sockets under its temporary directory, and a deep one passed 108 bytes, so the helper it started
    /// could never listen) is reached by its name from inside its directory.
    static func atSocketAddress(_ path: String, _ operation: (UnsafePointer<sockaddr>, socklen_t) -> Int32) -> Int32 {
        var address = sockaddr_un()
        address.sun_family = sa_family_t(AF_UNIX)
        let capacity = MemoryLayout.size(ofValue: address.sun_path)
        var name = Array(path.utf8)
        var returnTo: Int32 = -1
        if name.count >= capacity {
            guard let slash = name.lastIndex(of: UInt8(ascii: "/")), name.count - slash - 1 < capacity else {
                errno = ENAMETOOLONG
                return -1
            }
            let directory = slash == 0 ? "/" : String(decoding: name[..<slash], as: UTF8.self)
            returnTo = open(".", O_RDONLY | O_DIRECTORY | O_CLOEXEC)
            guard returnTo >= 0, chdir(directory) == 0 else {
                let code = errno
                if returnTo >= 0 { close(returnTo) }
                errno = code
                return -1
            }
            name = Array(name[(slash + 1)...])
        }
        withUnsafeMutableBytes(of: &address.sun_path) { $0.copyBytes(from: name) }
        let result = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { operation($0, socklen_t(MemoryLayout<sockaddr_un>.size)) }
        }
        let code = errno
        if returnTo >= 0 {
            _ = fchdir(returnTo)
            close(returnTo)
        }
        errno = code
        return result
    }

    /// Binds and listens at `path` with umask 077: only the user can connect.
    static func listen(at path: String) -> Result<Int32, ChannelError> {
        let descriptor = socket(AF_UNIX, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
        guard descriptor >= 0 else { return .failure(.system(errno)) }
        let previous = umask(0o077)
        let bound = atSocketAddress(path) { bind(descriptor, $0, $1) }
        umask(previous)
        guard bound == 0, Glibc.listen(descriptor, 128) == 0 else {
            let code = errno
            close(descriptor)
            return .failure(.system(code))
        }
        return .success(descriptor)
    }
}

/// What the connection threads share: the session pool, the back-off clock and the idle clock.
final class ServerState: @unchecked Sendable {
    let backend: any StorageBackend
    let backoffNanoseconds: Int64
    let endpoint: String
    private var lock = pthread_mutex_t()
    private var pool: [StorageSession] = []
    private var active = 0
    private var lastActivity = Channel.monotonicNanoseconds()
    private var failedUntil: Int64 = 0
    private var lastFailure = ""
    private var diagnostics: [String] = []
    /// When each request now at the backend began, by a number of its own.
    private var inFlight: [Int: Int64] = [:]
    private var nextRequest = 0

    /// A failure faster than this came from the server (refused, reset, an error reply), not from waiting
    /// on it: no back-off follows. Loopback refusals take microseconds; a remote one a round trip.
    static let fastFailureNanoseconds: Int64 = 50_000_000
    /// A request at the backend for longer than this means the server has stopped answering: further
    /// requests fail at once instead of queueing behind it (eight calls of a `make -j8` would each wait
    /// for their own timeout otherwise), until one completes.
    static let stallNanoseconds: Int64 = 250_000_000

    init(backend: any StorageBackend, backoffNanoseconds: Int64, endpoint: String) {
        self.backend = backend
        self.backoffNanoseconds = backoffNanoseconds
        self.endpoint = endpoint
        pthread_mutex_init(&lock, nil)
    }

    func locked<T>(_ body: () -> T) -> T {
        pthread_mutex_lock(&lock)
        defer { pthread_mutex_unlock(&lock) }
        return body()
    }

    func idleNanoseconds() -> Int64 {
        locked { active > 0 ? 0 : Channel.monotonicNanoseconds() - lastActivity }
    }

    /// Serves one client on a detached thread of its own.
    func serve(_ client: Int32) {
        locked { active += 1 }
        let context = Unmanaged.passRetained(ConnectionContext(state: self, descriptor: client)).toOpaque()
        var thread = pthread_t()
        var attributes = pthread_attr_t()
        pthread_attr_init(&attributes)
        pthread_attr_setdetachstate(&attributes, Int32(PTHREAD_CREATE_DETACHED))
        let started = pthread_create(&thread, &attributes, { raw in
            let context = Unmanaged<ConnectionContext>.fromOpaque(raw!).takeRetainedValue()
            context.state.converse(context.descriptor)
            return nil
        }, context)
        pthread_attr_destroy(&attributes)
        if started != 0 {
            Unmanaged<ConnectionContext>.fromOpaque(context).release()
            close(client)
            locked { active -= 1 }
        }
    }

    /// The protocol version and the capabilities, sent as soon as a client is accepted.
    static let greeting: [UInt8] = {
        var greeting = WireWriter()
        greeting.byte(StorageWire.version)
        greeting.short([StorageWire.Capability.getPutRemove.rawValue, StorageWire.Capability.info.rawValue,
                        StorageWire.Capability.exists.rawValue])
        return greeting.bytes
    }()

    /// Answers a greeted client's requests until it closes the connection.
    func converse(_ descriptor: Int32) {
        defer {
            locked {
                active -= 1
                lastActivity = Channel.monotonicNanoseconds()
            }
        }
        var channel = Channel(descriptor: descriptor)
        do {
            while true {
                // A client that goes quiet in the middle of a request is dropped after a minute.
                channel.deadline = nil
                guard let request = try StorageRequest.read(from: channel) else { return }
                locked { lastActivity = Channel.monotonicNanoseconds() }
                channel.expire(afterMilliseconds: 60_000)
                try answer(request, on: channel)
            }
        } catch {
            return
        }
    }

    func answer(_ request: StorageRequest, on channel: borrowing Channel) throws(ChannelError) {
        var writer = WireWriter()
        switch request {
        case .stop:
            unlink(endpoint)
            writer.byte(StorageWire.Status.ok.rawValue)
            try? channel.write(writer.bytes)
            _exit(0)
        case .info:
            writer.short(Array(backend.identity.utf8))
            let messages = locked { diagnostics.suffix(16) }
            writer.byte(UInt8(messages.count))
            for message in messages { writer.short(Array(message.utf8)) }
        case .get(let key):
            encode(perform { $0.get(key) }, into: &writer, value: true)
        case .put(let key, let overwrite, let value):
            encode(perform { $0.put(key, value: value, overwrite: overwrite) }, into: &writer, value: false)
        case .remove(let key):
            encode(perform { $0.remove(key) }, into: &writer, value: false)
        case .exists(let key):
            let reply = perform { $0.exists(key) }
            if case .ok(let flag) = reply {
                writer.byte(StorageWire.Status.ok.rawValue)
                writer.byte(flag.first ?? 0)
            } else {
                encode(reply, into: &writer, value: false)
            }
        }
        try channel.write(writer.bytes)
    }

    func encode(_ reply: BackendReply, into writer: inout WireWriter, value: Bool) {
        switch reply {
        case .ok(let bytes):
            writer.byte(StorageWire.Status.ok.rawValue)
            if value { writer.value(bytes) }
        case .noop:
            writer.byte(StorageWire.Status.noop.rawValue)
        case .failed(let message):
            writer.byte(StorageWire.Status.error.rawValue)
            writer.short(Array(message.utf8))
        case .timedOut(let message):
            writer.byte(StorageWire.Status.error.rawValue)
            writer.short(Array(("timeout: " + message).utf8))
        }
    }

    /// Runs one operation on a pooled session, unless the backend failed slowly within the back-off time or
    /// a request already waits on it for too long. A session that failed is dropped (its connection may be
    /// half-closed); a new one reconnects.
    func perform(_ operation: (StorageSession) -> BackendReply) -> BackendReply {
        let now = Channel.monotonicNanoseconds()
        let admitted: (request: Int?, refusal: String) = locked {
            if now < failedUntil { return (nil, "skipped after an error: " + lastFailure) }
            if let oldest = inFlight.values.min(), now - oldest > Self.stallNanoseconds {
                return (nil, "skipped: the server has not answered a request for \((now - oldest) / 1_000_000) ms")
            }
            nextRequest += 1
            inFlight[nextRequest] = now
            return (nextRequest, "")
        }
        guard let request = admitted.request else { return .failed(admitted.refusal) }
        defer { locked { inFlight[request] = nil } }
        let pooled: StorageSession? = locked { pool.popLast() }
        let session: StorageSession
        if let pooled {
            session = pooled
        } else {
            switch backend.makeSession() {
            case .success(let made): session = made
            case .failure(let error):
                recordFailure(error.message, began: now)
                return .failed(error.message)
            }
        }
        let reply = operation(session)
        switch reply {
        case .failed(let message), .timedOut(let message):
            recordFailure(message, began: now)
        case .ok, .noop:
            locked { pool.append(session) }
        }
        return reply
    }

    /// Notes a failure; one that took long starts the back-off window.
    func recordFailure(_ message: String, began: Int64) {
        let now = Channel.monotonicNanoseconds()
        locked {
            if now - began >= Self.fastFailureNanoseconds { failedUntil = now + backoffNanoseconds }
            lastFailure = message
            diagnostics.append(message)
            if diagnostics.count > 64 { diagnostics.removeFirst(diagnostics.count - 64) }
        }
    }
}

final class ConnectionContext {
    let state: ServerState
    let descriptor: Int32

    init(state: ServerState, descriptor: Int32) {
        self.state = state
        self.descriptor = descriptor
    }
}

/// The process environment, read with getenv.
public enum Environment {
    public static func value(_ name: String) -> String? {
        getenv(name).map { String(cString: $0) }
    }
}

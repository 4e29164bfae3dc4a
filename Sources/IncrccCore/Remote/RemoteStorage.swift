import CXXHash
import Glibc
import StorageProtocol

/// The shared tier as one call uses it: each `remote_storage` entry through its storage helper, read in
/// order until one has the key, written to every entry that is not `read-only`.
///
/// Never fails the call: an error or timeout skips that entry for the rest of the call, is counted, and is
/// told on stderr once (until the entry works again); the details go to the log. Nothing secret is printed.
final class RemoteStorage {
    let specs: [RemoteStorageSpec]
    let lookup: (String) -> String?
    let log: LogFile
    /// Where the once-per-outage warning markers live.
    let markerDirectory: String
    let count: (Counter) -> Void
    /// The largest entry taken from a server: a thousand times a large debug object (measured 5.1 MB), so a
    /// server cannot make a call hold gigabytes.
    static let maximumValue: UInt64 = 512 << 20

    /// Off in a detached child, whose stderr goes nowhere: its first error must not use up the warning.
    var warns = true
    private var connections: [String: StorageHelperClient] = [:]
    private var skipped: Set<Int> = []

    init(specs: [RemoteStorageSpec], lookup: @escaping (String) -> String?, log: LogFile, markerDirectory: String,
         count: @escaping (Counter) -> Void) {
        self.specs = specs
        self.lookup = lookup
        self.log = log
        self.markerDirectory = markerDirectory
        self.count = count
    }

    var isWritable: Bool { specs.contains { !$0.readOnly } }

    /// The value under `key` from the first entry that has it.
    func get(_ key: StrongDigest) -> [UInt8]? {
        for index in specs.indices where !skipped.contains(index) {
            let reply = exchange(index, key: key) { (client, milliseconds) throws(ChannelError) in
                try client.get(key.bytes, timeoutMilliseconds: milliseconds, maximum: Self.maximumValue)
            }
            if case .ok(let value) = reply { return value }
        }
        return nil
    }

    /// Stores `value` under `key` in every writable entry; `overwrite` replaces what is there. True when
    /// some entry stored it.
    @discardableResult
    func put(_ key: StrongDigest, _ value: [UInt8], overwrite: Bool) -> Bool {
        var stored = false
        for index in specs.indices where !specs[index].readOnly && !skipped.contains(index) {
            let reply = exchange(index, key: key) { (client, milliseconds) throws(ChannelError) in
                try client.put(key.bytes, value: value, overwrite: overwrite, timeoutMilliseconds: milliseconds)
            }
            if case .ok = reply {
                count(.remoteStorageWrite)
                stored = true
            }
        }
        return stored
    }

    func damageMarker(_ key: StrongDigest) -> String {
        markerDirectory + "/remote-damaged-" + key.hex
    }

    /// A value under `key` failed its check: counted; told on stderr in one line by the first call that
    /// finds it (until an upload replaces it); the next upload of a good value overwrites it.
    func noteDamaged(_ key: StrongDigest, what: String) {
        count(.remoteStorageError)
        try? FileSystem.makeDirectories(markerDirectory)
        let descriptor = open(damageMarker(key), O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0o600)
        guard descriptor >= 0 else { return }
        close(descriptor)
        guard warns else { return }
        Console.error("warning: a shared \(what) (\(key.hex.prefix(16))) failed its check and was not used; "
                      + "the next upload of it replaces it")
    }

    func isMarkedDamaged(_ key: StrongDigest) -> Bool {
        access(damageMarker(key), F_OK) == 0
    }

    func clearDamaged(_ key: StrongDigest) {
        unlink(damageMarker(key))
    }

    /// One request to entry `index`'s helper. An error is counted, logged and skips the entry for the rest
    /// of the call; nil then.
    func exchange(_ index: Int, key: StrongDigest,
                  _ request: (StorageHelperClient, Int) throws(ChannelError) -> StorageHelperClient.Reply)
        -> StorageHelperClient.Reply? {
        guard let client = client(index, key: key) else { return nil }
        do {
            let reply = try request(client, operationMilliseconds(index))
            if case .failed(let message) = reply {
                failed(index, message, timeout: message.hasPrefix("timeout"), quiet: Self.isWriteRefusal(message))
                return nil
            }
            succeeded(index)
            return reply
        } catch {
            dropConnection(index, key: key)
            failed(index, "helper: " + error.description, timeout: error == .timeout)
            return nil
        }
    }

    /// The helper's own transfer time, plus a second for it to answer that it gave up.
    func operationMilliseconds(_ index: Int) -> Int {
        let configured = specs[index].attributes.last { $0.key == "operation-timeout" }.flatMap { Int($0.value) }
        return (configured ?? 5000) + 1000
    }

    /// The URL serving `key`: with shards, the one rendezvous hashing picks (the highest weighted score of
    /// key and shard name), so adding a shard moves only the keys it now wins.
    func url(_ index: Int, key: StrongDigest) -> String {
        let spec = specs[index]
        guard !spec.shards.isEmpty else { return spec.url }
        var best: (score: Double, shard: RemoteStorageSpec.Shard)?
        for shard in spec.shards {
            let hash = (key.bytes + Array(shard.name.utf8)).withUnsafeBytes { XXH3_64bits($0.baseAddress, $0.count) }
            // Uniform in (0, 1): 53 bits, never 0 or 1.
            let unit = (Double(hash >> 11) + 0.5) / Double(UInt64(1) << 53)
            let score = -shard.weight / Glibc.log(unit)
            if best == nil || score > best!.score { best = (score, shard) }
        }
        return spec.url(shard: best?.shard)
    }

    func client(_ index: Int, key: StrongDigest) -> StorageHelperClient? {
        let url = url(index, key: key)
        if let open = connections[url] { return open }
        let endpoint: HelperEndpoint
        switch HelperEndpoint.resolve(specs[index], url: url, lookup: lookup) {
        case .success(let value): endpoint = value
        case .failure(.unsafeDirectory(let message)):
            failed(index, message, timeout: false)
            return nil
        }
        do {
            // The helper answers from memory: its greeting takes well under a millisecond unless it is stuck.
            let client = try endpoint.connect(timeoutMilliseconds: 500)
            guard client.supports(.getPutRemove) else {
                failed(index, "the storage helper cannot get and put", timeout: false)
                return nil
            }
            connections[url] = client
            return client
        } catch {
            failed(index, "cannot reach the storage helper: " + error.description, timeout: error == .timeout)
            return nil
        }
    }

    func dropConnection(_ index: Int, key: StrongDigest) {
        connections[url(index, key: key)] = nil
    }

    func markerPath(_ index: Int) -> String {
        markerDirectory + "/remote-warned-" + Digest.of(Array(specs[index].url.utf8)).hex
    }

    /// The server's own refusal of a write (a Redis ACL user limited to reads, an HTTP server that takes
    /// PUT only from writers): the permissions doing their job, not an outage. Counted and logged, never
    /// warned about; `read-only` saves the round trip.
    static func isWriteRefusal(_ message: String) -> Bool {
        ByteSearch.find(Array("NOPERM".utf8), in: Array(message.utf8)) != nil
            || ["401", "403", "405"].contains { message.hasSuffix("HTTP status " + $0) }
    }

    func failed(_ index: Int, _ message: String, timeout: Bool, quiet: Bool = false) {
        skipped.insert(index)
        count(timeout ? .remoteStorageTimeout : .remoteStorageError)
        let shown = RemoteStorageSpec.redact(url: specs[index].url)
        log.write("remote storage \(shown): \(message)")
        guard warns, !quiet else { return }
        let marker = markerPath(index)
        guard access(marker, F_OK) != 0 else { return }
        try? FileSystem.makeDirectories(markerDirectory)
        let descriptor = open(marker, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0o600)
        // Another call created it first: that one warns.
        if descriptor < 0 && errno == EEXIST { return }
        if descriptor >= 0 { close(descriptor) }
        Console.error("warning: remote storage \(shown): \(message); compiling without it "
                      + "(further errors go to the log and the counters)")
    }

    func succeeded(_ index: Int) {
        let marker = markerPath(index)
        if access(marker, F_OK) == 0 { unlink(marker) }
    }
}

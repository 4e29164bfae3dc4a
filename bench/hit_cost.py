"""Scenarios `hits`, `misses` and `scan` of bench/run: the cost of single calls."""
import contextlib
import datetime  # noqa: F401
import os
import shutil
import statistics
import subprocess  # noqa: F401

from benchlib import (C_SOURCE, CXX_SOURCE, HERE, NIX_DEPENDENCY, NIX_SHELL, ROOT, apt_install,  # noqa: F401
                      cache_counts, callgrind_instructions, helper_venv, peak_rss_kib, sh, timed)

def hits(bench, name, source, compiler):
    if not shutil.which(compiler):
        return bench.skip(f"{name} hit", f"{compiler} not installed")
    d = os.path.join(bench.work, name)
    os.makedirs(d)
    src = os.path.join(d, "t." + ("c" if compiler == "gcc" else "cpp"))
    with open(src, "w") as f:
        f.write(source)
    caches = {tool: os.path.join(d, tool + "-cache") for tool in bench.cache_tools()}
    cmd = {tool: bench.launcher(tool) + [compiler, "-O2", "-c", src, "-o", os.path.join(d, tool + ".o")]
           for tool in caches}
    for tool in caches:  # miss, then one hit so that every later call is a warm direct hit
        sh(cmd[tool], cwd=d, env=bench.env(tool, caches[tool]))
        sh(cmd[tool], cwd=d, env=bench.env(tool, caches[tool]))
    if shutil.which("valgrind"):
        ins = {tool: callgrind_instructions(cmd[tool], d, bench.env(tool, caches[tool])) for tool in caches}
        bench.row(f"{name} direct hit, instructions", ins["incrcc"], ins["ccache"], "<= 0.5x", "instr",
                 second=ins.get("ccache2"))
    else:
        bench.skip(f"{name} direct hit, instructions", "valgrind not installed")
    walls = {tool: [] for tool in caches}
    envs = {tool: bench.env(tool, caches[tool]) for tool in caches}
    with contextlib.ExitStack() as stack:
        server = bench.sccache_server(os.path.join(d, "sccache-cache"))
        if server:
            stack.enter_context(server)
            cmd["sccache"] = [bench.sccache, compiler, "-O2", "-c", src, "-o", os.path.join(d, "sccache.o")]
            envs["sccache"] = server.env
            walls["sccache"] = []
            sh(cmd["sccache"], cwd=d, env=server.env)
            sh(cmd["sccache"], cwd=d, env=server.env)
        for _ in range(bench.hit_runs):  # alternate so that drift hits all
            for tool in walls:
                walls[tool].append(timed(cmd[tool], d, envs[tool]) * 1000)
        sccache_hits = server.hits() if server else None
    med = {t: statistics.median(w) for t, w in walls.items()}
    spread = " ".join(f"{t} {min(w):.2f}-{max(w):.2f}" for t, w in walls.items())
    if server:
        spread += f"; sccache hits {sccache_hits}"
    bench.row(f"{name} direct hit, wall ms (median of {bench.hit_runs})", med["incrcc"], med["ccache"],
             "<= 0.8x", "ms", "range " + spread, second=med.get("ccache2"), sccache=med.get("sccache"))
    rss = {tool: peak_rss_kib(cmd[tool], d, bench.env(tool, caches[tool])) for tool in caches}
    if rss["incrcc"] is None:
        bench.skip(f"{name} direct hit, peak RSS KiB", "GNU time not installed (apt-get install time)")
    else:
        bench.row(f"{name} direct hit, peak RSS KiB", rss["incrcc"], rss["ccache"], "incrcc <= 10240", "KiB",
                 second=rss.get("ccache2"))


def misses(bench):
    d = os.path.join(bench.work, "misses")
    os.makedirs(d)
    caches = {"plain": os.path.join(d, "unused")}
    caches.update({tool: os.path.join(d, tool + "-cache") for tool in bench.cache_tools()})
    cached = bench.cache_tools()
    base = ["gcc", "-O2", "-c", "conftest.c", "-o", "conftest.o"]
    cmd = {tool: (base if tool == "plain" else bench.launcher(tool) + base) for tool in caches}
    env = {tool: bench.env("incrcc" if tool == "plain" else tool, caches[tool]) for tool in caches}
    serial = iter(range(1 << 30))

    def fresh_source():
        with open(os.path.join(d, "conftest.c"), "w") as f:
            f.write(C_SOURCE + f"int conftest_{next(serial)}(void) {{ return 0; }}\n")

    with contextlib.ExitStack() as stack:
        server = bench.sccache_server(os.path.join(d, "sccache-cache"))
        if server:
            stack.enter_context(server)
            caches["sccache"] = server.env["SCCACHE_DIR"]
            cmd["sccache"] = [bench.sccache] + base
            env["sccache"] = server.env
        for tool in cached + (("sccache",) if server else ()):  # a first miss each: compiler records exist
            fresh_source()
            sh(cmd[tool], cwd=d, env=env[tool])
        walls = {tool: [] for tool in caches}
        for _ in range(bench.miss_runs):  # alternating, each call on new content: every cached call misses
            for tool in caches:
                fresh_source()
                walls[tool].append(timed(cmd[tool], d, env[tool]) * 1000)
    over = {tool: statistics.median([a - b for a, b in zip(walls[tool], walls["plain"])]) for tool in walls
            if tool != "plain"}
    bench.row(f"small C miss, wall ms over plain gcc (median of {bench.miss_runs} paired)", over["incrcc"],
             over["ccache"], "smaller is better", "ms",
             f"plain median {statistics.median(walls['plain']):.2f} ms; a new conftest.c per call",
             second=over.get("ccache2"), sccache=over.get("sccache"))
    # ccache's best documented mode for misses: depend mode (no preprocessor run; needs -MD).
    depend = base[:-2] + ["-MD"] + base[-2:]
    depend_cmd = {"plain": depend, "incrcc": [bench.incrcc] + depend, "ccache": [bench.ccache] + depend}
    depend_env = {"plain": env["plain"], "incrcc": env["incrcc"], "ccache": dict(env["ccache"], CCACHE_DEPEND="1")}
    for tool in ("incrcc", "ccache"):
        fresh_source()
        sh(depend_cmd[tool], cwd=d, env=depend_env[tool])
    depend_walls = {tool: [] for tool in depend_cmd}
    for _ in range(bench.miss_runs):
        for tool in depend_cmd:
            fresh_source()
            depend_walls[tool].append(timed(depend_cmd[tool], d, depend_env[tool]) * 1000)
    depend_over = {tool: statistics.median([a - b for a, b in zip(depend_walls[tool], depend_walls["plain"])])
                   for tool in ("incrcc", "ccache")}
    bench.row(f"small C miss with -MD, ccache depend_mode, wall ms over plain gcc (median of {bench.miss_runs})",
              depend_over["incrcc"], depend_over["ccache"], "smaller is better", "ms",
              f"plain median {statistics.median(depend_walls['plain']):.2f} ms; CCACHE_DEPEND=1")
    if shutil.which("valgrind"):
        ins = {}
        for tool in cached:
            fresh_source()
            ins[tool] = callgrind_instructions(cmd[tool], d, env[tool])
        bench.row("small C miss, instructions of the cache's own process", ins["incrcc"], ins["ccache"],
                 "smaller is better", "instr", "the compiler's processes not counted", second=ins.get("ccache2"))


def scan_hits(bench):
    computed = "#define CONTAINER <vector>\n#include CONTAINER\n" + CXX_SOURCE
    cases = [("small C", C_SOURCE, "gcc", "t.c", {}), ("C++ STL", CXX_SOURCE, "g++", "t.cpp", {}),
             ("C++ STL, computed #include, libclang", computed, "g++", "t.cpp", {"INCRCC_SCAN": "always"})]
    for name, source, compiler, file, extra in cases:
        d = os.path.join(bench.work, "scan-" + str(len(os.listdir(bench.work))))
        os.makedirs(d)
        src = os.path.join(d, file)
        with open(src, "w") as f:
            f.write(source)
        walls = {"incrcc": [], "ccache": []}
        envs = {}
        for tool in walls:
            envs[tool] = bench.env(tool, os.path.join(d, tool))
            envs[tool]["INCRCC_NODIRECT" if tool == "incrcc" else "CCACHE_NODIRECT"] = "1"
        envs["incrcc"].update(extra)
        if bench.scanner:
            envs["incrcc"]["INCRCC_SCANNER"] = bench.scanner
        cmd = {t: bench.launcher(t) + [compiler, "-O2", "-c", src, "-o", os.path.join(d, t + ".o")] for t in walls}
        for tool in walls:
            sh(cmd[tool], cwd=d, env=envs[tool])
        for _ in range(max(5, bench.hit_runs // 10)):
            for tool in walls:
                walls[tool].append(timed(cmd[tool], d, envs[tool]) * 1000)
        hits = {t: cache_counts(t, bench.launcher(t)[0], envs[t])[0] for t in walls}
        med = {t: statistics.median(w) for t, w in walls.items()}
        spread = " ".join(f"{t} {min(w):.1f}-{max(w):.1f}" for t, w in walls.items())
        bench.row(f"{name} scan hit (direct mode off), wall ms (median of {len(walls['incrcc'])})", med["incrcc"],
                 med["ccache"], "<= 0.5x", "ms",
                 f"range {spread}; hits: incrcc {hits['incrcc']}, ccache {hits['ccache']}")

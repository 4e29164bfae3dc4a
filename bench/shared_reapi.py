"""Scenario `shared-reapi` of bench/run: the shared tier on a Remote Execution API server (BuildGrid 0.4.4 from
PyPI, in-memory CAS and action cache on loopback), through incrcc-storage-reapi. ccache 4.14.2 has no REAPI
backend of its own; it reaches the same server through the same helper (named `ccache-storage-grpc` on its
PATH, as ccache finds helpers for schemes it does not know), so both columns pay the same helper and server.
"""
import os
import shutil
import socket
import statistics
import time

from benchlib import C_SOURCE, callgrind_instructions, sh, timed
from shared_tier import (LoopbackServer, dead_remote_row, find_ccache414, find_helper, free_port, helper_pids,
                         helper_rss_row, machine_b, remote_env, scenario_directories)

BGD = "/opt/incrcc-buildgrid/bin/bgd"

CONFIG = """server:
  - !channel
    address: "127.0.0.1:{port}"
    insecure-mode: true
authorization:
  method: none
storages:
  - !lru-storage &cas
    size: 256MB
caches:
  - !lru-action-cache &ac
    storage: *cas
    max-cached-refs: 100000
    allow-updates: true
instances:
  - name: ""
    services:
      - !action-cache
        cache: *ac
      - !cas
        storage: *cas
      - !bytestream
        storage: *cas
"""


class BuildGridServer(LoopbackServer):
    """`bgd server start` on a loopback port; Python's start-up takes seconds, so it is waited for longer."""

    def __init__(self, work, bgd):
        port = free_port()
        config = os.path.join(work, "buildgrid.yml")
        with open(config, "w") as f:
            f.write(CONFIG.format(port=port))
        super().__init__(port, [bgd, "server", "start", config])
        for _ in range(600):
            try:
                socket.create_connection(("127.0.0.1", port), timeout=0.1).close()
                return
            except OSError:
                time.sleep(0.05)


def shared_reapi(bench):
    bgd = BGD if os.access(BGD, os.X_OK) else shutil.which("bgd")
    ccache = find_ccache414()
    helper = find_helper(bench, "incrcc-storage-reapi")
    if not bgd or not ccache or not os.access(helper, os.X_OK):
        return bench.skip("shared tier over REAPI", "BuildGrid (bash .ci/install), ccache 4.14.2 or incrcc-storage-reapi missing")
    d, runtime = scenario_directories(bench, "shared-reapi")
    server = BuildGridServer(d, bgd)
    url = f"grpc://127.0.0.1:{server.port}"
    ccache_helpers = os.path.join(d, "ccache-helpers")
    os.makedirs(ccache_helpers)
    os.symlink(helper, os.path.join(ccache_helpers, "ccache-storage-grpc"))
    try:
        incrcc_env = remote_env(bench, runtime, helper, url)

        def env(tool, cache, remote=url, extra=None):
            e = incrcc_env(tool, cache, remote, extra)
            if tool == "ccache":
                e["PATH"] = ccache_helpers + ":" + e["PATH"]
            return e

        launch = {"incrcc": [bench.incrcc], "ccache": [ccache]}
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
            bench.row("small C remote hit (BuildGrid REAPI, loopback), instructions", ins["incrcc"], ins["ccache"],
                      "<= 0.5x", "instr", f"the caller's process only, both through incrcc-storage-reapi; "
                      f"remote hits seen {hits['incrcc']}/{hits['ccache']}")
        runs = bench.hit_runs // 2
        local_env = env("incrcc", os.path.join(d, "incrcc-a"))
        walls = {"incrcc": [], "ccache": [], "local": []}
        for _ in range(runs):
            for tool in ("incrcc", "ccache"):
                walls[tool].append(timed(cmd[tool], d, fresh(tool)) * 1000)
            walls["local"].append(timed(cmd["incrcc"], d, local_env) * 1000)
        med = {k: statistics.median(v) for k, v in walls.items()}
        bench.row(f"small C remote hit (BuildGrid REAPI), wall ms (median of {runs})", med["incrcc"], med["ccache"],
                  "<= 0.8x", "ms", f"incrcc's local hit {med['local']:.2f} ms (remote +{med['incrcc'] - med['local']:.2f})")
        dead_remote_row(bench, launch, env, d, runs, f"grpc://127.0.0.1:{free_port()}", " (REAPI)")
        helper_rss_row(bench, runtime, "incrcc-storage-reapi")
    finally:
        server.stop()
        for pid in helper_pids(runtime):
            os.kill(pid, 9)

"""Scenario `shared-reapi` of bench/run: the shared tier on a Remote Execution API server (BuildGrid 0.4.4 from
PyPI, in-memory CAS and action cache on loopback), through incrcc-storage-reapi. ccache 4.14.2 has no REAPI
backend of its own; it reaches the same server through the same helper (named `ccache-storage-grpc` on its
PATH, as ccache finds helpers for schemes it does not know), so both columns pay the same helper and server.
"""
import os
import shutil
import socket
import time

from benchlib import ROOT
from shared_tier import (LoopbackServer, dead_remote_row, find_ccache414, find_helper, free_port, helper_pids,
                         helper_rss_row, remote_env, remote_hit_rows, scenario_directories)

BGD = "/opt/incrcc-buildgrid/bin/bgd"



class BuildGridServer(LoopbackServer):
    """`bgd server start` on a loopback port; Python's start-up takes seconds, so it is waited for longer."""

    def __init__(self, work, bgd):
        port = free_port()
        config = os.path.join(work, "buildgrid.yml")
        with open(os.path.join(ROOT, "Tests", "Fixtures", "buildgrid", "config.yml")) as f:
            template = f.read()
        with open(config, "w") as f:
            f.write(template.replace("PORT", str(port)).replace("INSTANCE", ""))
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
        runs = remote_hit_rows(bench, launch, env, d, "BuildGrid REAPI", ", both through incrcc-storage-reapi")
        dead_remote_row(bench, launch, env, d, runs, f"grpc://127.0.0.1:{free_port()}", " (REAPI)")
        helper_rss_row(bench, runtime, "incrcc-storage-reapi")
    finally:
        server.stop()
        for pid in helper_pids(runtime):
            os.kill(pid, 9)

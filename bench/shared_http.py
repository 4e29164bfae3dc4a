"""Scenario `shared-http` of bench/run: the shared tier on an HTTP server (nginx with WebDAV on loopback),
incrcc through incrcc-storage-http against ccache 4.14.2's own HTTP backend, in the same run.

Machine A (a cache directory) compiles and uploads; machine B has compiled something else before (its
compiler identified, its headers seen) and starts each measured call from a copy of that cache, so every
call is a remote hit.
"""
import os
import shutil
import statistics

from benchlib import C_SOURCE, apt_install, callgrind_instructions, sh, timed
from shared_tier import (LoopbackServer, dead_remote_row, find_ccache414, find_helper, free_port, googletest_from_remote,
                         helper_pids, helper_rss_row, machine_b, remote_env, scenario_directories)


class NginxServer(LoopbackServer):
    """nginx serving one WebDAV directory on a loopback port, in a directory of its own."""

    def __init__(self, work):
        self.dir = os.path.join(work, "nginx")
        for sub in ("dav", "temp"):
            os.makedirs(os.path.join(self.dir, sub), exist_ok=True)
        port = free_port()
        user = "user root root;\n" if os.geteuid() == 0 else ""
        with open(os.path.join(self.dir, "nginx.conf"), "w") as f:
            f.write(f"""{user}daemon off;
worker_processes 2;
pid {self.dir}/nginx.pid;
error_log {self.dir}/error.log;
events {{ worker_connections 256; }}
http {{
    access_log off;
    client_body_temp_path {self.dir}/temp/body;
    proxy_temp_path {self.dir}/temp/proxy;
    fastcgi_temp_path {self.dir}/temp/fastcgi;
    uwsgi_temp_path {self.dir}/temp/uwsgi;
    scgi_temp_path {self.dir}/temp/scgi;
    server {{
        listen 127.0.0.1:{port};
        root {self.dir}/dav;
        dav_methods PUT DELETE;
        create_full_put_path on;
        client_max_body_size 0;
    }}
}}
""")
        super().__init__(port, [nginx_binary(), "-p", self.dir, "-c", os.path.join(self.dir, "nginx.conf"),
                                "-e", os.path.join(self.dir, "error.log")])


def nginx_binary():
    return shutil.which("nginx") or "/usr/sbin/nginx"


def shared_http(bench):
    if not os.access(nginx_binary(), os.X_OK):
        apt_install(["nginx-light"], "an HTTP server with WebDAV on loopback for the shared-tier rows")
    ccache = find_ccache414()
    helper = find_helper(bench, "incrcc-storage-http")
    if not os.access(nginx_binary(), os.X_OK) or not ccache or not os.access(helper, os.X_OK):
        return bench.skip("shared tier over HTTP", "nginx, ccache 4.14.2 or incrcc-storage-http missing")
    d, runtime = scenario_directories(bench, "shared-http")
    server = NginxServer(d)
    url = f"http://127.0.0.1:{server.port}/cache"
    try:
        env = remote_env(bench, runtime, helper, url)

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
            bench.row("small C remote hit (nginx WebDAV, loopback), instructions", ins["incrcc"], ins["ccache"],
                      "<= 0.5x", "instr", f"the caller's process only; remote hits seen {hits['incrcc']}/{hits['ccache']}")
        runs = bench.hit_runs // 2
        local_env = env("incrcc", os.path.join(d, "incrcc-a"))
        walls = {"incrcc": [], "ccache": [], "local": []}
        for _ in range(runs):
            for tool in ("incrcc", "ccache"):
                e = fresh(tool)
                walls[tool].append(timed(cmd[tool], d, e) * 1000)
            walls["local"].append(timed(cmd["incrcc"], d, local_env) * 1000)
        med = {k: statistics.median(v) for k, v in walls.items()}
        bench.row(f"small C remote hit (nginx WebDAV), wall ms (median of {runs})", med["incrcc"], med["ccache"],
                  "<= 0.8x", "ms", f"incrcc's local hit {med['local']:.2f} ms (remote +{med['incrcc'] - med['local']:.2f})")
        dead_remote_row(bench, launch, env, d, runs, f"http://127.0.0.1:{free_port()}/cache", " (HTTP)")
        googletest_from_remote(bench, launch, env, d, " (nginx WebDAV)")
        helper_rss_row(bench, runtime, "incrcc-storage-http")
    finally:
        server.stop()
        for pid in helper_pids(runtime):
            os.kill(pid, 9)

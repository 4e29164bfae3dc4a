"""Scenario `shared-http` of bench/run: the shared tier on an HTTP server (nginx with WebDAV on loopback),
incrcc through incrcc-storage-http against ccache 4.14.2's own HTTP backend, in the same run.

Machine A (a cache directory) compiles and uploads; machine B has compiled something else before (its
compiler identified, its headers seen) and starts each measured call from a copy of that cache, so every
call is a remote hit.
"""
import os
import shutil

from benchlib import apt_install
from shared_tier import (LoopbackServer, dead_remote_row, find_ccache414, find_helper, free_port, googletest_from_remote,
                         helper_pids, helper_rss_row, remote_env, remote_hit_rows, scenario_directories)


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
        runs = remote_hit_rows(bench, launch, env, d, "nginx WebDAV")
        dead_remote_row(bench, launch, env, d, runs, f"http://127.0.0.1:{free_port()}/cache", " (HTTP)")
        googletest_from_remote(bench, launch, env, d, " (nginx WebDAV)")
        helper_rss_row(bench, runtime, "incrcc-storage-http")
    finally:
        server.stop()
        for pid in helper_pids(runtime):
            os.kill(pid, 9)

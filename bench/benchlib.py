"""What bench/run measures with: process helpers, tool installs, and the sources it compiles."""
import datetime
import os
import re
import shutil
import subprocess
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)

C_SOURCE = """#include <stdio.h>
#include <stdlib.h>
#include <string.h>
int main(int argc, char **argv) { char b[64]; strcpy(b, argc > 1 ? argv[1] : "x"); printf("%s\\n", b); return EXIT_SUCCESS; }
"""
NIX_DEPENDENCY = """{ salt ? "1" }:
derivation {
  name = "libdemo-1.0";
  system = builtins.currentSystem;
  builder = "/bin/sh";
  PATH = "/usr/bin:/bin";
  inherit salt;
  # Nix 2.8 may kill a builder right after its log closes; the background sleep avoids it.
  # demo-paths.h holds the dependency's own store path, as a generated config.h with DATADIR does.
  args = [ "-c" "mkdir -p $out/include && printf '#define DEMO_VALUE 42\\\\n' > $out/include/demo.h && printf '#define DEMO_DATADIR \\\\042%s/share\\\\042\\\\n' $out > $out/include/demo-paths.h; sleep 0.3 &" ];
}
"""
NIX_SHELL = """{ salt ? "1" }:
let dep = import ./dep.nix { inherit salt; };
in derivation {
  name = "app-shell";
  system = builtins.currentSystem;
  builder = "/bin/sh";
  PATH = "/usr/bin:/bin";
  NIX_CFLAGS_COMPILE = "-isystem ${dep}/include";
  args = [ "-c" "echo shell > $out" ];
}
"""
CXX_SOURCE = """#include <iostream>
#include <vector>
#include <map>
#include <string>
#include <algorithm>
int main() { std::map<std::string, int> m; std::vector<int> v{3, 1, 2}; std::sort(v.begin(), v.end());
  m["a"] = v[0]; std::cout << m["a"] << "\\n"; return 0; }
"""


def sh(cmd, cwd=None, env=None, check=True):
    return subprocess.run(cmd, cwd=cwd, env=env, check=check, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def callgrind_instructions(cmd, cwd, env):
    """Instructions of the process started, not of its children; a child it forks (incrcc's store after
    returning) is followed by valgrind into a file of its own and not counted."""
    out = os.path.join(cwd, "callgrind.out")
    r = sh(["valgrind", "--tool=callgrind", "--callgrind-out-file=" + out + ".%p"] + cmd, cwd=cwd, env=env, check=False)
    if "debuginfo" in r.stderr and "Giving up" in r.stderr:
        # Valgrind 3.19 cannot read some debug information libcrypto.a brings into the static incrcc: the
        # same program without its debug sections executes the same instructions.
        stripped = os.path.join(cwd, os.path.basename(cmd[0]) + ".stripped")
        sh(["strip", "-o", stripped, cmd[0]])
        r = sh(["valgrind", "--tool=callgrind", "--callgrind-out-file=" + out + ".%p", stripped] + cmd[1:], cwd=cwd,
               env=env, check=False)
    first = re.search(r"==(\d+)==", r.stderr)
    m = first and re.search(rf"=={first.group(1)}== Collected : (\d+)", r.stderr)
    for name in os.listdir(cwd):
        if name.startswith("callgrind.out."):
            os.remove(os.path.join(cwd, name))
    return int(m.group(1)) if m else None


def peak_rss_kib(cmd, cwd, env):
    """GNU time's maximum resident set size. (Measuring from Python would count the forked interpreter's
    pages in the child's high-water mark, about 14 MiB whatever runs.)"""
    if not os.access("/usr/bin/time", os.X_OK):
        return None
    r = sh(["/usr/bin/time", "-f", "%M"] + cmd, cwd=cwd, env=env)
    return int(r.stderr.strip().splitlines()[-1])


def timed(cmd, cwd, env):
    start = datetime.datetime.now()
    sh(cmd, cwd=cwd, env=env)
    return (datetime.datetime.now() - start).total_seconds()


VENV = os.path.join(HERE, ".build", "venv")


def helper_venv():
    """bench/.build/venv with uv and matplotlib from PyPI; None when it cannot be made."""
    python = os.path.join(VENV, "bin", "python")
    if not os.path.exists(os.path.join(VENV, "bin", "uv")) or not os.path.exists(python):
        print("installing uv and matplotlib from PyPI into bench/.build/venv", flush=True)
        r = subprocess.run([sys.executable, "-m", "venv", VENV], capture_output=True, text=True)
        if r.returncode == 0:
            r = subprocess.run([python, "-m", "pip", "install", "-q", "uv", "matplotlib"], capture_output=True, text=True)
        if r.returncode != 0:
            print("could not install uv/matplotlib: " + r.stderr.strip()[-300:], flush=True)
            return None
    return VENV


def apt_install(packages, why):
    """Installs Debian packages when running as root; says so. False when they cannot be had."""
    missing = [p for p in packages if subprocess.run(["dpkg", "-s", p], capture_output=True).returncode != 0]
    if not missing:
        return True
    if os.geteuid() != 0 or not shutil.which("apt-get"):
        return False
    print(f"installing {' '.join(missing)} with apt-get ({why})", flush=True)
    env = dict(os.environ, DEBIAN_FRONTEND="noninteractive")
    return subprocess.run(["apt-get", "install", "-y", "-qq"] + missing, env=env, capture_output=True).returncode == 0


def stat_values(command, env):
    """A cache's `--print-stats` (incrcc's or ccache's key<TAB>value lines) as a dict of numbers.
    `command`: the cache binary, or a list that runs it."""
    command = command if isinstance(command, list) else [command]
    out = subprocess.run(command + ["--print-stats"], env=env, capture_output=True, text=True).stdout
    values = {}
    for line in out.splitlines():
        parts = line.split("\t")
        if len(parts) == 2 and parts[1].strip().isdigit():
            values[parts[0]] = int(parts[1])
    return values


def read_bytes(path):
    """A file's bytes, or None when it is not there (an output a failed step did not write)."""
    try:
        with open(path, "rb") as f:
            return f.read()
    except OSError:
        return None


def cache_counts(tool, binary, cache_env):
    """(hits, misses) from the tool's --print-stats."""
    values = stat_values(binary, cache_env)
    hits = values.get("direct_cache_hit", 0) + values.get("preprocessed_cache_hit", 0)
    return hits, values.get("cache_miss", 0)


class SccacheServer:
    """sccache compiles through a daemon that reads its cache directory when it starts: one server per
    cache, on a port of its own, stopped on leaving. Its client is what the build calls and what is timed;
    the server's own work is not in a client's instructions, so sccache joins only the wall-time rows."""

    def __init__(self, binary, cache):
        import socket
        with socket.socket() as probe:
            probe.bind(("127.0.0.1", 0))
            self.port = probe.getsockname()[1]
        self.binary = binary
        self.env = {k: v for k, v in os.environ.items() if not k.startswith(("INCRCC_", "CCACHE_", "SCCACHE_"))}
        self.env.update(SCCACHE_DIR=cache, SCCACHE_SERVER_PORT=str(self.port), SCCACHE_IDLE_TIMEOUT="0",
                        SCCACHE_CACHE_SIZE="5G")

    def __enter__(self):
        sh([self.binary, "--start-server"], env=self.env)
        return self

    def __exit__(self, *exc):
        sh([self.binary, "--stop-server"], env=self.env, check=False)

    def hits(self):
        """Cache hits the server counted (its --show-stats text)."""
        out = sh([self.binary, "--show-stats"], env=self.env).stdout
        match = re.search(r"^Cache hits\s+(\d+)", out, re.M)
        return int(match.group(1)) if match else None

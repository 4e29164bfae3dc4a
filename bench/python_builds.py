"""Scenario `uv` of bench/run: a nanobind extension reinstalled in a throw-away build directory."""
import contextlib
import datetime  # noqa: F401
import re
import os
import shutil
import statistics
import subprocess  # noqa: F401

from benchlib import (C_SOURCE, CXX_SOURCE, HERE, NIX_DEPENDENCY, NIX_SHELL, ROOT, apt_install,  # noqa: F401
                      cache_counts, callgrind_instructions, helper_venv, peak_rss_kib, sh, timed)

def uv_reinstall(bench):
    venv = helper_venv()
    if venv is None:
        return bench.skip("uv reinstall of the nanobind extension", "uv could not be installed from PyPI")
    uv = os.path.join(venv, "bin", "uv")
    fixture = os.path.join(HERE, "..", "Tests", "Fixtures", "nanobind_ext")
    results = {}
    with contextlib.ExitStack() as stack:
        tools = ("incrcc", "ccache") + (("sccache",) if bench.sccache else ())
        for tool in tools:
            d = os.path.join(bench.work, "uv-" + tool)
            os.makedirs(d)
            cache = os.path.join(d, "cache")
            if tool == "sccache":
                bench.active_sccache = stack.enter_context(bench.sccache_server(cache))
            launcher = bench.launcher(tool)[0]
            env = dict(bench.env(tool, cache))
            env["CMAKE_ARGS"] = f"-DCMAKE_C_COMPILER_LAUNCHER={launcher} -DCMAKE_CXX_COMPILER_LAUNCHER={launcher}"
            sh([uv, "venv", "-q", os.path.join(d, "venv")], env=env)
            install = [uv, "pip", "install", "-q", "--python", os.path.join(d, "venv", "bin", "python"), "--reinstall",
                       fixture]
            r = sh(install, env=env, check=False)
            if r.returncode != 0:
                return bench.skip("uv reinstall of the nanobind extension", "first install failed: " + r.stderr.strip()[-200:])
            before = counts(bench, tool, launcher, env)
            seconds = timed(install, None, env)
            after = counts(bench, tool, launcher, env)
            check = sh([os.path.join(d, "venv", "bin", "python"), "-c",
                        "import incrcc_nanobind_ext as e; assert e.add(2, 3) == 5"], check=False)
            results[tool] = (after[0] - before[0], (after[0] - before[0]) + (after[1] - before[1]), [seconds],
                             check.returncode == 0, install, env)
        # More reinstalls, alternating between the tools, for the wall time's median and spread.
        for _ in range(bench.build_reps - 1):
            for tool, result in results.items():
                result[2].append(timed(result[4], None, result[5]))
    note = "; ".join(f"{t}: {r[0]}/{r[1]} compiles hit, extension {'works' if r[3] else 'BROKEN'}"
                     for t, r in results.items())
    bench.row("uv reinstall, hits on the second install", results["incrcc"][0], results["ccache"][0],
             "all hit", "hits", note, comparable=False, sccache=results.get("sccache", (None,))[0])
    walls = {t: r[2] for t, r in results.items()}
    bench.row(f"uv reinstall, wall s of a warm reinstall (median of {len(walls['incrcc'])})",
             statistics.median(walls["incrcc"]), statistics.median(walls["ccache"]), "<= 0.5x", "s",
             "range " + " ".join(f"{t} {min(w):.2f}-{max(w):.2f}" for t, w in walls.items()),
             sccache=statistics.median(walls["sccache"]) if "sccache" in walls else None)


def counts(bench, tool, launcher, env):
    """(hits, misses) so far: from --print-stats, or from the sccache server's statistics."""
    if tool == "sccache":
        out = sh([launcher, "--show-stats"], env=env).stdout
        found = {key: int(m.group(1)) for key in ("Cache hits", "Cache misses")
                 for m in [re.search(rf"^{key}\s+(\d+)", out, re.M)] if m}
        return found.get("Cache hits", 0), found.get("Cache misses", 0)
    return cache_counts(tool, launcher, env)

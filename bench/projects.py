"""Scenarios `googletest` and `binutils` of bench/run: whole-project builds, cold and warm."""
import contextlib
import datetime  # noqa: F401
import fcntl
import os
import shutil
import statistics
import subprocess

from benchlib import (C_SOURCE, CXX_SOURCE, HERE, NIX_DEPENDENCY, NIX_SHELL, ROOT, apt_install,  # noqa: F401
                      cache_counts, callgrind_instructions, helper_venv, peak_rss_kib, sh, timed)

def googletest(bench):
    src = "/usr/src/googletest"
    if not os.path.isdir(src):
        apt_install(["googletest"], "googletest's sources under /usr/src/googletest")
    if not os.path.isdir(src):
        return bench.skip("googletest cold build", "Debian package googletest not installed (/usr/src/googletest)")
    if not (shutil.which("cmake") and shutil.which("ninja")):
        return bench.skip("googletest cold build", "cmake or ninja not installed")

    def build(tool, cache):
        build_dir = os.path.join(bench.work, "gt-build")
        shutil.rmtree(build_dir, ignore_errors=True)
        cmake = ["cmake", "-G", "Ninja", "-S", src, "-B", build_dir, "-DCMAKE_BUILD_TYPE=Release"]
        if tool != "plain":
            launcher = bench.launcher(tool)[0]
            cmake += [f"-DCMAKE_C_COMPILER_LAUNCHER={launcher}", f"-DCMAKE_CXX_COMPILER_LAUNCHER={launcher}"]
        env = bench.env(tool if tool != "plain" else "incrcc", cache)
        sh(cmake, env=env)
        return timed(["cmake", "--build", build_dir, "-j2"], None, env)

    project_builds(bench, "googletest (cmake --build, Ninja, -j2)", build)


def binutils(bench):
    tarball = "/usr/src/binutils/binutils-2.40.tar.xz"
    if not os.path.exists(tarball):
        apt_install(["binutils-source", "bison", "flex", "texinfo", "bc"], "GNU binutils 2.40 sources and build tools")
    if not os.path.exists(tarball):
        return bench.skip("binutils cold build", "Debian package binutils-source not installed")
    if not all(shutil.which(t) for t in ("bison", "flex", "makeinfo")):
        apt_install(["bison", "flex", "texinfo", "bc"], "binutils' build tools")
    src = os.path.join(bench.work, "binutils-src")
    os.makedirs(src)
    sh(["tar", "-xf", tarball, "-C", src, "--strip-components=1"])

    def build(tool, cache):
        build_dir = os.path.join(bench.work, "binutils-build")
        shutil.rmtree(build_dir, ignore_errors=True)
        os.makedirs(build_dir)
        cc = "gcc" if tool == "plain" else f"{bench.launcher(tool)[0]} gcc"
        env = bench.env(tool if tool != "plain" else "incrcc", cache)
        start = datetime.datetime.now()
        sh([os.path.join(src, "configure"), "--disable-gdb", "--disable-gold", "--disable-gprofng", "--disable-nls",
            "--disable-werror", "--disable-sim", f"CC={cc}"], cwd=build_dir, env=env)
        sh(["make", "-j2", "all-binutils"], cwd=build_dir, env=env)
        return (datetime.datetime.now() - start).total_seconds()

    project_builds(bench, "binutils (configure + make -j2 all-binutils)", build)


def binutils_verification(bench):
    """binutils' warm build (configure rewrites conftest.c for every test) with every hit sampled for
    verification: every mismatch reported is a false verdict, since the compiler is deterministic."""
    tarball = "/usr/src/binutils/binutils-2.40.tar.xz"
    if not os.path.exists(tarball):
        apt_install(["binutils-source", "bison", "flex", "texinfo", "bc"], "GNU binutils 2.40 sources and build tools")
    if not os.path.exists(tarball) or not all(shutil.which(t) for t in ("bison", "flex", "makeinfo")):
        return bench.skip("binutils warm build, verify_rate 1", "binutils-source, bison, flex or texinfo missing")
    src = os.path.join(bench.work, "binutils-verify-src")
    os.makedirs(src)
    sh(["tar", "-xf", tarball, "-C", src, "--strip-components=1"])
    cache = os.path.join(bench.work, "binutils-verify-cache")

    def build(rate):
        build_dir = os.path.join(bench.work, "binutils-verify-build")
        shutil.rmtree(build_dir, ignore_errors=True)
        os.makedirs(build_dir)
        env = bench.env("incrcc", cache)
        env["INCRCC_VERIFY_RATE"] = rate
        cc = f"{bench.incrcc} gcc"
        sh([os.path.join(src, "configure"), "--disable-gdb", "--disable-gold", "--disable-gprofng", "--disable-nls",
            "--disable-werror", "--disable-sim", f"CC={cc}"], cwd=build_dir, env=env)
        sh(["make", "-j2", "all-binutils"], cwd=build_dir, env=env)

    build("0")
    sh([bench.incrcc, "-z"], env=bench.env("incrcc", cache))
    build("1")
    # The verifiers run detached, one at a time: wait for the last one before reading the counters.
    lock = os.path.join(cache, "tmp", "verify.lock")
    if os.path.exists(lock):
        with open(lock) as handle:
            fcntl.flock(handle, fcntl.LOCK_EX)
    out = subprocess.run([bench.incrcc, "--print-stats"], env=bench.env("incrcc", cache), capture_output=True,
                         text=True, check=True).stdout
    stats = {k: int(v) for k, v in (line.split("\t") for line in out.splitlines() if "\t" in line)}
    bench.row("binutils warm build, verify_rate 1: false mismatches", stats.get("verify_mismatch", 0), None, "0", "",
              f"{stats.get('verify_sampled', 0)} hits verified after returning, {stats.get('verify_inconclusive', 0)} "
              f"voided (an input changed after the hit), of {stats.get('direct_cache_hit', 0)} hits", comparable=False)


def project_builds(bench, name, build):
    """Cold builds (plain, incrcc, ccache, sccache) then warm rebuilds from a fresh build dir, alternating."""
    tools = ("plain", "incrcc", "ccache") + (("sccache",) if bench.sccache else ())
    cold = {t: [] for t in tools}
    warm = {t: [] for t in tools if t != "plain"}
    sizes = {}
    disk = {}
    counted = {}
    for rep in range(bench.build_reps):
        for tool in cold:
            cache = os.path.join(bench.work, f"{name[:8]}-{tool}-{rep}")
            shutil.rmtree(cache, ignore_errors=True)
            with contextlib.ExitStack() as stack:
                if tool == "sccache":
                    bench.active_sccache = stack.enter_context(bench.sccache_server(cache))
                cold[tool].append(build(tool, cache))
                if tool != "plain":
                    sizes[tool] = sum(os.path.getsize(os.path.join(p, f)) for p, _, fs in os.walk(cache) for f in fs)
                    disk[tool] = disk_use(cache)
                    if tool in ("incrcc", "ccache"):
                        subprocess.run(bench.launcher(tool) + ["-z"], env=bench.env(tool, cache), capture_output=True)
                    warm[tool].append(build(tool, cache))
                    if tool in ("incrcc", "ccache"):
                        counted[tool] = warm_counts(bench, tool, cache)
    med = {t: statistics.median(v) for t, v in cold.items()}
    spread = " ".join(f"{t} {min(v):.1f}-{max(v):.1f}s" for t, v in cold.items())
    # Each round's builds run back to back, so a round's ratio is spared the machine's drift between
    # rounds (plain alone has spanned 9 s of 70 here); the overhead is the median of those ratios.
    paired = {t: [(c / p - 1) * 100 for c, p in zip(cold[t], cold["plain"])] for t in warm}
    overhead = {t: statistics.median(v) for t, v in paired.items()}
    rounds = " ".join(f"{t} " + "/".join(f"{x:+.1f}" for x in v) for t, v in paired.items())
    bench.row(f"{name} cold, overhead % over plain", round(overhead["incrcc"], 1), round(overhead["ccache"], 1),
             "incrcc <= +3%", "%", f"median of {len(cold['plain'])} rounds' ratios ({rounds}); plain median "
             f"{med['plain']:.2f} s; {spread}", comparable=False,
             sccache=round(overhead["sccache"], 1) if "sccache" in overhead else None)
    wmed = {t: statistics.median(v) for t, v in warm.items()}
    wspread = " ".join(f"{t} {min(v):.2f}-{max(v):.2f}s" for t, v in warm.items())
    bench.row(f"{name} warm rebuild, s", wmed["incrcc"], wmed["ccache"], "<= 0.8x", "s", wspread,
              sccache=wmed.get("sccache"))
    if "incrcc" in counted and "ccache" in counted:
        mine, theirs = counted["incrcc"], counted["ccache"]
        bench.row(f"{name} warm rebuild, calls served", mine["served"], theirs["served"], "more is better", "calls",
                  "incrcc: " + ", ".join(f"{k} {v}" for k, v in mine["classes"].items())
                  + "; ccache: " + ", ".join(f"{k} {v}" for k, v in theirs["classes"].items()), comparable=False)
    bench.row(f"{name} cache size after cold build, KiB", sizes["incrcc"] // 1024, sizes["ccache"] // 1024,
             "smaller is better", "KiB", "file bytes", sccache=sizes["sccache"] // 1024 if "sccache" in sizes else None)
    bench.row(f"{name} cache disk use after cold build, KiB", disk["incrcc"], disk["ccache"], "<= 1.0x", "KiB",
              "du -sk: blocks of files and directories", sccache=disk.get("sccache"))


def disk_use(directory):
    """What `du -sk` says the directory takes: its files' and directories' blocks, in KiB."""
    out = subprocess.run(["du", "-sk", directory], capture_output=True, text=True).stdout.split()
    return int(out[0]) if out and out[0].isdigit() else 0


def warm_counts(bench, tool, cache):
    """A tool's calls of the build just run, by class: served (compiles, links), compiled, refused."""
    out = subprocess.run(bench.launcher(tool) + ["--print-stats"], env=bench.env(tool, cache), capture_output=True,
                         text=True).stdout
    values = {}
    for line in out.splitlines():
        key, _, value = line.partition("\t")
        if value.strip().isdigit():
            values[key] = int(value)
    served = values.get("direct_cache_hit", 0) + values.get("preprocessed_cache_hit", 0)
    classes = {"hits": served, "of them links": values.get("link_hit", 0), "misses": values.get("cache_miss", 0),
               "called for link": values.get("called_for_link", 0),
               "called for preprocessing": values.get("called_for_preprocessing", 0),
               "compile failed": values.get("compile_failed", 0)}
    return {"served": served, "classes": classes}

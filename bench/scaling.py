"""The `scaling` scenario of bench/run: how a hit's cost grows with the include graph, and how long the
cache's own cleanup takes as it fills.

Generated translation units include 10, 100, 1,000 and 5,000 headers; for each, a direct hit's instructions
(callgrind, the calling process) and wall time (median, calls alternating) for incrcc and ccache 4.14.2 (and
the `--ccache` one where it is another; sccache in the wall series, its server started per unit), plotted log-log in bench/scaling.svg, with the slope of log(cost)
over log(headers) fitted from 100 headers up. Cleanup: `incrcc -c` down to half of a cache holding 10,000
and 100,000 entries (files of 2 KiB)."""
import contextlib
import json
import math
import os
import random
import shutil
import statistics
import time

from benchlib import HERE, callgrind_instructions, helper_venv, sh, timed
from shared_tier import find_ccache414

HEADER_COUNTS = [10, 100, 1000, 5000]


def write_unit(directory, count):
    include = os.path.join(directory, "inc")
    os.makedirs(include)
    lines = []
    for index in range(count):
        with open(os.path.join(include, f"h{index}.h"), "w") as f:
            f.write(f"#ifndef H{index}_H\n#define H{index}_H\n#define VALUE_{index} {index}\n#endif\n")
        lines.append(f'#include "h{index}.h"\n')
    lines.append(f"int f(void) {{ return VALUE_0 + VALUE_{count - 1}; }}\n")
    with open(os.path.join(directory, "t.c"), "w") as f:
        f.writelines(lines)


def slope(points):
    """Least-squares slope of log(cost) over log(headers)."""
    xs = [math.log(n) for n, _ in points]
    ys = [math.log(c) for _, c in points]
    mx, my = statistics.mean(xs), statistics.mean(ys)
    return sum((x - mx) * (y - my) for x, y in zip(xs, ys)) / sum((x - mx) ** 2 for x in xs)


def scaling(bench):
    if not bench.ccache:
        return bench.skip("scaling", "no ccache to compare with")
    reference = "ccache 4.14.2" if bench.ccache == find_ccache414() else "ccache (--ccache)"
    tools = {"incrcc": [bench.incrcc], reference: [bench.ccache]}
    if bench.ccache2:
        tools["ccache (Debian)"] = [bench.ccache2]
    root = os.path.join(bench.work, "scaling")
    instructions = {tool: [] for tool in tools}
    # sccache's client does not do the work (its server does): it joins the wall series only.
    walls = {tool: [] for tool in list(tools) + (["sccache"] if bench.sccache else [])}
    runs = 10 if bench.args.quick else 40
    for count in HEADER_COUNTS:
        d = os.path.join(root, f"n{count}")
        write_unit(d, count)
        # Headers older than a file system's timestamp granularity, as in a tree not just written: their
        # stats stand for their contents from the miss on (otherwise the first settled hit records them).
        time.sleep(2.1)

        def env(tool):
            return bench.env("incrcc" if tool == "incrcc" else "ccache", os.path.join(d, tool.replace(" ", "_")))

        cmd = {tool: tools[tool] + ["gcc", "-O0", "-Iinc", "-c", "t.c", "-o", tool.replace(" ", "_") + ".o"]
               for tool in tools}
        for tool in tools:  # a miss, then a hit, so that the measured calls are settled direct hits
            sh(cmd[tool], cwd=d, env=env(tool))
            sh(cmd[tool], cwd=d, env=env(tool))
        if shutil.which("valgrind"):
            for tool in tools:
                instructions[tool].append((count, callgrind_instructions(cmd[tool], d, env(tool))))
            bench.row(f"hit with {count} headers, instructions", instructions["incrcc"][-1][1],
                      instructions[reference][-1][1], "grows no faster than the stats", "instr",
                      "; ".join(f"{t} {v[-1][1]:,}" for t, v in instructions.items() if t not in ("incrcc", reference)))
        samples = {tool: [] for tool in walls}
        with contextlib.ExitStack() as stack:
            envs = {tool: env(tool) for tool in tools}
            if bench.sccache:
                server = stack.enter_context(bench.sccache_server(os.path.join(d, "sccache-cache")))
                cmd["sccache"] = [bench.sccache, "gcc", "-O0", "-Iinc", "-c", "t.c", "-o", "sccache.o"]
                envs["sccache"] = server.env
                sh(cmd["sccache"], cwd=d, env=server.env)
                sh(cmd["sccache"], cwd=d, env=server.env)
            for _ in range(runs):
                for tool in walls:
                    samples[tool].append(timed(cmd[tool], d, envs[tool]) * 1000)
        for tool in walls:
            walls[tool].append((count, statistics.median(samples[tool])))
        bench.row(f"hit with {count} headers, wall ms (median of {runs})", walls["incrcc"][-1][1],
                  walls[reference][-1][1], "-", "ms",
                  "; ".join(f"{t} {v[-1][1]:.2f}" for t, v in walls.items() if t not in ("incrcc", reference, "sccache")),
                  sccache=walls["sccache"][-1][1] if "sccache" in walls else None)
        shutil.rmtree(d, ignore_errors=True)
    for name, series in (("instructions", instructions), ("wall", walls)):
        if all(len(points) >= 3 for points in series.values()):
            fitted = {tool: slope([p for p in points if p[0] >= 100]) for tool, points in series.items()}
            bench.row(f"hit {name}, slope of log(cost) over log(headers), 100-5000", round(fitted["incrcc"], 3),
                      round(fitted[reference], 3), "<= 1 (linear in the headers stat'ed)", "slope",
                      "; ".join(f"{t} {v:.3f}" for t, v in fitted.items() if t not in ("incrcc", reference)),
                      comparable=False)
    plot(instructions, walls)
    for entries in (10_000, 100_000):
        cleanup(bench, root, entries)


def cleanup(bench, root, entries):
    """`incrcc -c` down to half of a cache holding `entries` files of 2 KiB, spread over its shards."""
    cache = os.path.join(root, f"cleanup-{entries}")
    payload = os.urandom(2048)
    rng = random.Random(entries)
    now = time.time()
    for index in range(entries):
        name = "%032x" % rng.getrandbits(128)
        directory = os.path.join(cache, name[0], name[1])
        os.makedirs(directory, exist_ok=True)
        path = os.path.join(directory, name + ".R")
        with open(path, "wb") as f:
            f.write(payload)
        os.utime(path, (now - index, now - index))
    env = bench.env("incrcc", cache)
    size_kib = entries * 2 // 2
    sh([bench.incrcc, "-M", f"{size_kib}K"], env=env)
    started = time.perf_counter()
    sh([bench.incrcc, "-c"], env=env)
    seconds = time.perf_counter() - started
    left = sum(len(files) for _, _, files in os.walk(cache))
    bench.row(f"cleanup of {entries:,} entries to half, s", round(seconds, 3), None, "-", "s",
              f"files left (with stats and config): {left:,}", comparable=False)
    shutil.rmtree(cache, ignore_errors=True)


def plot(instructions, walls):
    venv = helper_venv()
    if venv is None or not any(instructions.values()):
        print("no scaling plot: matplotlib or valgrind missing", flush=True)
        return
    script = ("import sys, json\nimport matplotlib\nmatplotlib.use('Agg')\nimport matplotlib.pyplot as plt\n"
              "data = json.loads(sys.argv[1])\n"
              "fig, axes = plt.subplots(1, 2, figsize=(11, 4.2))\n"
              "for ax, (name, series) in zip(axes, data.items()):\n"
              "    for tool, points in series.items():\n"
              "        if points: ax.loglog([p[0] for p in points], [p[1] for p in points], marker='o', label=tool)\n"
              "    ax.set_xlabel('headers included'); ax.set_ylabel(name); ax.grid(True, which='both', alpha=0.3)\n"
              "    ax.legend()\n"
              "axes[0].set_title('direct hit, instructions (callgrind)'); axes[1].set_title('direct hit, wall')\n"
              "fig.tight_layout(); fig.savefig(sys.argv[2])\n")
    data = {"instructions": instructions, "wall ms": walls}
    sh([os.path.join(venv, "bin", "python"), "-c", script, json.dumps(data), os.path.join(HERE, "scaling.svg")])

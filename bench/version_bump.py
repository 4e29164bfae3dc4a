"""Scenario `version` of bench/run: a project rebuilt after the release bumps a `-D` define one file uses.

Build systems pass the same flags to every file, so `-DPROJECT_VERSION="1.0.N"` changes every command line
while only `version.c` reads it. Each tool builds the project once, then again after the bump (from a
fresh object directory): hits on the rebuild and its wall time. incrcc serves the other files across the
option they do not read; ccache finds them in its preprocessor mode (the preprocessed text is unchanged),
sccache by preprocessing every file.
"""
import contextlib
import os
import shutil

from benchlib import cache_counts, sh, timed

FILES = 12
HEADERS = "#include <stdio.h>\n#include <stdlib.h>\n#include <string.h>\n#include <math.h>\n"


def write_project(root):
    os.makedirs(root)
    for index in range(FILES - 1):
        with open(os.path.join(root, f"part{index}.c"), "w") as f:
            f.write(HEADERS + f"double part{index}(double x) {{ char b[32]; snprintf(b, sizeof b, \"%g\", x); "
                    f"return sqrt(x) * {index + 1} + (double)strlen(b); }}\n")
    with open(os.path.join(root, "version.c"), "w") as f:
        f.write(HEADERS + "const char *project_version(void) { return PROJECT_VERSION; }\n")
    return sorted(name for name in os.listdir(root) if name.endswith(".c"))


def build(launcher, root, sources, version, env):
    """Compiles every file as a build system would, with the release's define; the wall time in seconds."""
    objects = os.path.join(root, "obj")
    shutil.rmtree(objects, ignore_errors=True)
    os.makedirs(objects)
    total = 0.0
    for source in sources:
        command = launcher + ["gcc", "-O2", f'-DPROJECT_VERSION="1.0.{version}"', "-c", source,
                              "-o", os.path.join("obj", source[:-2] + ".o")]
        total += timed(command, root, env)
    return total


def version_bump(bench):
    root = os.path.join(bench.work, "version")
    sources = write_project(root)
    results = {}
    tools = list(bench.cache_tools()) + (["sccache"] if bench.sccache else [])
    for tool in tools:
        cache = os.path.join(bench.work, f"version-{tool}-cache")
        with contextlib.ExitStack() as stack:
            if tool == "sccache":
                bench.active_sccache = stack.enter_context(bench.sccache_server(cache))
            env = bench.env(tool, cache)
            launcher = bench.launcher(tool)
            build(launcher, root, sources, 1, env)
            before = hit_count(bench, tool, env)
            wall = build(launcher, root, sources, 2, env)
            results[tool] = (hit_count(bench, tool, env) - before, wall)
    note = f"{FILES} files, one reads the define; hits on the rebuild: " + ", ".join(
        f"{tool} {hits}/{FILES}" for tool, (hits, _) in results.items())
    bench.row("version bump: rebuild after -DPROJECT_VERSION changes, hits", results["incrcc"][0],
              results["ccache"][0], f"{FILES - 1} of {FILES}", "hits", note, comparable=False,
              second=results.get("ccache2", (None,))[0], sccache=results.get("sccache", (None,))[0])
    bench.row("version bump: rebuild wall s (sequential compiles)", results["incrcc"][1], results["ccache"][1],
              "<= 0.5x", "s", note, second=results.get("ccache2", (None, None))[1],
              sccache=results.get("sccache", (None, None))[1])


def hit_count(bench, tool, env):
    if tool == "sccache":
        return bench.active_sccache.hits() or 0
    return cache_counts(tool, bench.launcher(tool)[0], env)[0]

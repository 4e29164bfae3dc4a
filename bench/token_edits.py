"""Scenario `edits` of bench/run: header edits that change no token, on a 16-file project built with make.

Every tool builds the project cold, then each edit is made to `api.h` (included by 7 of the 16 files) and
the project is built again; hits are counted from the tools' statistics and every object is compared with
a plain compile of the same sources.
"""
import os
import shutil
import subprocess

from benchlib import stat_values

HEADER = """#pragma once
{top}#include <string.h>
#define API_VERSION {version}
#define SCALE 3
static inline int scaled(int v) {{ return v * SCALE; }}
static inline int text_length(const char *s) {{ return (int)strlen(s); }}
"""

EDITS = [
    ("a comment line appended", dict(top="", version="1"), "\n// appended note\n"),
    ("a doc comment of 4 lines inserted (lines shift)", dict(top="/**\n * The API.\n * Shifts every line below.\n */\n", version="1"), ""),
    ("an unused macro's value changed", dict(top="/**\n * The API.\n * Shifts every line below.\n */\n", version="2"), ""),
]


def write_project(d):
    os.makedirs(d, exist_ok=True)
    for i in range(16):
        include = '#include "api.h"\n' if i < 7 else ""
        body = "scaled(x) + text_length(\"abc\")" if i < 7 else "x * %d" % (i + 1)
        with open(os.path.join(d, "f%02d.c" % i), "w") as f:
            f.write("%sint f%02d(int x) { return %s; }\n" % (include, i, body))
    with open(os.path.join(d, "Makefile"), "w") as f:
        f.write("OBJS = " + " ".join("f%02d.o" % i for i in range(16)) + "\nall: $(OBJS)\n%.o: %.c api.h\n\t$(CC) -O2 -c $< -o $@\n")


def write_header(d, top, version, tail=""):
    with open(os.path.join(d, "api.h"), "w") as f:
        f.write(HEADER.format(top=top, version=version) + tail)


def counted_hits(bench, tool, env):
    values = stat_values(bench.launcher(tool), env)
    return sum(values.get(k, 0) for k in ("direct_cache_hit", "preprocessed_cache_hit"))


def token_edits(bench):
    tools = [t for t in bench.cache_tools()]
    work = os.path.join(bench.work, "edits")
    results = {}
    for tool in tools:
        d = os.path.join(work, tool)
        write_project(d)
        write_header(d, "", "1")
        env = bench.env(tool, os.path.join(work, tool + "-cache"))
        cc = "CC=" + " ".join(bench.launcher(tool) + ["gcc"])
        subprocess.run(["make", "-s", "-j4", cc], cwd=d, env=env, check=True, capture_output=True)
        rows = []
        for name, header, tail in EDITS:
            write_header(d, header["top"], header["version"], tail)
            before = counted_hits(bench, tool, env)
            subprocess.run(["make", "-s", "-j4", cc], cwd=d, env=env, check=True, capture_output=True)
            hits = counted_hits(bench, tool, env) - before
            wrong = 0
            for i in range(7):
                served = open(os.path.join(d, "f%02d.o" % i), "rb").read()
                plain = os.path.join(d, "plain.o")
                subprocess.run(["gcc", "-O2", "-c", "f%02d.c" % i, "-o", plain], cwd=d, check=True)
                wrong += open(plain, "rb").read() != served
            rows.append((name, hits, wrong))
        results[tool] = rows
        shutil.rmtree(d, ignore_errors=True)
    for index, (name, _, _) in enumerate(EDITS):
        hits = {tool: results[tool][index][1] for tool in tools}
        wrong = sum(results[tool][index][2] for tool in tools if tool == "incrcc")
        bench.row(f"16 files rebuilt (7 include the header): {name}, hits", hits["incrcc"], hits["ccache"], "16", "hits",
                  note=f"incrcc wrong objects {wrong}", comparable=False, second=hits.get("ccache2"))

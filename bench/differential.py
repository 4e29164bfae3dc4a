#!/usr/bin/env python3
"""Randomized differential run: a small project goes through random edits and option changes (header
edits, shadowing headers, -D flags used and unused, CPATH, touch, -O, -g, gcc/clang); after each, one
source is compiled by incrcc, by ccache and plainly, and each cache's object is compared with the plain
one. Prints, per tool, the hits, the wrong objects (a hit or miss whose object differs from the plain
compile's), and the correct hits.

    bench/differential.py [--seed N] [--steps N] [--incrcc PATH] [--ccache PATH] [--json]
"""
import argparse
import json
import os
import random
import shutil
import subprocess
import tempfile

from benchlib import stat_values

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)

SOURCES = {
    "a.c": '#include <stdio.h>\n#include "config.h"\nint a(void) { return printf("%d", LIMIT); }\n',
    "b.c": '#include "feature.h"\nint b(void) { return feature_level; }\n',
    "c.c": '#include <string.h>\n#include "util.h"\nint c(const char *s) { return (int)strlen(s) + UTIL; }\n',
    "d.c": '#include "config.h"\n#include "util.h"\nint d(void) { return LIMIT * UTIL; }\n',
    "v.c": '#include <stdio.h>\nconst char *version(void) { return VER; }\n',
    "p.c": '#define CAT(x, y) x##y\n#include "util.h"\nint p(void) { return CAT(MO, DE) + UTIL; }\n',
}
HEADERS = {
    "config.h": "#define LIMIT {n}\n",
    "feature.h": "#ifdef FEATURE\nstatic const int feature_level = {n};\n#else\nstatic const int feature_level = 0;\n#endif\n",
    "util.h": "#define UTIL {n}\n",
}


def tool_stats(kind, binary, env):
    values = stat_values(binary, env)
    return values.get("direct_cache_hit", 0) + values.get("preprocessed_cache_hit", 0)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--steps", type=int, default=450)
    parser.add_argument("--incrcc", default=os.path.join(ROOT, ".build", "release", "incrcc"))
    parser.add_argument("--ccache", default=shutil.which("ccache") or "")
    parser.add_argument("--json", action="store_true")
    parser.add_argument("--check", action="store_true", help="exit 1 when incrcc served a wrong object")
    parser.add_argument("--log", help="incrcc's log file (INCRCC_LOGFILE), to see why calls missed")
    parser.add_argument("--show-missed", action="store_true",
                        help="print each step where ccache hit with the right object and incrcc missed")
    args = parser.parse_args()
    rng = random.Random(args.seed)
    compilers = ["gcc"] + (["clang"] if shutil.which("clang") else [])
    work = tempfile.mkdtemp(prefix="incrcc-differential-")
    project = os.path.join(work, "p")
    os.makedirs(os.path.join(project, "inc"))
    os.makedirs(os.path.join(project, "shadow"))
    os.makedirs(os.path.join(project, "extra"))
    for name, text in SOURCES.items():
        with open(os.path.join(project, name), "w") as f:
            f.write(text)
    values = {name: 1 for name in HEADERS}

    def write_header(directory, name, n):
        with open(os.path.join(project, directory, name), "w") as f:
            f.write(HEADERS[name].replace("{n}", str(n)))

    for name in HEADERS:
        write_header("inc", name, 1)
    state = {"ver": 1, "feature": False, "unused": False, "mode": 1, "opt": "-O1", "g": False, "cpath": None,
             "compiler": "gcc"}
    base_env = {k: v for k, v in os.environ.items() if not k.startswith(("INCRCC_", "CCACHE_"))}
    tools = {"incrcc": args.incrcc}
    if args.ccache:
        tools["ccache"] = args.ccache
    envs = {}
    for name in tools:
        env = dict(base_env)
        if name == "incrcc":
            env.update({"INCRCC_DIR": os.path.join(work, "incrcc-cache"), "INCRCC_VERIFY_RATE": "0"})
            if args.log:
                env["INCRCC_LOGFILE"] = args.log
        else:
            env.update({"CCACHE_DIR": os.path.join(work, "ccache-cache")})
        envs[name] = env
    totals = {name: {"hits": 0, "wrong": 0, "wrong_hits": 0} for name in tools}
    compiles = 0
    for step in range(args.steps):
        action = rng.choice(["header", "shadow", "unshadow", "ver", "feature", "unused", "mode", "cpath", "touch",
                             "opt", "g", "compiler", "none", "none"])
        if action == "header":
            name = rng.choice(list(HEADERS))
            values[name] = rng.randint(1, 3)
            write_header("inc", name, values[name])
        elif action == "shadow":
            write_header("shadow", rng.choice(list(HEADERS)), rng.randint(4, 6))
        elif action == "unshadow":
            for name in os.listdir(os.path.join(project, "shadow")):
                os.remove(os.path.join(project, "shadow", name))
        elif action == "ver":
            state["ver"] = rng.randint(1, 3)
        elif action == "feature":
            state["feature"] = not state["feature"]
        elif action == "unused":
            state["unused"] = not state["unused"]
        elif action == "mode":
            state["mode"] = rng.randint(1, 2)
        elif action == "cpath":
            state["cpath"] = rng.choice([None, "extra", "shadow"])
            if rng.random() < 0.3:
                write_header("extra", rng.choice(list(HEADERS)), 7)
        elif action == "touch":
            target = os.path.join(project, rng.choice(list(SOURCES) + ["inc/" + h for h in HEADERS]))
            os.utime(target)
        elif action == "opt":
            state["opt"] = rng.choice(["-O0", "-O1", "-O2"])
        elif action == "g":
            state["g"] = not state["g"]
        elif action == "compiler":
            state["compiler"] = rng.choice(compilers)
        source = rng.choice(list(SOURCES))
        flags = [state["opt"], "-Ishadow", "-Iinc", f'-DVER="{state["ver"]}"', f"-DMODE={state['mode']}"]
        if state["g"]:
            flags.append("-g")
        if state["feature"]:
            flags.append("-DFEATURE")
        if state["unused"]:
            flags.append("-DNOT_USED_BY_ANY_FILE=1")
        env_extra = {"CPATH": os.path.join(project, state["cpath"])} if state["cpath"] else {}
        command = [state["compiler"]] + flags + ["-c", source]
        plain = os.path.join(work, "plain.o")
        subprocess.run(command + ["-o", plain], cwd=project, env={**base_env, **env_extra}, check=True,
                       capture_output=True)
        expected = open(plain, "rb").read()
        compiles += 1
        outcome = {}
        for name, binary in tools.items():
            env = {**envs[name], **env_extra}
            before = tool_stats(name, binary, envs[name])
            out = os.path.join(work, name + ".o")
            if os.path.exists(out):
                os.remove(out)
            subprocess.run([binary] + command + ["-o", out], cwd=project, env=env, check=True, capture_output=True)
            hit = tool_stats(name, binary, envs[name]) > before
            got = open(out, "rb").read()
            if args.log:
                with open(args.log, "a") as log:
                    right = "" if got == expected else " WRONG"
                    log.write(f"=== {name} step {step} {action} {'HIT' if hit else 'miss'}{right}: "
                              f"{' '.join(command)} {env_extra}\n")
            outcome[name] = (hit, got == expected)
            totals[name]["hits"] += int(hit)
            if got != expected:
                totals[name]["wrong"] += 1
                totals[name]["wrong_hits"] += int(hit)
        if args.show_missed and outcome.get("ccache") == (True, True) and not outcome["incrcc"][0]:
            print(f"step {step} ({action}): ccache hit, incrcc missed: {' '.join(command)} {env_extra}")
    for name in totals:
        totals[name]["correct_hits"] = totals[name]["hits"] - totals[name]["wrong_hits"]
    shutil.rmtree(work, ignore_errors=True)
    if args.json:
        print(json.dumps({"seed": args.seed, "compiles": compiles, "tools": totals}))
    else:
        print(f"seed {args.seed}: {compiles} compiles")
        for name, total in totals.items():
            print(f"  {name:8} hits {total['hits']:4}  wrong {total['wrong']:3}  correct hits {total['correct_hits']:4}")
    if args.check and totals["incrcc"]["wrong"] > 0:
        raise SystemExit(1)


def scenario(bench):
    """bench/run's `differential` scenario: seeds 1 to 3 (1 with --quick), incrcc against the newest ccache;
    correct hits summed over the seeds, and the wrong objects."""
    seeds = [1] if bench.args.quick else [1, 2, 3]
    totals = {"incrcc": [0, 0], "ccache": [0, 0]}
    for seed in seeds:
        out = subprocess.run(["python3", os.path.abspath(__file__), "--seed", str(seed), "--incrcc", bench.incrcc,
                              "--ccache", bench.ccache, "--json"], capture_output=True, text=True, check=True)
        tools = json.loads(out.stdout.strip().splitlines()[-1])["tools"]
        for name in totals:
            totals[name][0] += tools[name]["correct_hits"]
            totals[name][1] += tools[name]["wrong"]
    note = f"seeds {', '.join(map(str, seeds))}, 450 compiles each (bench/differential.py)"
    bench.row("differential: correct hits (hits whose object equals a plain compile's)", totals["incrcc"][0],
              totals["ccache"][0], ">= ccache's", "hits", note)
    bench.row("differential: wrong objects", totals["incrcc"][1], totals["ccache"][1], "0", "objects", note,
              comparable=False)


if __name__ == "__main__":
    main()

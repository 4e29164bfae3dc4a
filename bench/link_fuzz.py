#!/usr/bin/env python3
"""Random library changes around cached links (of a source or of its object), each done by incrcc and plainly.

A program calls foo() and bar(); three library directories are on its -L path. Each round picks an edit —
a static or shared libfoo/libbar written, changed or removed in one of the directories, `-static` or the
order of -L switched, the source changed — then links with incrcc and plainly and compares the program
bytes, the exit status and stderr. Prints the rounds served and the wrong ones.

Usage: bench/link_fuzz.py [--seed N] [--rounds N] [--incrcc PATH] [--compilers gcc,clang] [--check]
"""
import argparse
import os
import random
import re
import shutil
import subprocess
import tempfile

from benchlib import read_bytes as read, stat_values

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--rounds", type=int, default=60)
    parser.add_argument("--incrcc", default=os.path.join(ROOT, ".build", "release", "incrcc"))
    parser.add_argument("--compilers", default="gcc,clang")
    parser.add_argument("--check", action="store_true", help="exit 1 when a program was served wrong")
    args = parser.parse_args()
    rng = random.Random(args.seed)
    compilers = [c for c in args.compilers.split(",") if shutil.which(c)]
    work = tempfile.mkdtemp(prefix="incrcc-link-fuzz-", dir=os.path.expanduser("~"))
    env = {k: v for k, v in os.environ.items() if not k.startswith(("INCRCC_", "CCACHE_"))}
    env.update({"INCRCC_DIR": os.path.join(work, "cache"), "INCRCC_VERIFY_RATE": "0", "INCRCC_LINK_CACHE": "all"})
    dirs = [os.path.join(work, "d%d" % i) for i in range(3)]
    for d in dirs:
        os.makedirs(d)
    source = os.path.join(work, "main.c")

    def write_source(value):
        with open(source, "w") as f:
            f.write("int foo(void);\nint bar(void);\nint main(void) { return (foo() + bar() + %d) & 127; }\n" % value)

    def library(directory, name, value, shared, compiler):
        c = os.path.join(directory, name + ".c")
        with open(c, "w") as f:
            f.write("int %s(void) { return %d; }\n" % (name, value))
        for stale in ("lib%s.a" % name, "lib%s.so" % name):
            if rng.random() < 0.5 and os.path.exists(os.path.join(directory, stale)):
                os.remove(os.path.join(directory, stale))
        if shared:
            subprocess.run([compiler, "-shared", "-fPIC", "-o", "lib%s.so" % name, c], cwd=directory, check=True)
        else:
            subprocess.run([compiler, "-c", c, "-o", name + ".o"], cwd=directory, check=True)
            target = os.path.join(directory, "lib%s.a" % name)
            if os.path.exists(target):
                os.remove(target)
            subprocess.run(["ar", "rcs", target, name + ".o"], cwd=directory, check=True)

    write_source(0)
    compiler = rng.choice(compilers)
    library(dirs[2], "foo", 1, False, compiler)
    library(dirs[2], "bar", 2, False, compiler)
    order = list(dirs)
    static = False
    served = wrong = 0
    for round_ in range(args.rounds):
        edit = rng.randrange(6)
        if edit <= 1:
            library(rng.choice(dirs), rng.choice(["foo", "bar"]), rng.randint(1, 9), rng.random() < 0.5, compiler)
        elif edit == 2:
            d = rng.choice(dirs)
            for name in os.listdir(d):
                if name.startswith("lib") and rng.random() < 0.5:
                    os.remove(os.path.join(d, name))
        elif edit == 3:
            rng.shuffle(order)
        elif edit == 4:
            static = not static
        else:
            write_source(rng.randint(0, 3))
        if rng.random() < 0.1:
            compiler = rng.choice(compilers)
        # Half the time the object is compiled first and linked with the libraries (a link of objects).
        inputs = [source]
        if rng.random() < 0.5:
            subprocess.run([compiler, "-O1", "-c", source, "-o", os.path.join(work, "main.o")], check=True)
            inputs = [os.path.join(work, "main.o")]
        command = [compiler, "-O1"] + (["-static"] if static else []) + inputs + ["-o", os.path.join(work, "prog")]
        command += ["-L" + d for d in order] + ["-Wl,-rpath," + ":".join(order), "-lfoo", "-lbar"]
        before = hits(args.incrcc, env)
        mine = subprocess.run([args.incrcc] + command, cwd=work, env=env, capture_output=True)
        mine_program = read(os.path.join(work, "prog"))
        mine_run = subprocess.run([os.path.join(work, "prog")], capture_output=True).returncode if mine.returncode == 0 else None
        hit = hits(args.incrcc, env) > before
        served += int(hit)
        if os.path.exists(os.path.join(work, "prog")):
            os.remove(os.path.join(work, "prog"))
        plain = subprocess.run(command, cwd=work, env=env, capture_output=True)
        plain_program = read(os.path.join(work, "prog"))
        plain_run = subprocess.run([os.path.join(work, "prog")], capture_output=True).returncode if plain.returncode == 0 else None
        # A failed link names the compile's temporary object, a new name every run: not a difference.
        if (mine.returncode, temporaries(mine.stderr), mine_program, mine_run) \
                != (plain.returncode, temporaries(plain.stderr), plain_program, plain_run):
            wrong += 1
            print(f"WRONG round {round_} ({'served' if hit else 'linked'}): {' '.join(command)}")
    print(f"seed {args.seed}: {args.rounds} links, served {served}, wrong {wrong}")
    if wrong == 0:
        shutil.rmtree(work, ignore_errors=True)
    if args.check and wrong:
        raise SystemExit(1)


def temporaries(stderr):
    return re.sub(rb"/tmp/[^ :/]+\.o", b"/tmp/<temporary>.o", stderr)


def hits(incrcc, env):
    return stat_values(incrcc, env).get("link_hit", 0)


if __name__ == "__main__":
    main()

#!/usr/bin/env python3
"""Random headers with nested conditionals, comments, literals and defines, each compiled by incrcc, then
edited at a random line (or in its comments only, or where no token changes) and compiled again by incrcc and plainly: the second
call's object, stderr and exit status must equal the plain compile's. Counts the calls served across
skipped groups or comment edits, and the wrong ones.

    bench/skipped_fuzz.py [--seed N] [--rounds N] [--incrcc PATH] [--compilers gcc,clang] [--check]
"""
import argparse
import os
import random
import shutil
import subprocess
import tempfile

from benchlib import read_bytes as read, stat_values

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
NAMES = ["FEATURE", "OTHER", "MODE", "linux", "GUARD_H", "DEEP"]
SAFE = ["int v{u} = {n};", "static const int s{u} = {n};", "/* note {n} */", "// line {n}",
        'const char *t{u} = "a/*b{n}";', "int c{u} = 'x';", "extern int e{n};", "#include <stddef.h>", "",
        "/* a comment\n   over lines */"]
DEFINES = ["#define {name} {n}", "#undef {name}", "#define {name}"]
# Lines that break a compile or a naive reading when the preprocessor does not skip them.
RISKY = ["/* open {n}", "close {n} */", "int q{u} = 'x;", "int w{u} = 1'0;", "#error stop {n}", "don't {n}",
         "#warning careful {n}", "int d{u} = 2 \\", "#pragma once", "int \u00e9{u};", "?? ={n}", "#elifdef X"]
OPENERS = ["#ifdef {name}", "#ifndef {name}", "#if defined({name})", "#if !defined {name}", "#if 0", "#if 1",
           "#if {name} > 1", "#if defined {name} /* c */"]


COUNTER = [0]


def text(rng, risky):
    COUNTER[0] += 1
    pool = RISKY if risky else DEFINES if rng.random() < 0.08 else SAFE
    return rng.choice(pool).format(n=rng.randint(1, 9), u=COUNTER[0], name=rng.choice(NAMES))


def random_lines(rng, depth=0, count=None):
    lines = []
    for _ in range(count if count is not None else rng.randint(1, 6)):
        if depth < 3 and rng.random() < 0.3:
            lines.append(rng.choice(OPENERS).format(name=rng.choice(NAMES)))
            lines += random_lines(rng, depth + 1)
            for _ in range(rng.randint(0, 2)):
                directive = rng.choice(["#else", "#elif defined(" + rng.choice(NAMES) + ")", "#elif 0"])
                lines.append(directive)
                lines += random_lines(rng, depth + 1)
                if directive == "#else":
                    break
            lines.append("#endif")
        else:
            lines.append(text(rng, risky=depth > 0 and rng.random() < 0.04))
    return lines


def mutate(rng, lines):
    """One line replaced, inserted or removed; mostly inside a conditional group."""
    lines = list(lines)
    inside, depth = [], 0
    for index, line in enumerate(lines):
        if line.startswith("#if"):
            depth += 1
        elif line.startswith("#endif"):
            depth -= 1
        elif depth > 0 and not line.startswith(("#el", "#else")):
            inside.append(index)
    at = rng.choice(inside) if inside and rng.random() < 0.8 else rng.randrange(len(lines) + 1)
    roll = rng.random()
    new = text(rng, risky=rng.random() < 0.15)
    if roll < 0.6 and at < len(lines) and not lines[at].startswith("#"):
        lines[at] = new
    elif roll < 0.8:
        lines.insert(at, new)
    elif lines:
        del lines[min(at, len(lines) - 1)]
    return lines


# Comments put at a line's end or replacing one's text; some of them are ones the compilers read.
COMMENTS = ["/* note {n} */", "// trailing {n}", "/* doc {n} */  ", "   ", "// falls through", "/* a /* b */",
            "// line \\", "/* caf\u00e9 */", "/*x*/", "// {n}{n}{n}"]


def comment_edit(rng, lines):
    """Comments only: one comment's text changed, or a comment (or blanks) added at a line's end or removed."""
    lines = list(lines)
    candidates = [i for i, line in enumerate(lines) if not line.startswith("#include")]
    if not candidates:
        return lines
    at = rng.choice(candidates)
    line = lines[at]
    comment = rng.choice(COMMENTS).format(n=rng.randint(1, 9))
    for opener in ("//", "/*"):
        start = line.find(opener)
        if start >= 0 and '"' not in line[:start] and "'" not in line[:start] and rng.random() < 0.6:
            lines[at] = line[:start] + comment
            return lines
    lines[at] = line + " " + comment
    return lines


def token_edit(rng, lines):
    """No token changed, or barely: lines moved by a doc comment or blank lines, a blank doubled, a code line
    split after `;` or `{`, a definition's value changed, or `__LINE__` used below a moved line."""
    lines = list(lines)
    kind = rng.randrange(5)
    at = rng.randrange(len(lines) + 1)
    if kind == 0:
        lines[at:at] = rng.choice([[""], ["", ""], ["/**", " * A doc comment.", " */"], ["// one", "// two"]])
    elif kind == 1:
        spaced = [i for i, line in enumerate(lines) if " " in line]
        if spaced:
            i = rng.choice(spaced)
            cut = rng.choice([k for k, c in enumerate(lines[i]) if c == " "])
            lines[i] = lines[i][:cut] + "  " + lines[i][cut:]
    elif kind == 2:
        code = [i for i, line in enumerate(lines) if not line.lstrip().startswith("#") and (";" in line or "{" in line)
                and not line.rstrip().endswith("\\")]
        if code:
            i = rng.choice(code)
            cut = max(lines[i].find(";"), lines[i].find("{")) + 1
            lines[i:i + 1] = [lines[i][:cut], lines[i][cut:]]
    elif kind == 3:
        defines = [i for i, line in enumerate(lines) if line.startswith("#define ")]
        if defines:
            i = rng.choice(defines)
            lines[i] = lines[i] + " + " + str(rng.randint(1, 9)) if len(lines[i].split()) > 2 else lines[i] + " 7"
    else:
        lines[at:at] = ["", "static int line_{0} = __LINE__;".format(rng.randint(0, 999))]
        lines.insert(0, "")
    return lines


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--rounds", type=int, default=200)
    parser.add_argument("--incrcc", default=os.path.join(ROOT, ".build", "release", "incrcc"))
    parser.add_argument("--compilers", default="gcc,clang")
    parser.add_argument("--check", action="store_true", help="exit 1 when a call was served wrong")
    parser.add_argument("--log", help="incrcc's log file (INCRCC_LOGFILE), to see why edits were compiled")
    args = parser.parse_args()
    rng = random.Random(args.seed)
    compilers = [c for c in args.compilers.split(",") if shutil.which(c)]
    work = tempfile.mkdtemp(prefix="incrcc-skipped-fuzz-")
    env = {k: v for k, v in os.environ.items() if not k.startswith(("INCRCC_", "CCACHE_"))}
    env.update({"INCRCC_DIR": os.path.join(work, "cache"), "INCRCC_VERIFY_RATE": "0"})
    if args.log:
        env["INCRCC_LOGFILE"] = args.log
    served = wrong = 0
    for round_ in range(args.rounds):
        project = os.path.join(work, f"r{round_}")
        os.makedirs(project)
        header = random_lines(rng, count=rng.randint(3, 12))
        source = "#include \"h.h\"\n" + ("#define OTHER 2\n" if rng.random() < 0.3 else "") + "int main_use(void) { return 0; }\n"
        with open(os.path.join(project, "s.c"), "w") as f:
            f.write(source)
        compiler = rng.choice(compilers)
        flags = ["-O1"] + (["-g"] if rng.random() < 0.3 else []) + (["-DMODE=3"] if rng.random() < 0.3 else [])
        command = [compiler] + flags + ["-c", "s.c", "-o", "s.o"]

        def write(lines):
            with open(os.path.join(project, "h.h"), "w") as f:
                f.write("\n".join(lines) + "\n")

        write(header)
        subprocess.run([args.incrcc] + command, cwd=project, env=env, capture_output=True)
        subprocess.run([args.incrcc, "--print-stats"], env=env, capture_output=True)
        edit = rng.random()
        write(comment_edit(rng, header) if edit < 0.3 else token_edit(rng, header) if edit < 0.6 else mutate(rng, header))
        before = stats(args.incrcc, env)
        mine = subprocess.run([args.incrcc] + command, cwd=project, env=env, capture_output=True)
        mine_object = read(os.path.join(project, "s.o"))
        after = stats(args.incrcc, env)
        plain = subprocess.run(command, cwd=project, env=env, capture_output=True)
        plain_object = read(os.path.join(project, "s.o"))
        hit = after > before
        served += int(hit)
        if (mine.returncode, mine.stderr, mine_object) != (plain.returncode, plain.stderr, plain_object):
            wrong += 1
            print(f"WRONG round {round_} ({'served' if hit else 'compiled'}): {' '.join(command)} in {project}")
        else:
            shutil.rmtree(project, ignore_errors=True)
    print(f"seed {args.seed}: {args.rounds} edits, served across skipped groups, comment or token-equal edits {served}, wrong {wrong}")
    if wrong == 0:
        shutil.rmtree(work, ignore_errors=True)
    if args.check and wrong:
        raise SystemExit(1)


def stats(incrcc, env):
    values = stat_values(incrcc, env)
    return sum(values.get(name, 0) for name in
               ("direct_cache_hit_skipped_groups", "direct_cache_hit_comment_edits", "direct_cache_hit_token_edits"))


if __name__ == "__main__":
    main()

#!/usr/bin/env python3
"""Writes Sources/incrcc/function-order.txt: the functions a call runs, in the order it first runs them.

The release link places these first (lld's --symbol-ordering-file, functions in sections of their own), so
the pages a call touches lie together. The kernel maps a static binary's text 64 KiB around each page
fault, and with the functions spread over 7 MB of text a small C hit mapped 4.5 MB of it: most of its
peak RSS. Hits are recorded first, then a miss and the commands, so the hit path is the densest.

Usage: bench/function_order.py [--incrcc .build/release/incrcc] [--out Sources/incrcc/function-order.txt]
Needs valgrind, gcc and g++. Names the linker does not find are skipped, so a stale list only costs RSS.
"""
import argparse
import bisect
import glob
import os
import re
import shutil
import subprocess
import sys
import tempfile

C_SOURCE = "#include <stdio.h>\n#include <stdlib.h>\n#include <string.h>\nint main(void) { puts(\"x\"); return 0; }\n"
CXX_SOURCE = ("#include <map>\n#include <string>\n#include <vector>\n#include <iostream>\n"
              "int main() { std::map<std::string, int> m; m[\"a\"] = 1; std::cout << m.size(); }\n")
NAME = re.compile(r"^c?fn=\(\d+\) (.+)$")


def functions(profile):
    """Function names in the order callgrind first names them (its ids follow first use)."""
    names = []
    with open(profile, encoding="utf-8", errors="replace") as lines:
        for line in lines:
            match = NAME.match(line.rstrip("\n"))
            if match:
                names.append(match.group(1).strip())
    return names


def symbol_table(binary):
    """(start, end, name) of the binary's functions, by address: callgrind names some by address only."""
    listing = subprocess.run(["nm", "-S", "--defined-only", binary], check=True, capture_output=True, text=True)
    table = []
    for line in listing.stdout.splitlines():
        parts = line.split(None, 3)
        if len(parts) == 4 and parts[2] in "tTwW":
            start = int(parts[0], 16)
            table.append((start, start + int(parts[1], 16), parts[3].strip()))
    table.sort()
    return table


def enclosing(table, starts, address):
    index = bisect.bisect_right(starts, address) - 1
    if index >= 0 and table[index][0] <= address < table[index][1]:
        return table[index][2]
    return None


def main():
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--incrcc", default=os.path.join(root, ".build/release/incrcc"))
    parser.add_argument("--out", default=os.path.join(root, "Sources/incrcc/function-order.txt"))
    options = parser.parse_args()
    for tool in ["valgrind", "gcc", "g++", "strip"]:
        if shutil.which(tool) is None:
            sys.exit(f"function_order: {tool} is needed")
    work = tempfile.mkdtemp(prefix="incrcc-order-")
    try:
        # valgrind cannot read the debug information of Swift's static binaries; symbols are enough.
        binary = os.path.join(work, "incrcc")
        subprocess.run(["strip", "--strip-debug", "-o", binary, options.incrcc], check=True)
        env = dict(os.environ, INCRCC_DIR=os.path.join(work, "cache"), INCRCC_VERIFY_RATE="0")
        env.pop("INCRCC_LOGFILE", None)
        with open(os.path.join(work, "t.c"), "w") as f:
            f.write(C_SOURCE)
        with open(os.path.join(work, "s.cpp"), "w") as f:
            f.write(CXX_SOURCE)
        with open(os.path.join(work, "m.c"), "w") as f:
            f.write("int missed;\n")
        for call in [["gcc", "-O2", "-c", "t.c"], ["g++", "-O2", "-c", "s.cpp"]] * 2:
            subprocess.run([binary] + call, cwd=work, env=env, check=True)
        scenarios = [
            ["gcc", "-O2", "-c", "t.c"],
            ["g++", "-O2", "-c", "s.cpp"],
            ["gcc", "-O2", "-c", "m.c"],
            ["-s"],
            ["--version"],
        ]
        table = symbol_table(binary)
        starts = [start for start, _, _ in table]
        ordered, seen = [], set()
        for index, call in enumerate(scenarios):
            # A miss stores in a forked child: each process writes a profile of its own (`%p`).
            profile = os.path.join(work, f"profile.{index}.%p")
            subprocess.run(["valgrind", "--tool=callgrind", "--demangle=no", f"--callgrind-out-file={profile}",
                            binary] + call, cwd=work, env=env, check=True,
                           stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            names = []
            for written in sorted(glob.glob(os.path.join(work, f"profile.{index}.*"))):
                names += functions(written)
            for name in names:
                if name.startswith("0x"):
                    name = enclosing(table, starts, int(name, 16)) or name
                if name in seen or " " in name or "'" in name or name.startswith("0x"):
                    continue
                seen.add(name)
                ordered.append(name)
        with open(options.out, "w") as f:
            f.write("\n".join(ordered) + "\n")
        print(f"function_order: {len(ordered)} functions -> {os.path.relpath(options.out, root)}")
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()

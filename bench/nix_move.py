"""Scenario `nix` of bench/run: a dependency moved to a new Nix store path."""
import datetime  # noqa: F401
import os
import shutil
import statistics
import subprocess  # noqa: F401

from benchlib import (C_SOURCE, CXX_SOURCE, HERE, NIX_DEPENDENCY, NIX_SHELL, ROOT, apt_install,  # noqa: F401
                      cache_counts, callgrind_instructions, helper_venv, peak_rss_kib, sh, timed)

def nix_move(bench):
    if not shutil.which("nix-shell"):
        apt_install(["nix-bin"], "offline Nix for the store-path scenario")
    if not shutil.which("nix-shell"):
        return bench.skip("Nix dependency moved", "nix-bin not installed")
    d = os.path.join(bench.work, "nix")
    os.makedirs(os.path.join(d, "src"))
    files = {
        "dep.nix": NIX_DEPENDENCY, "shell.nix": NIX_SHELL,
        "cc-wrapper": '#!/bin/sh\n# Adds NIX_CFLAGS_COMPILE as nixpkgs\' cc-wrapper does.\nexec gcc $NIX_CFLAGS_COMPILE "$@"\n',
        "Makefile": "OBJS = " + " ".join(f"src/unit{i}.o" for i in range(8)) + "\nall: $(OBJS)\nclean:\n\trm -f $(OBJS)\n",
    }
    for name, text in files.items():
        with open(os.path.join(d, name), "w") as f:
            f.write(text)

    def write_units(paths):
        """Units that use a plain header, or one that holds the dependency's store path."""
        for i in range(8):
            body = (f'#include <demo-paths.h>\nconst char *unit{i}(void) {{ return DEMO_DATADIR "/unit{i}"; }}\n'
                    if paths else
                    f"#include <stdio.h>\n#include <demo.h>\nint unit{i}(void) {{ printf(\"%d\\n\", DEMO_VALUE + {i}); return {i}; }}\n")
            with open(os.path.join(d, f"src/unit{i}.c"), "w") as f:
                f.write(body)
    os.chmod(os.path.join(d, "cc-wrapper"), 0o755)
    run_id = datetime.datetime.now().strftime("%Y%m%d%H%M%S%f")
    nix_env = {"NIX_CONFIG": "build-users-group =\nsandbox = false\nsubstituters =\nexperimental-features = nix-command",
               "NIX_BUILD_SHELL": "/bin/bash"}
    # The setup hook's part: -frandom-seed from the first 10 characters of $out's hash.
    # nix-shell leaves PATH as "/bin::/usr/bin:/bin"; gcc then finds itself through the empty entry and
    # looks for cc1 relative to the current directory, so PATH is set plainly.
    seeded = ('export PATH=/usr/bin:/bin; '
              'export NIX_CFLAGS_COMPILE="$NIX_CFLAGS_COMPILE -frandom-seed=${out:11:10}"; ')

    def in_shell(salt, command, env):
        return sh(["nix-shell", "shell.nix", "--argstr", "salt", salt, "--run", seeded + command],
                  cwd=d, env=dict(env, **nix_env), check=False)

    wrapper = os.path.join(d, "cc-wrapper")

    def build_round(tool, salt, cflags, env):
        """One build in the shell of `salt` through the tool, then a plain one in the same shell: hits,
        compiles, and objects that differ from the fresh compile."""
        launcher = bench.launcher(tool)[0]
        sh(["make", "-s", "clean"], cwd=d)
        before = cache_counts(tool, launcher, env)
        r = in_shell(salt, f"make -s -j2 CFLAGS='{cflags}' CC='{launcher} {wrapper}'", env)
        if r.returncode != 0:
            raise RuntimeError("build in nix-shell failed: " + r.stderr.strip()[-200:])
        after = cache_counts(tool, launcher, env)
        cached = {i: open(os.path.join(d, f"src/unit{i}.o"), "rb").read() for i in range(8)}
        sh(["make", "-s", "clean"], cwd=d)
        in_shell(salt, f"make -s -j2 CFLAGS='{cflags}' CC='{wrapper}'", env)
        wrong = sum(1 for i in range(8) if open(os.path.join(d, f"src/unit{i}.o"), "rb").read() != cached[i])
        hits = after[0] - before[0]
        return hits, hits + after[1] - before[1], wrong

    for cflags, paths in (("-O2", False), ("-O2 -g", False), ("-O2", True)):
        write_units(paths)
        label = cflags + (", headers holding store paths" if paths else "")
        counts = {}
        for tool in ("incrcc", "ccache"):
            env = bench.env(tool, os.path.join(d, tool + "-cache" + cflags.replace(" ", "") + str(paths)))
            try:
                rounds = [build_round(tool, f"{run_id}{cflags}{paths}{r}", cflags, env) for r in "abc"]
            except RuntimeError as error:
                return bench.skip("Nix dependency moved", str(error))
            counts[tool] = rounds
        for move in (1, 2):
            note = "; ".join(f"{t}: {r[move][0]}/{r[move][1]} hit" for t, r in counts.items())
            bench.row(f"Nix dep moved ({label}), hits after move {move}", counts["incrcc"][move][0],
                     counts["ccache"][move][0], "100% hits" if move == 2 else "", "hits", note, comparable=False)
        wrong = {t: sum(r[m][2] for m in (1, 2)) for t, r in counts.items()}
        bench.row(f"Nix dep moved ({label}), wrong objects served", wrong["incrcc"], wrong["ccache"], "0",
                 "objects", "both moves, compared with a fresh compile in the same shell", comparable=False)

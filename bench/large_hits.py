"""Scenario `large` of bench/run: hits on large objects, and what the default safety net adds to a hit.

Two units: a C++ one including 45 standard headers built `-O2 -g` (a debug object of megabytes, as
developers rebuild all day), and a generated C one whose object holds 20 MiB of data. Each hit is compared
with ccache (instructions, wall, peak RSS) and with `cp` of the same object from the page cache, the floor
of putting those bytes in a file. The safety-net rows alternate incrcc hits with `verify_rate` at its
default (1 %) and at 0 in one cache, on the C++ STL file and the 45-header unit.
"""
import os
import shutil
import statistics

from benchlib import CXX_SOURCE, callgrind_instructions, peak_rss_kib, sh, timed

HEADERS = ["algorithm", "any", "array", "atomic", "bitset", "chrono", "complex", "condition_variable", "deque",
           "exception", "forward_list", "fstream", "functional", "future", "initializer_list", "iomanip", "ios",
           "iostream", "istream", "iterator", "limits", "list", "locale", "map", "memory", "mutex", "new",
           "numeric", "optional", "ostream", "queue", "random", "ratio", "regex", "set", "sstream", "stack",
           "stdexcept", "string", "string_view", "thread", "tuple", "unordered_map", "unordered_set", "vector"]

LARGE_CXX = "".join(f"#include <{h}>\n" for h in HEADERS) + """
std::map<std::string, std::vector<double>> table(int n) {
    std::map<std::string, std::vector<double>> out;
    std::mt19937 gen(n);
    std::regex word("[a-z]+");
    for (int i = 0; i < n; i++) {
        std::ostringstream key; key << "k" << i;
        out[key.str()].push_back(std::generate_canonical<double, 10>(gen));
        if (std::regex_match(key.str(), word)) out.erase(key.str());
    }
    std::unordered_map<int, std::set<int>> u; u[n].insert(n);
    std::thread t([] {}); t.join();
    return out;
}
"""

# 20 MiB of data from a two-line source: the object's size, not the compile or the source, is measured.
GENERATED_C = "__attribute__((used)) const char blob[20 << 20] = {1};\nint first(void) { return blob[0]; }\n"


def large_hits(bench):
    for name, source, compiler, file in [("45 headers -O2 -g", LARGE_CXX, "g++", "large.cpp"),
                                         ("20 MiB object", GENERATED_C, "gcc", "blob.c")]:
        if not shutil.which(compiler):
            bench.skip(f"{name} hit", f"{compiler} not installed")
            continue
        d = os.path.join(bench.work, "large-" + file.split(".")[0])
        os.makedirs(d)
        with open(os.path.join(d, file), "w") as f:
            f.write(source)
        flags = ["-O2", "-g"] if compiler == "g++" else ["-O0"]
        caches = {tool: os.path.join(d, tool + "-cache") for tool in bench.cache_tools()}
        cmd = {tool: bench.launcher(tool) + [compiler] + flags + ["-c", file, "-o", tool + ".o"] for tool in caches}
        for tool in caches:
            sh(cmd[tool], cwd=d, env=bench.env(tool, caches[tool]))
            sh(cmd[tool], cwd=d, env=bench.env(tool, caches[tool]))
        size = os.path.getsize(os.path.join(d, "incrcc.o"))
        shutil.copyfile(os.path.join(d, "incrcc.o"), os.path.join(d, "copy-source.o"))
        note = f"object {size / 1048576:.1f} MiB"
        if shutil.which("valgrind"):
            ins = {tool: callgrind_instructions(cmd[tool], d, bench.env(tool, caches[tool])) for tool in caches}
            bench.row(f"{name} hit, instructions", ins["incrcc"], ins["ccache"], "<= 0.25x", "instr", note,
                      second=ins.get("ccache2"))
        runs = max(10, bench.hit_runs // 4)
        walls = {tool: [] for tool in list(caches) + ["cp"]}
        copy = ["cp", "copy-source.o", "cp.o"]
        for _ in range(runs):
            for tool in walls:
                walls[tool].append(timed(copy if tool == "cp" else cmd[tool], d,
                                         None if tool == "cp" else bench.env(tool, caches[tool])) * 1000)
        med = {t: statistics.median(w) for t, w in walls.items()}
        bench.row(f"{name} hit, wall ms (median of {runs})", med["incrcc"], med["ccache"], "<= 0.5x", "ms",
                  f"{note}; cp of the object {med['cp']:.2f} ms, incrcc {med['incrcc'] / med['cp']:.2f}x cp "
                  "(goal <= 2x)", second=med.get("ccache2"))
        rss = {tool: peak_rss_kib(cmd[tool], d, bench.env(tool, caches[tool])) for tool in caches}
        if rss["incrcc"] is not None:
            bench.row(f"{name} hit, peak RSS KiB", rss["incrcc"], rss["ccache"], "<= ccache", "KiB", note,
                      second=rss.get("ccache2"))
        if compiler == "g++":
            safety_net(bench, f"{name} hit", d, cmd["incrcc"], caches["incrcc"])
    d = os.path.join(bench.work, "safety-stl")
    os.makedirs(d)
    with open(os.path.join(d, "t.cpp"), "w") as f:
        f.write(CXX_SOURCE)
    cache = os.path.join(d, "incrcc-cache")
    command = [bench.incrcc, "g++", "-O2", "-c", "t.cpp", "-o", "t.o"]
    sh(command, cwd=d, env=bench.env("incrcc", cache))
    safety_net(bench, "C++ STL hit", d, command, cache)


def safety_net(bench, name, d, command, cache):
    """Mean wall of hits with the default sampled verification and with none, alternating, in one cache.
    A sampled hit is served at once and compiled again after the call returned: what the build sees is the
    mean over calls, the rare sampled one included."""
    on = bench.env("incrcc", cache)
    off = dict(on, INCRCC_VERIFY_RATE="0")
    runs = max(300, bench.hit_runs)
    walls = {"default": [], "off": []}
    for round_ in range(runs):  # each setting goes first in every other round
        for setting in (("default", "off") if round_ % 2 == 0 else ("off", "default")):
            walls[setting].append(timed(command, d, on if setting == "default" else off) * 1000)
    mean = {k: statistics.mean(v) for k, v in walls.items()}
    sampled = sh([bench.incrcc, "--print-stats"], cwd=d, env=on).stdout
    count = next((line.split()[1] for line in sampled.splitlines() if line.startswith("verify_sampled")), "?")
    bench.row(f"{name}, mean wall ms with verify_rate 1 % (default) / 0 ({runs} alternating)", mean["default"],
              mean["off"], "<= 1.05x", "ms", f"ratio is default / off, not against ccache; sampled hits: {count}")

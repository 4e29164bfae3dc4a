"""Scenario `modules` of bench/run: C++20 named modules under CMake 4, Ninja and clang 16.

A generated project of module interfaces (a chain of re-exports, a partition, implementation units),
importers and module-free units is built cold in one build directory and then in a fresh one; hits are
counted by class (interface units, other units). Then three edits (an implementation body, an exported
declaration, a re-exported module's constant); after each build every `.o` and `.pcm` and the program's
output are compared with a plain rebuild in the same directory. The re-export by hand (`--precompile`,
an importer naming only the re-exporter) checks for a stale object after the re-exported module
changes. A module-free C++20 project is built in a fresh directory with CMake's scanning on and off.
"""
import os
import shutil
import subprocess

from benchlib import cache_counts

CMAKE = "/opt/incrcc-cmake/cmake/data/bin/cmake"
MODULES = 6  # m0 … m5: m(i) re-exports m(i-1)


def write_project(d):
    os.makedirs(d, exist_ok=True)
    files = {}
    for i in range(MODULES):
        reexport = f"export import m{i - 1};\n" if i else ""
        files[f"m{i}.cppm"] = (
            "module;\n#include <vector>\n#include <string>\n#include <numeric>\n"
            f"export module m{i};\n{reexport}export import :detail;\n"
            f"export constexpr int k{i} = {i + 1};\n"
            f"export int total{i}(const std::vector<int> &v);\n"
            f"export inline std::string name{i}() {{ return \"m{i}\"; }}\n")
        files[f"m{i}-detail.cppm"] = (
            f"export module m{i}:detail;\nexport int detail{i}(int x) {{ return x * {i + 2}; }}\n")
        files[f"m{i}-impl.cpp"] = (
            "module;\n#include <vector>\n#include <numeric>\n"
            f"module m{i};\nint total{i}(const std::vector<int> &v) {{ return std::accumulate(v.begin(), v.end(), k{i}); }}\n")
    for j in range(4):
        files[f"use{j}.cpp"] = (
            f"import m{MODULES - 1};\n#include <vector>\n"
            f"int use{j}() {{ std::vector<int> v{{1, 2, {j}}}; return total{MODULES - 1}(v) + k0 + detail{MODULES - 1}({j}); }}\n")
        files[f"plain{j}.cpp"] = (
            "#include <map>\n#include <string>\n"
            f"int plain{j}() {{ std::map<std::string, int> m{{{{\"a\", {j}}}}}; return m[\"a\"]; }}\n")
    files["main.cpp"] = (
        f"import m{MODULES - 1};\n#include <cstdio>\n"
        + "".join(f"int use{j}(); int plain{j}();\n" for j in range(4))
        + "int main() { std::printf(\"%d %s\\n\", " + " + ".join(f"use{j}() + plain{j}()" for j in range(4))
        + f", name0().c_str()); }}\n")
    sources = sorted(files)
    modules = " ".join(s for s in sources if s.endswith(".cppm"))
    others = " ".join(s for s in sources if s.endswith("-impl.cpp"))
    app = " ".join(s for s in sources if s.startswith(("use", "plain", "main")))
    files["CMakeLists.txt"] = (
        "cmake_minimum_required(VERSION 3.28)\nproject(mods CXX)\nset(CMAKE_CXX_STANDARD 20)\n"
        "set(CMAKE_CXX_EXTENSIONS OFF)\n"
        f"add_library(mods)\ntarget_sources(mods PUBLIC FILE_SET CXX_MODULES FILES {modules})\n"
        f"target_sources(mods PRIVATE {others})\nadd_executable(app {app})\ntarget_link_libraries(app PRIVATE mods)\n")
    for name, text in files.items():
        with open(os.path.join(d, name), "w") as f:
            f.write(text)


EDITS = [
    ("an implementation body", "m2-impl.cpp", "std::accumulate(v.begin(), v.end(), k2)", "std::accumulate(v.begin(), v.end(), k2 * 3)"),
    ("an exported declaration", "m3.cppm", "export int total3", "export int extra3() { return 9; }\nexport int total3"),
    ("a re-exported module's constant", "m0.cppm", "k0 = 1;", "k0 = 7;"),
]


def outputs(build):
    found = {}
    for root, _, names in os.walk(build):
        for name in names:
            if name.endswith((".o", ".pcm")):
                path = os.path.join(root, name)
                with open(path, "rb") as f:
                    found[os.path.relpath(path, build)] = f.read()
    return found


def disabled(tool, env):
    return dict(env, INCRCC_DISABLE="1") if tool == "incrcc" else dict(env, CCACHE_DISABLE="1")


def wrong_against_plain(build, tool, env):
    """Files and program output that differ from a plain rebuild in the same directory."""
    printed = subprocess.run([os.path.join(build, "app")], capture_output=True, text=True).stdout
    served = outputs(build)
    subprocess.run(["ninja", "-C", build, "-t", "clean"], check=True, capture_output=True)
    subprocess.run(["ninja", "-C", build], env=disabled(tool, env), check=True, capture_output=True)
    plain = outputs(build)
    wrong = sum(1 for path, data in served.items() if plain.get(path) != data) + len(set(plain) - set(served))
    again = subprocess.run([os.path.join(build, "app")], capture_output=True, text=True).stdout
    return wrong + (printed != again)


def counts(bench, tool, env):
    return cache_counts(tool, bench.launcher(tool)[0], env)


def configure(src, build, tool, bench, env, scanning=True):
    subprocess.run([CMAKE, "-S", src, "-B", build, "-G", "Ninja", "-DCMAKE_CXX_COMPILER=clang++-16",
                    "-DCMAKE_CXX_COMPILER_LAUNCHER=" + bench.launcher(tool)[0],
                    "-DCMAKE_CXX_SCAN_FOR_MODULES=" + ("ON" if scanning else "OFF")],
                   env=env, check=True, capture_output=True)


def modules_project(bench, tool, work):
    env = bench.env(tool, os.path.join(work, tool + "-cache"))
    src = os.path.join(work, tool + "-src")
    write_project(src)
    total = sum(1 for n in os.listdir(src) if n.endswith((".cpp", ".cppm")))
    interfaces = sum(1 for n in os.listdir(src) if n.endswith(".cppm"))
    cold = os.path.join(work, tool + "-cold")
    configure(src, cold, tool, bench, env)
    subprocess.run(["ninja", "-C", cold], env=env, check=True, capture_output=True)
    fresh = os.path.join(work, tool + "-fresh")
    # CMake's own probe compiles at configure time go through the launcher too: counted apart.
    configure(src, fresh, tool, bench, env)
    before = counts(bench, tool, env)
    subprocess.run(["ninja", "-C", fresh], env=env, check=True, capture_output=True)
    after = counts(bench, tool, env)
    hits = after[0] - before[0]
    wrong = wrong_against_plain(fresh, tool, env)
    steps = []
    for name, path, old, new in EDITS:
        with open(os.path.join(src, path)) as f:
            text = f.read()
        with open(os.path.join(src, path), "w") as f:
            f.write(text.replace(old, new))
        start = counts(bench, tool, env)
        built = subprocess.run(["ninja", "-C", fresh], env=env, check=True, capture_output=True, text=True).stdout
        end = counts(bench, tool, env)
        # The units Ninja had compiled, less those the cache served: what the compiler really ran.
        compiled = built.count("Building CXX object") - (end[0] - start[0])
        steps.append((name, compiled, wrong_against_plain(fresh, tool, env)))
    return dict(total=total, interfaces=interfaces, hits=hits, wrong=wrong + sum(s[2] for s in steps), steps=steps)


def interface_units_hit(bench, tool, work):
    """Interface units alone, in a fresh directory: compiled by hand as CMake compiles them."""
    env = bench.env(tool, os.path.join(work, tool + "-units-cache"))
    results = []
    for directory in ("a", "b"):
        d = os.path.join(work, tool + "-units-" + directory)
        os.makedirs(d, exist_ok=True)
        with open(os.path.join(d, "m.cppm"), "w") as f:
            f.write("module;\n#include <string>\nexport module m;\nexport std::string hello() { return \"hi\"; }\n")
        before = counts(bench, tool, env)
        r = subprocess.run(bench.launcher(tool) + ["clang++-16", "-std=c++20", "-x", "c++-module", "-fmodule-output=m.pcm",
                                                   "-c", os.path.join(work, tool + "-units-a", "m.cppm"), "-o", "m.o"],
                           cwd=d, env=env, capture_output=True)
        after = counts(bench, tool, env)
        results.append(r.returncode == 0 and after[0] > before[0])
    return results[1]


def reexport_by_hand(bench, tool, work):
    """1 when the importer's object is stale after the re-exported module changes, 0 when it is right."""
    d = os.path.join(work, tool + "-hand")
    os.makedirs(d, exist_ok=True)
    env = bench.env(tool, os.path.join(work, tool + "-hand-cache"))

    def write_base(value):
        with open(os.path.join(d, "base.cppm"), "w") as f:
            f.write(f"export module base;\nexport constexpr int base_k = {value};\n")

    write_base(41)
    with open(os.path.join(d, "lib.cppm"), "w") as f:
        f.write("export module lib;\nexport import base;\nexport int lib_value() { return base_k + 1; }\n")
    with open(os.path.join(d, "main.cpp"), "w") as f:
        f.write("import lib;\nint main() { return base_k; }\n")
    launcher = bench.launcher(tool)
    commands = [["clang++-16", "-std=c++20", "--precompile", "base.cppm", "-o", "base.pcm"],
                ["clang++-16", "-std=c++20", "-fmodule-file=base=base.pcm", "--precompile", "lib.cppm", "-o", "lib.pcm"],
                ["clang++-16", "-std=c++20", "-fmodule-file=lib=lib.pcm", "-c", "main.cpp", "-o", "main.o"]]
    for value in (41, 41, 42):
        write_base(value)
        for command in commands:
            subprocess.run(launcher + command, cwd=d, env=env, check=True, capture_output=True)
    with open(os.path.join(d, "main.o"), "rb") as f:
        served = f.read()
    subprocess.run(commands[2], cwd=d, check=True, capture_output=True)
    with open(os.path.join(d, "main.o"), "rb") as f:
        return int(f.read() != served)


def module_free(bench, tool, work, scanning):
    """Hits in a fresh build directory of a module-free C++20 project (3 units)."""
    src = os.path.join(work, f"{tool}-free-src")
    if not os.path.isdir(src):
        os.makedirs(src)
        with open(os.path.join(src, "CMakeLists.txt"), "w") as f:
            f.write("cmake_minimum_required(VERSION 3.28)\nproject(free CXX)\nset(CMAKE_CXX_STANDARD 20)\n"
                    "add_executable(app a.cpp b.cpp c.cpp)\n")
        for name, text in (("a.cpp", "#include <vector>\nint b(); int c();\nint main() { std::vector<int> v{b(), c()}; return v[0] - 2; }\n"),
                           ("b.cpp", "#include <string>\nint b() { return (int)std::string(\"ab\").size(); }\n"),
                           ("c.cpp", "int c() { return 3; }\n")):
            with open(os.path.join(src, name), "w") as f:
                f.write(text)
    tag = "scan" if scanning else "noscan"
    env = bench.env(tool, os.path.join(work, f"{tool}-free-{tag}-cache"))
    for directory in ("one", "two"):
        build = os.path.join(work, f"{tool}-free-{tag}-{directory}")
        configure(src, build, tool, bench, env, scanning)
        before = counts(bench, tool, env)
        subprocess.run(["ninja", "-C", build], env=env, check=True, capture_output=True)
    return counts(bench, tool, env)[0] - before[0]


def modules(bench):
    if not (os.access(CMAKE, os.X_OK) and shutil.which("clang++-16") and shutil.which("clang-scan-deps-16")
            and shutil.which("ninja")):
        bench.skip("modules", "needs CMake 4 in /opt/incrcc-cmake (bash .ci/install), clang-16, clang-tools-16, ninja")
        return
    work = os.path.join(bench.work, "modules")
    os.makedirs(work, exist_ok=True)
    tools = bench.cache_tools()
    project = {tool: modules_project(bench, tool, work) for tool in tools}
    first = project["incrcc"]
    bench.row(f"modules project ({first['total']} units, {first['interfaces']} interface units): fresh build dir hits",
              first["hits"], project["ccache"]["hits"], f"{first['total']}", "hits", comparable=False,
              second=project.get("ccache2", {}).get("hits"))
    bench.row("modules: an interface unit alone in a fresh directory, hit (1 = yes)",
              int(interface_units_hit(bench, "incrcc", work)), int(interface_units_hit(bench, "ccache", work)),
              "1", "", comparable=False)
    for index, (name, _, _, _) in enumerate(EDITS):
        bench.row(f"modules: after editing {name}, units compiled", first["steps"][index][1],
                  project["ccache"]["steps"][index][1], "as few as the compiler allows", "misses", comparable=False,
                  second=project.get("ccache2", {}).get("steps", [(0, None)] * 3)[index][1])
    bench.row("modules: wrong .o/.pcm files or program output over the fresh build and the 3 edits",
              first["wrong"], project["ccache"]["wrong"], "0", "files", comparable=False,
              second=project.get("ccache2", {}).get("wrong"))
    bench.row("modules: re-export by hand, stale importer object after the re-exported module changed (1 = stale)",
              reexport_by_hand(bench, "incrcc", work), reexport_by_hand(bench, "ccache", work), "0", "", comparable=False)
    for scanning in (True, False):
        bench.row(f"module-free C++20 (CMake 4, scanning {'on' if scanning else 'off'}): fresh build dir hits of 3",
                  module_free(bench, "incrcc", work, scanning), module_free(bench, "ccache", work, scanning), "3", "hits",
                  comparable=False)

import Foundation
import Testing
@testable import IncrccCore

/// C++20 named modules with clang 16: module units' interfaces stored and restored byte for byte, imported
/// interfaces keyed so that no edit is missed, and fresh build directories served from the cache.
@Suite(.enabled(if: Tools.required(Tools.hasIncrcc && Tools.hasClang16Modules && Tools.which("ninja") != nil)),
       .timeLimit(Tools.suiteTimeLimit))
struct ModuleTests {
    /// A library of modules: `base`, re-exported by `lib`, which has a partition and an implementation unit;
    /// a program that imports `lib`, and a unit without modules.
    func writeProject(_ s: Scratch) {
        s.write("src/CMakeLists.txt", """
            cmake_minimum_required(VERSION 3.28)
            project(modules CXX)
            set(CMAKE_CXX_STANDARD 20)
            # clang 16 cannot map a module to its file under -std=gnu++20 ("module 'base' not found").
            set(CMAKE_CXX_EXTENSIONS OFF)
            add_library(base)
            target_sources(base PUBLIC FILE_SET CXX_MODULES FILES base.cppm)
            add_library(lib)
            target_sources(lib PUBLIC FILE_SET CXX_MODULES FILES lib.cppm lib-part.cppm)
            target_sources(lib PRIVATE lib-impl.cpp)
            target_link_libraries(lib PUBLIC base)
            add_executable(app main.cpp plain.cpp)
            target_link_libraries(app PRIVATE lib)

            """)
        s.write("src/base.cppm", "export module base;\nexport int base_value() { return 41; }\n")
        s.write("src/lib-part.cppm", "export module lib:part;\nexport int part_value() { return 1; }\n")
        s.write("src/lib.cppm", "export module lib;\nexport import base;\nexport import :part;\nexport int lib_value();\n")
        s.write("src/lib-impl.cpp", "module lib;\nint lib_value() { return base_value() + part_value(); }\n")
        s.write("src/plain.cpp", "#include <cstdio>\nvoid plain() { std::puts(\"plain\"); }\n")
        s.write("src/main.cpp", """
            import lib;
            #include <cstdio>
            void plain();
            int main() { plain(); std::printf("%d %d\\n", lib_value(), base_value()); }

            """)
    }

    func configure(_ s: Scratch, _ directory: String, scanning: Bool = true) throws {
        let cmake = try #require(Tools.modulesCMake, "no CMake 3.28 or later (INCRCC_TEST_CMAKE)")
        let configured = try run([cmake, "-S", "src", "-B", directory, "-G", "Ninja", "-DCMAKE_CXX_COMPILER=clang++-16",
                                  "-DCMAKE_CXX_COMPILER_LAUNCHER=\(Tools.incrcc)",
                                  "-DCMAKE_CXX_SCAN_FOR_MODULES=\(scanning ? "ON" : "OFF")"], in: s)
        try #require(configured.status == 0, "\(configured.stdout)\(configured.stderr)")
    }

    func build(_ s: Scratch, _ directory: String, env: [String: String] = [:]) throws {
        let built = try run(["ninja", "-C", directory], in: s, env: env)
        try #require(built.status == 0, "\(built.stdout)\(built.stderr)")
    }

    /// Every object and compiled interface under `directory`, by path.
    func outputs(_ s: Scratch, _ directory: String) -> [String: Data] {
        var found: [String: Data] = [:]
        let root = s.file(directory)
        for case let path as String in FileManager.default.enumerator(atPath: root)?.allObjects ?? []
        where path.hasSuffix(".o") || path.hasSuffix(".pcm") {
            found[path] = FileManager.default.contents(atPath: root + "/" + path)
        }
        return found
    }

    /// The program's output and every `.o`/`.pcm` after the build through incrcc, then the same after a
    /// plain build in the same directory: they must be equal.
    func expectSameAsPlain(_ s: Scratch, _ directory: String, _ step: String) throws -> String {
        let printed = try run([s.file(directory + "/app")], in: s).stdout
        let served = outputs(s, directory)
        try run(["ninja", "-C", directory, "-t", "clean"], in: s)
        try build(s, directory, env: ["INCRCC_DISABLE": "1"])
        #expect(try run([s.file(directory + "/app")], in: s).stdout == printed, "\(step)")
        let plain = outputs(s, directory)
        #expect(served.count == 9 && Set(served.keys) == Set(plain.keys), "\(step): \(served.keys.sorted())")
        for (path, bytes) in served where plain[path] != bytes {
            Issue.record("\(step): incrcc's \(path) differs from clang's")
        }
        return printed
    }

    func counts(_ s: Scratch) throws -> (hits: Int, misses: Int) {
        let values = try stats(s)
        try incrcc(["-z"], in: s)
        return (values["direct_cache_hit"] ?? 0, values["cache_miss"] ?? 0)
    }

    @Test(.enabled(if: Tools.required(Tools.modulesCMake != nil)))
    func cmakeModulesHitInAFreshBuildDirectoryAndFollowEdits() throws {
        let s = Scratch()
        writeProject(s)
        try configure(s, "first")
        try build(s, "first")
        #expect(try counts(s) == (0, 6))
        // Another build directory: every compile from the cache, interfaces included.
        try configure(s, "fresh")
        try build(s, "fresh")
        #expect(try counts(s) == (6, 0))
        #expect(try expectSameAsPlain(s, "fresh", "fresh build directory") == "plain\n42 41\n")
        try run(["ninja", "-C", "fresh", "-t", "clean"], in: s)
        try build(s, "fresh")
        #expect(try counts(s) == (6, 0))
        _ = try expectSameAsPlain(s, "fresh", "after ninja -t clean")
        try incrcc(["-z"], in: s)

        // A body in the implementation unit: that unit alone is compiled.
        s.write("src/lib-impl.cpp", "module lib;\nint lib_value() { return base_value() * 100 + part_value(); }\n")
        try build(s, "fresh")
        #expect(try counts(s) == (0, 1))
        #expect(try expectSameAsPlain(s, "fresh", "implementation edit") == "plain\n4101 41\n")
        // An exported declaration of `lib`: its importers are compiled again.
        s.write("src/lib.cppm", "export module lib;\nexport import base;\nexport import :part;\nexport int lib_value();\nexport int extra() { return 7; }\n")
        try build(s, "fresh")
        let interfaceEdit = try counts(s)
        #expect(interfaceEdit.misses == 3, "\(interfaceEdit)")
        _ = try expectSameAsPlain(s, "fresh", "interface edit")
        // The re-exported module, same size: `main` names `lib` and reaches `base` through it.
        s.write("src/base.cppm", "export module base;\nexport int base_value() { return 51; }\n")
        try build(s, "fresh")
        #expect(try run([s.file("fresh/app")], in: s).stdout == "plain\n5101 51\n")
        #expect(try expectSameAsPlain(s, "fresh", "re-exported module edit") == "plain\n5101 51\n")
        // And the first build directory catches up from the cache where it can.
        try build(s, "first")
        #expect(try run([s.file("first/app")], in: s).stdout == "plain\n5101 51\n")
        _ = try expectSameAsPlain(s, "first", "first directory after the edits")
    }

    /// The re-export by hand: `main` names only `lib.pcm`, and clang loads `base.pcm` through the path stored
    /// inside it. After `base` changes (same size, so `lib.pcm` comes out byte-identical), `main` must be
    /// compiled again.
    @Test func reExportedModuleEditReachesAnImporterThatNamesOnlyTheReExporter() throws {
        let s = Scratch()
        // `base_k` is compiled into `main.o` itself: a stale `main.o` prints the old value.
        s.write("base.cppm", "export module base;\nexport constexpr int base_k = 41;\nexport int base_value() { return base_k; }\n")
        s.write("lib.cppm", "export module lib;\nexport import base;\nexport int lib_value() { return base_value() + 1; }\n")
        s.write("main.cpp", "import lib;\n#include <cstdio>\nint main() { std::printf(\"%d %d\\n\", lib_value(), base_k); }\n")
        func buildByHand() throws -> (output: String, libInterface: Data?) {
            let std = "-std=c++20"
            for arguments in [[std, "--precompile", "base.cppm", "-o", "base.pcm"],
                              [std, "-fmodule-file=base=base.pcm", "--precompile", "lib.cppm", "-o", "lib.pcm"]] {
                try compareWithPlain("clang++-16", arguments, object: arguments[arguments.count - 1], in: s)
            }
            try compareWithPlain("clang++-16", [std, "-fmodule-file=lib=lib.pcm", "-c", "main.cpp", "-o", "main.o"],
                                 object: "main.o", in: s)
            for unit in ["base", "lib"] {
                #expect(try run(["clang++-16", std, "-c", unit + ".pcm", "-o", unit + ".o"], in: s).status == 0)
            }
            #expect(try run(["clang++-16", "main.o", "lib.o", "base.o", "-o", "app"], in: s).status == 0)
            return (try run([s.file("app")], in: s).stdout, s.read("lib.pcm"))
        }
        let before = try buildByHand()
        #expect(before.output == "42 41\n")
        #expect(try buildByHand().output == "42 41\n")
        #expect(try counts(s) == (3, 3))
        s.write("base.cppm", "export module base;\nexport constexpr int base_k = 42;\nexport int base_value() { return base_k; }\n")
        let after = try buildByHand()
        #expect(after.libInterface == before.libInterface, "the re-exporter's interface should not change")
        #expect(after.output == "43 42\n")
        #expect(try counts(s) == (0, 3))
    }

    /// A module unit compiled with `-fmodule-output`: its interface is restored byte for byte in the same
    /// directory, and rebuilt (counted) for another one, since it records the working directory.
    @Test func moduleUnitInterfaceIsRestoredAndRebuiltForAnotherDirectory() throws {
        let s = Scratch()
        for directory in ["one", "two"] {
            s.write(directory + "/m.cppm", "module;\n#include <cstring>\nexport module m;\nexport int length(const char *s) { return (int)std::strlen(s); }\n")
        }
        let arguments = ["-std=c++20", "-O2", "-x", "c++-module", "-fmodule-output=m.pcm", "-c", "m.cppm", "-o", "m.o"]
        for directory in ["one", "one", "two", "two", "one"] {
            let cached = try incrcc(["clang++-16"] + arguments, in: s, cwd: s.file(directory))
            #expect(cached.status == 0, "\(cached.stderr)")
            let served = (s.read(directory + "/m.o"), s.read(directory + "/m.pcm"))
            #expect(try run(["clang++-16"] + arguments, in: s, cwd: s.file(directory)).status == 0)
            #expect(served.0 == s.read(directory + "/m.o") && served.1 == s.read(directory + "/m.pcm"), "\(directory)")
        }
        #expect(s.read("one/m.pcm") != s.read("two/m.pcm"))
        let values = try stats(s)
        #expect(values["cache_miss"] == 1 && values["direct_cache_hit"] == 4, "\(values)")
        // Rebuilt on moving to `two`, kept for it, rebuilt again on moving back.
        #expect(values["module_interface_rebuilt"] == 2, "\(values)")
    }

    /// CMake 3.28 and later give every C++20 compile a response file (the module map), also where no
    /// module is used: such a project hits as it does with scanning off.
    @Test(.enabled(if: Tools.required(Tools.modulesCMake != nil)))
    func moduleFreeProjectHitsAsWithScanningOff() throws {
        let s = Scratch()
        s.write("src/CMakeLists.txt", """
            cmake_minimum_required(VERSION 3.28)
            project(plain CXX)
            set(CMAKE_CXX_STANDARD 20)
            add_executable(app a.cpp b.cpp c.cpp)

            """)
        s.write("src/a.cpp", "#include <vector>\nint b(); int c();\nint main() { std::vector<int> v{b(), c()}; return v[0] + v[1] - 5; }\n")
        s.write("src/b.cpp", "#include <string>\nint b() { return (int)std::string(\"ab\").size(); }\n")
        s.write("src/c.cpp", "int c() { return 3; }\n")
        var hits: [Bool: Int] = [:]
        for scanning in [true, false] {
            let tag = scanning ? "scan" : "noscan"
            for round in 0..<2 {
                try configure(s, "\(tag)\(round)", scanning: scanning)
                try build(s, "\(tag)\(round)")
                #expect(try run([s.file("\(tag)\(round)/app")], in: s).status == 0)
            }
            hits[scanning] = try counts(s).hits
        }
        // The module map of a unit without modules is empty: expanded, the command lines are the ones CMake
        // gives without scanning, so the scanning builds' entries serve those builds too.
        #expect(hits[true] == 3 && hits[false] == 6, "\(hits)")
    }

    /// gcc's modules are not cached, under their own counter.
    @Test(.enabled(if: Tools.required(Tools.hasGXX)))
    func gccModulesRunUncached() throws {
        let s = Scratch()
        s.write("m.cpp", "export module m;\nexport int f() { return 1; }\n")
        let cached = try incrcc(["g++", "-std=c++20", "-fmodules-ts", "-c", "m.cpp", "-o", "m.o"], in: s)
        #expect(cached.status == 0, "\(cached.stderr)")
        let values = try stats(s)
        #expect(values["gcc_modules"] == 1 && (values["cache_miss"] ?? 0) == 0, "\(values)")
    }

    @Test func classifierFollowsModuleOptions() {
        func request(_ arguments: [String]) -> CompileRequest? {
            if case .cacheable(let value) = ArgumentClassifier().classify(arguments) { return value }
            return nil
        }
        let unit = request(["-x", "c++-module", "-fmodule-output", "-c", "a.cppm", "-o", "dir/a.o"])
        #expect(unit?.modules.interfaceOutput == "dir/a.pcm")
        #expect(unit?.keyedArguments.contains("-fmodule-output") == true)
        let named = request(["-fmodule-output=x/y.pcm", "-c", "a.cppm", "-o", "a.o"])
        #expect(named?.modules.interfaceOutput == "x/y.pcm" && named?.language == .cxxModule)
        // The interface's name is not keyed: the bytes do not depend on it.
        #expect(named?.keyedArguments.contains { $0.contains("y.pcm") } == false)
        let importer = request(["-fmodule-file=a=a.pcm", "-fmodule-file=b.pcm", "-c", "m.cpp", "-o", "m.o"])
        #expect(importer?.modules.files == [ModuleOptions.FileOption(name: "a", path: "a.pcm"),
                                           ModuleOptions.FileOption(name: nil, path: "b.pcm")])
        let precompile = request(["--precompile", "a.cppm"])
        #expect(precompile?.output == "a.pcm" && precompile?.outputDependsOnDirectory == true)
        for refused in [["-fmodule-output", "-c", "a.cpp"], ["--precompile", "-c", "a.cppm"],
                        ["-fprebuilt-module-path=d", "-c", "a.cpp"], ["-fmodules", "-c", "a.cpp"],
                        ["-fmodule-file=", "-c", "a.cpp"], ["-fmodule-output", "-S", "a.cppm"]] {
            #expect(request(refused) == nil, "\(refused)")
        }
        if case .uncacheable(let reason) = ArgumentClassifier().classify(["-fmodules-ts", "-c", "a.cpp"]) {
            #expect(reason == .gccModules)
        } else {
            Issue.record("-fmodules-ts was classified cacheable")
        }
    }
}

import Foundation
import Testing

/// One project in several checkouts under `base_dir`, at paths of different lengths, built by CMake with
/// absolute source and include paths.
@Suite(.enabled(if: Tools.required(Tools.hasIncrcc && Tools.hasGCC)), .timeLimit(Tools.suiteTimeLimit))
struct CheckoutEndToEndTests {
    static let checkouts = ["work/a/shapes", "work/second-checkout/shapes", "work/c3/shapes"]

    func writeCheckout(_ s: Scratch, _ root: String) {
        s.write(root + "/include/shape.h", "#pragma once\nint area(int w, int h);\nint perimeter(int w, int h);\n")
        s.write(root + "/src/area.c", "#include \"shape.h\"\nint area(int w, int h) { return w * h; }\n")
        s.write(root + "/src/perimeter.c", "#include \"shape.h\"\nint perimeter(int w, int h) { return 2 * (w + h); }\n")
        s.write(root + "/src/text.cpp", "#include <string>\n#include <vector>\nextern \"C\" int text_length() { std::vector<std::string> v{\"ab\", \"cde\"}; return (int)(v[0].size() + v[1].size()); }\n")
        s.write(root + "/src/main.c", "#include <stdio.h>\n#include \"shape.h\"\nint text_length(void);\nint main(void) { printf(\"%d %d %d\\n\", area(2, 3), perimeter(2, 3), text_length()); return 0; }\n")
        s.write(root + "/CMakeLists.txt", """
            cmake_minimum_required(VERSION 3.16)
            project(shapes C CXX)
            add_executable(prog src/area.c src/perimeter.c src/text.cpp src/main.c)
            target_include_directories(prog PRIVATE include)

            """)
    }

    static let objects = ["area.c.o", "perimeter.c.o", "text.cpp.o", "main.c.o"].map { "CMakeFiles/prog.dir/src/" + $0 }

    /// Configures and builds `root` into `root/<build>`, through incrcc unless `plain`.
    func build(_ s: Scratch, _ root: String, into build: String = "build", type: String, plain: Bool = false,
               env: [String: String]) throws {
        var configure = ["cmake", "-G", "Ninja", "-S", s.file(root), "-B", s.file(root + "/" + build),
                         "-DCMAKE_BUILD_TYPE=\(type)"]
        if !plain {
            configure += ["-DCMAKE_C_COMPILER_LAUNCHER=\(Tools.incrcc)", "-DCMAKE_CXX_COMPILER_LAUNCHER=\(Tools.incrcc)"]
        }
        let configured = try run(configure, in: s, env: env)
        #expect(configured.status == 0, "\(configured.stderr)")
        let built = try run(["cmake", "--build", s.file(root + "/" + build)], in: s, env: env)
        #expect(built.status == 0, "\(built.stdout)\(built.stderr)")
        #expect(try run([s.file(root + "/" + build + "/prog")], in: s).stdout == "6 10 5\n")
    }

    func counts(_ s: Scratch, _ body: () throws -> Void) throws -> (misses: Int, hits: Int) {
        let before = try stats(s)
        try body()
        let after = try stats(s)
        return ((after["cache_miss"] ?? 0) - (before["cache_miss"] ?? 0),
                (after["direct_cache_hit"] ?? 0) - (before["direct_cache_hit"] ?? 0))
    }

    @Test(.enabled(if: Tools.required(Tools.hasCMakeNinja && Tools.hasGXX)))
    func secondCheckoutHitsWithObjectsOfItsOwn() throws {
        let s = Scratch()
        let env = ["INCRCC_BASEDIR": s.file("work")]
        for root in Self.checkouts { writeCheckout(s, root) }
        #expect(try counts(s) { try build(s, Self.checkouts[0], type: "Release", env: env) } == (4, 0))
        for root in Self.checkouts.dropFirst() {
            #expect(try counts(s) { try build(s, root, type: "Release", env: env) } == (0, 4), "\(root)")
            try build(s, root, into: "plain", type: "Release", plain: true, env: env)
            for object in Self.objects {
                #expect(s.read(root + "/build/" + object) == s.read(root + "/plain/" + object), "\(root): \(object)")
            }
        }
        // Without base_dir, each checkout is keyed by its own paths.
        let others = try counts(s) { try build(s, Self.checkouts[1], into: "no-base", type: "Release", env: [:]) }
        #expect(others == (4, 0))
    }

    /// With `-g` the objects hold the build directory: keyed by their checkout, never patched across.
    @Test(.enabled(if: Tools.required(Tools.hasCMakeNinja && Tools.hasGXX)))
    func debugObjectsNamingTheirCheckoutAreKeptApart() throws {
        let s = Scratch()
        let env = ["INCRCC_BASEDIR": s.file("work")]
        for root in Self.checkouts.prefix(2) { writeCheckout(s, root) }
        #expect(try counts(s) { try build(s, Self.checkouts[0], type: "Debug", env: env) } == (4, 0))
        #expect(try counts(s) { try build(s, Self.checkouts[1], type: "Debug", env: env) } == (4, 0))
        #expect(try counts(s) { try build(s, Self.checkouts[1], into: "again", type: "Debug", env: env) } == (4, 0),
                "another build dir is another cwd in the debug info")
        #expect(try counts(s) { try build(s, Self.checkouts[1], type: "Debug", env: env) } == (0, 0), "up to date")
        try FileManager.default.removeItem(atPath: s.file(Self.checkouts[1] + "/build"))
        #expect(try counts(s) { try build(s, Self.checkouts[1], type: "Debug", env: env) } == (0, 4))
        try build(s, Self.checkouts[1], into: "plain", type: "Debug", plain: true, env: env)
        let built = Self.objects.map { s.read(Self.checkouts[1] + "/build/" + $0) }
        let plain = Self.objects.map { s.read(Self.checkouts[1] + "/plain/" + $0) }
        #expect(built.allSatisfy { $0 != nil })
        #expect(built.map { $0?.count } == plain.map { $0?.count }, "same layout; only the build dir's name differs")
    }

    /// The `.d` file a hit writes in another checkout is the one the compiler writes there, line breaks
    /// included, with gcc and clang; an edited file in the second checkout misses.
    @Test(arguments: ["gcc", "clang"].filter { Tools.which($0) != nil })
    func dependencyFilesMatchTheCompilersInEveryCheckout(compiler: String) throws {
        let s = Scratch()
        let env = ["INCRCC_BASEDIR": s.file("work")]
        for root in Self.checkouts { writeCheckout(s, root) }
        for root in Self.checkouts {
            s.write(root + "/build/.keep", "")
            let args = [compiler, "-O2", "-I\(s.file(root))/include", "-MD", "-MT", "area.o", "-c", s.file(root + "/src/area.c")]
            let cached = try incrcc(args + ["-MF", "area.d", "-o", "area.o"], in: s, cwd: s.file(root + "/build"), env: env)
            #expect(cached.status == 0, "\(cached.stderr)")
            let plain = try run(args + ["-MF", "plain.d", "-o", "plain.o"], in: s, cwd: s.file(root + "/build"))
            #expect(plain.status == 0)
            #expect(s.text(root + "/build/area.d") == s.text(root + "/build/plain.d"), "\(root)")
            #expect(s.text(root + "/build/area.d").contains(s.file(root + "/include/shape.h")))
            #expect(s.read(root + "/build/area.o") == s.read(root + "/build/plain.o"))
        }
        #expect(try stats(s)["direct_cache_hit"] == 2)
        s.write(Self.checkouts[2] + "/include/shape.h", "#pragma once\nint area(int w, int h);\n")
        let edited = try incrcc([compiler, "-O2", "-I\(s.file(Self.checkouts[2]))/include", "-c",
                                 s.file(Self.checkouts[2] + "/src/area.c"), "-o", "area.o"],
                                in: s, cwd: s.file(Self.checkouts[2] + "/build"), env: env)
        #expect(edited.status == 0)
        #expect(try stats(s)["cache_miss"] == 2, "the first compile, then the edited header")
    }
}

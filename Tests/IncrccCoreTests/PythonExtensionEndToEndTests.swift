import Foundation
import Testing

/// Python extensions reinstalled with uv: every build runs in fresh random directories (uv's isolated build
/// env under its cache, a `tempfile` build tree), which incrcc normalizes. Needs uv on PATH and PyPI for
/// the build requirements (scikit-build-core, nanobind, setuptools).
@Suite(.enabled(if: Tools.required(Tools.hasIncrcc && Tools.hasGCC && Tools.hasGXX && Tools.hasCMakeNinja && Tools.which("uv") != nil)),
       .timeLimit(Tools.suiteTimeLimit))
struct PythonExtensionEndToEndTests {
    static let fixtures = Tools.packageRoot + "/Tests/Fixtures"

    /// A copy of a fixture project in the scratch dir (setuptools builds inside its source tree).
    func copyFixture(_ name: String, to s: Scratch) throws -> String {
        let destination = s.file(name)
        try FileManager.default.copyItem(atPath: Self.fixtures + "/" + name, toPath: destination)
        return destination
    }

    /// `incrcc` and `incrcc++` as the install lays them out, for `CC=incrcc CXX=incrcc++`.
    func compilerLinks(_ s: Scratch) throws -> (cc: String, cxx: String) {
        s.write("bin/.keep", "")
        for name in ["incrcc", "incrcc++"] {
            try FileManager.default.createSymbolicLink(atPath: s.file("bin/" + name), withDestinationPath: Tools.incrcc)
        }
        return (s.file("bin/incrcc"), s.file("bin/incrcc++"))
    }

    func makeVenv(_ s: Scratch) throws -> String {
        let made = try run(["uv", "venv", "-q", s.file("venv")], in: s)
        #expect(made.status == 0, "\(made.stderr)")
        return s.file("venv/bin/python")
    }

    /// Compiles seen by the cache during one command: misses and hits, and what was verified.
    struct Compiles {
        var misses: Int
        var hits: Int
        var verified: Int
    }

    func counting(_ s: Scratch, _ body: () throws -> RunResult) throws -> Compiles {
        let before = try stats(s)
        let result = try body()
        #expect(result.status == 0, "\(result.stderr.suffix(1500))")
        let after = try stats(s)
        func delta(_ key: String) -> Int { (after[key] ?? 0) - (before[key] ?? 0) }
        return Compiles(misses: delta("cache_miss"), hits: delta("direct_cache_hit"),
                        verified: delta("patch_verification_agreed") + delta("patch_verification_disagreed"))
    }

    func pipInstall(_ project: String, python: String, in s: Scratch, env: [String: String]) throws -> RunResult {
        try run(["uv", "pip", "install", "-q", "--python", python, "--reinstall", project], in: s, env: env)
    }

    func check(_ python: String, _ code: String, in s: Scratch) throws {
        let result = try run([python, "-c", code], in: s)
        #expect(result.status == 0, "\(code): \(result.stderr.suffix(800))")
    }

    @Test func nanobindReinstallCompilesNothingAndAnEditCompilesOneUnit() throws {
        let s = Scratch()
        let project = try copyFixture("nanobind_ext", to: s)
        let python = try makeVenv(s)
        let env = ["CMAKE_ARGS": "-DCMAKE_C_COMPILER_LAUNCHER=\(Tools.incrcc) -DCMAKE_CXX_COMPILER_LAUNCHER=\(Tools.incrcc)"]
        let first = try counting(s) { try pipInstall(project, python: python, in: s, env: env) }
        #expect(first.misses >= 3, "the module, its second unit and libnanobind compiled")
        #expect(first.hits == 0)

        let second = try counting(s) { try pipInstall(project, python: python, in: s, env: env) }
        #expect(second.misses == 0, "the reinstall compiles nothing")
        #expect(second.hits == first.misses, "every compile, libnanobind's included, hits")
        #expect(second.verified == 0)
        try check(python, "import incrcc_nanobind_ext as m; assert m.add(2, 3) == 5; "
                  + "assert m.polygon_area([0, 0, 1, 0, 1, 1, 0, 1]) == 1.0", in: s)

        let geometry = project + "/src/geometry.cpp"
        let text = try String(contentsOfFile: geometry, encoding: .utf8)
        try text.replacingOccurrences(of: "std::fabs(twice) / INCRCC_EXT_SCALE", with: "std::fabs(twice) * 5")
            .write(toFile: geometry, atomically: true, encoding: .utf8)
        let third = try counting(s) { try pipInstall(project, python: python, in: s, env: env) }
        #expect(third.misses == 1, "only the edited unit compiles")
        #expect(third.hits == first.misses - 1)
        try check(python, "import incrcc_nanobind_ext as m; assert m.polygon_area([0, 0, 1, 0, 1, 1, 0, 1]) == 10.0", in: s)
    }

    @Test func nanobindReinstallHitsWithIncrccAsTheCompiler() throws {
        let s = Scratch()
        let project = try copyFixture("nanobind_ext", to: s)
        let python = try makeVenv(s)
        let links = try compilerLinks(s)
        let env = ["CC": links.cc, "CXX": links.cxx]
        let first = try counting(s) { try pipInstall(project, python: python, in: s, env: env) }
        #expect(first.misses >= 3)
        let second = try counting(s) { try pipInstall(project, python: python, in: s, env: env) }
        #expect(second.misses == 0)
        #expect(second.hits == first.misses)
        try check(python, "import incrcc_nanobind_ext as m; assert m.add(2, 3) == 5", in: s)
    }

    @Test func setuptoolsReinstallCompilesOnlyTheEditedUnit() throws {
        let s = Scratch()
        let project = try copyFixture("setuptools_ext", to: s)
        let python = try makeVenv(s)
        let env = ["CC": "\(Tools.incrcc) gcc"]
        let first = try counting(s) { try pipInstall(project, python: python, in: s, env: env) }
        #expect(first.misses == 3)
        try check(python, "import incrcc_setuptools_ext as m; assert m.apply(2) == 7", in: s)

        s.write("setuptools_ext/src/scale.c", "long scale(long x) { return 4 * x; }\n")
        let second = try counting(s) { try pipInstall(project, python: python, in: s, env: env) }
        #expect(second.misses == 1, "setuptools recompiles every unit; only the edited one reaches the compiler")
        #expect(second.hits == 2)
        #expect(second.verified == 0)
        try check(python, "import incrcc_setuptools_ext as m; assert m.apply(2) == 9", in: s)
    }

    @Test func uvSyncReinstallCompilesOnlyTheEditedUnit() throws {
        let s = Scratch()
        let project = try copyFixture("setuptools_ext", to: s)
        let links = try compilerLinks(s)
        let env = ["CC": links.cc, "UV_PROJECT_ENVIRONMENT": s.file("project-venv")]
        let sync = ["uv", "sync", "-q", "--reinstall"]
        let first = try counting(s) { try run(sync, in: s, cwd: project, env: env) }
        #expect(first.misses == 3)
        s.write("setuptools_ext/src/offset.c", "long offset(long x) { return x + 2; }\n")
        let second = try counting(s) { try run(sync, in: s, cwd: project, env: env) }
        #expect(second.misses == 1)
        #expect(second.hits == 2)
        try check(s.file("project-venv/bin/python"), "import incrcc_setuptools_ext as m; assert m.apply(2) == 8", in: s)
    }
}

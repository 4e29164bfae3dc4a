import Foundation
import Testing

/// Results moved between directories — throw-away temp dirs, checkouts of other lengths under `base_dir`, a
/// dependency at a new store path — for units that read their path in every documented way: every served
/// object must equal a plain compile in its directory, and units that read no moving path hit at once.
@Suite(.enabled(if: Tools.required(Tools.hasIncrcc && Tools.hasGCC)), .timeLimit(Tools.suiteTimeLimit))
struct PathDependenceEndToEndTests {
    /// One way of reading a path: its text (placed in the source or in a header under the moving
    /// directory), the languages it is written for, and whether it reads a moving path at all.
    struct Form: CustomStringConvertible {
        var name: String
        var text: String
        var cxxOnly = false
        var readsPath = true
        var description: String { name }
    }

    static let forms: [Form] = [
        Form(name: "narrow", text: "const char *@N(void) { return __FILE__; }"),
        Form(name: "wide", text: "#include <wchar.h>\nconst wchar_t *@N = L\"\" __FILE__;"),
        Form(name: "utf16", text: "const char16_t *@N = u\"\" __FILE__;", cxxOnly: true),
        Form(name: "utf32", text: "const char32_t *@N = U\"\" __FILE__;", cxxOnly: true),
        Form(name: "sizeof", text: "int @N = sizeof(__FILE__);"),
        Form(name: "character", text: "char @N(void) { return __FILE__[sizeof(__FILE__) / 2]; }"),
        Form(name: "base", text: "const char *@N(void) { return __BASE_FILE__; }"),
        Form(name: "builtin", text: "const char *@N(void) { return __builtin_FILE(); }"),
        Form(name: "hash", text: """
            static unsigned @N_h(const char *s) { unsigned v = 5381; while (*s) v = v * 33 + (unsigned char)*s++; return v; }
            unsigned @N(void) { return @N_h(__FILE__); }
            """),
        Form(name: "constexprHash", text: """
            constexpr unsigned @N_h(const char *s) { unsigned v = 5381; while (*s) v = v * 33 + (unsigned char)*s++; return v; }
            constexpr unsigned @N = @N_h(__FILE__);
            unsigned @N_get() { return @N; }
            """, cxxOnly: true),
        Form(name: "sourceLocation", text: """
            #include <source_location>
            const char *@N() { return std::source_location::current().file_name(); }
            """, cxxOnly: true),
        Form(name: "define", text: "const char *@N(void) { return DATADIR; }"),
        Form(name: "pasted", text: """
            #define @N_str(x) #x
            #define @N_xstr(x) @N_str(x)
            #define @N_cat(a, b) a##b
            #define @N_xcat(a, b) @N_cat(a, b)
            const char *@N(void) { return @N_xstr(@N_xcat(PARTA, PARTB)); }
            """),
        Form(name: "assertUsed", text: "#include <assert.h>\nint @N(int x) { assert(x > 0); return x + 1; }"),
        Form(name: "assertUnused", text: "#include <assert.h>\nint @N(int x) { return x + 1; }", readsPath: false),
        Form(name: "fileName", text: "const char *@N(void) { return __FILE_NAME__; }", readsPath: false),
        Form(name: "plain", text: "#include <stdio.h>\nint @N(void) { return puts(\"plain\"); }", readsPath: false),
    ]

    /// Where a build happens in move `index`: the moving directory (holds `inc/` and, unless the place keeps
    /// the source still, the source), the working directory, and the environment.
    enum Place: String, CaseIterable, CustomStringConvertible {
        case temporaryDirectory, checkout, storePath
        var description: String { rawValue }

        static let tempNames = ["tmpk2ab9xyz", "tmpq7rs0mno", "tmpzz31ploc"]
        static let checkouts = ["co/a", "co/longer_checkout", "co/third_one_x"]
        static let hashes = ["0123456789abcdfghijklmnpqrsvwxyz", "zyxwvsrqpnmlkjihgfdcba9876543210",
                             "aaaaaaaaaabbbbbbbbbbccccccccccdd"]

        func movingDirectory(_ s: Scratch, _ index: Int) -> String {
            switch self {
            case .temporaryDirectory: s.file("t/" + Self.tempNames[index])
            case .checkout: s.file(Self.checkouts[index])
            case .storePath: s.file("store/\(Self.hashes[index])-dep-1.0")
            }
        }

        /// Where the source sits: in the moving directory, except for a store path, which only headers use.
        func sourceDirectory(_ s: Scratch, _ index: Int) -> String {
            self == .storePath ? s.file("project") : movingDirectory(s, index)
        }

        /// The moving directory's own name part, as one identifier (two halves pasted with `##` form it).
        func movingName(_ index: Int) -> String {
            switch self {
            case .temporaryDirectory: Self.tempNames[index]
            case .checkout: String(Self.checkouts[index].split(separator: "/").last ?? "")
            case .storePath: Self.hashes[index]
            }
        }

        func environment(_ s: Scratch) -> [String: String] {
            switch self {
            case .temporaryDirectory: ["INCRCC_TEMP_DIRS": s.file("t/tmpXXXXXXXX")]
            case .checkout: ["INCRCC_BASEDIR": s.file("co")]
            case .storePath: ["NIX_STORE": s.file("store")]
            }
        }
    }

    static let compilers = ["gcc", "clang"].filter { Tools.which($0) != nil }

    /// Writes every form (once in the source, once in a header under the moving directory) for move `index`.
    func writeUnits(_ s: Scratch, _ place: Place, _ index: Int, cxx: Bool, forms: [Form]) -> [(form: Form, source: String)] {
        let moving = place.movingDirectory(s, index)
        let sourceDir = place.sourceDirectory(s, index)
        var units: [(Form, String)] = []
        for form in forms where cxx || !form.cxxOnly {
            let body = form.text.replacingOccurrences(of: "@N", with: "f_" + form.name)
            let header = "\(moving)/inc/\(form.name).h"
            try? FileManager.default.createDirectory(atPath: moving + "/inc", withIntermediateDirectories: true)
            try? FileManager.default.createDirectory(atPath: sourceDir, withIntermediateDirectories: true)
            FileManager.default.createFile(atPath: header, contents: Data((body.replacingOccurrences(of: "f_", with: "h_") + "\n").utf8))
            let ext = cxx ? "cpp" : "c"
            if place != .storePath {
                let source = "\(sourceDir)/\(form.name).\(ext)"
                FileManager.default.createFile(atPath: source, contents: Data((body + "\n").utf8))
                units.append((form, source))
            }
            let viaHeader = "\(sourceDir)/\(form.name)_via_header.\(ext)"
            FileManager.default.createFile(atPath: viaHeader, contents: Data("#include \"\(form.name).h\"\n".utf8))
            units.append((form, viaHeader))
        }
        return units
    }

    /// Builds every unit in three places through incrcc and plainly; returns the hits per move for the
    /// units of forms that read no moving path.
    func build(compiler: String, cxx: Bool, place: Place, forms: [Form] = forms) throws -> [Int] {
        let s = Scratch()
        let driver = cxx ? (compiler == "gcc" ? "g++" : "clang++") : compiler
        var pathFreeHits: [Int] = []
        for index in 0..<3 {
            let moving = place.movingDirectory(s, index)
            let units = writeUnits(s, place, index, cxx: cxx, forms: forms)
            let name = place.movingName(index)
            let flags = [cxx ? "-std=c++20" : "-std=gnu11", "-O2", "-I\(moving)/inc", "-DDATADIR=\"\(moving)/share\"",
                         "-DPARTA=\(name.prefix(name.count / 2))", "-DPARTB=\(name.dropFirst(name.count / 2))"]
            let before = try stats(s, env: place.environment(s))
            var pathFreeBefore = before["direct_cache_hit"] ?? 0
            for (form, source) in units {
                let args = [driver] + flags + ["-c", source]
                let cached = try incrcc(args + ["-o", s.file("u.o")], in: s, cwd: place.sourceDirectory(s, index),
                                        env: place.environment(s))
                #expect(cached.status == 0, "\(cached.stderr)")
                let served = s.read("u.o")
                let plain = try run(args + ["-o", s.file("plain.o")], in: s, cwd: place.sourceDirectory(s, index))
                #expect(plain.status == 0, "\(plain.stderr)")
                #expect(served != nil && served == s.read("plain.o"),
                        "\(driver) \(place) move \(index): \(source) served an object other than a plain compile's")
                try? FileManager.default.removeItem(atPath: s.file("u.o"))
                try? FileManager.default.removeItem(atPath: s.file("plain.o"))
                // Each unit's store finishes before the next call, so the count per unit is exact.
                let after = try stats(s, env: place.environment(s))
                let hits = after["direct_cache_hit"] ?? 0
                if !form.readsPath { pathFreeHits.append(hits - pathFreeBefore) }
                pathFreeBefore = hits
            }
        }
        return pathFreeHits
    }

    /// Every place and every form, gcc: every object equals a plain compile's, and units that read no moving
    /// path hit on the first move (their sources named by absolute path, as CMake does).
    @Test(arguments: Place.allCases, [false, true])
    func gccServesNoWrongObjectAndPathFreeUnitsHitAtOnce(place: Place, cxx: Bool) throws {
        let hits = try build(compiler: "gcc", cxx: cxx, place: place)
        let perMove = hits.count / 3
        #expect(hits.count == perMove * 3 && perMove > 0)
        #expect(hits.prefix(perMove).allSatisfy { $0 == 0 }, "the first build compiles")
        #expect(hits.dropFirst(perMove).allSatisfy { $0 == 1 }, "path-free units hit on every move: \(hits)")
    }

    /// The same with clang, whose symbol table names the source as given: every object equals a plain
    /// compile's (hits are the agreement's to give).
    @Test(.enabled(if: Tools.required(Tools.hasClang)), arguments: Place.allCases, [false, true])
    func clangServesNoWrongObject(place: Place, cxx: Bool) throws {
        _ = try build(compiler: "clang", cxx: cxx, place: place)
    }

    /// A unit that reads its path as plain narrow text patches exactly: the first move compiles once more to
    /// agree, and every later move hits.
    @Test(arguments: compilers)
    func narrowReadingAgreesOnceThenHits(compiler: String) throws {
        let s = Scratch()
        let env = Place.temporaryDirectory.environment(s)
        var hits: [Int] = []
        for index in 0..<4 {
            let dir = s.file("t/" + (Place.tempNames + ["tmpw0w0w0w0"])[index])
            s.write(String(dir.dropFirst(s.path.count + 1)) + "/n.c", "const char *where(void) { return __FILE__; }\n")
            let args = [compiler, "-O2", "-c", dir + "/n.c"]
            let before = try stats(s, env: env)["direct_cache_hit"] ?? 0
            #expect(try incrcc(args + ["-o", s.file("n.o")], in: s, cwd: dir, env: env).status == 0)
            let served = s.read("n.o")
            #expect(try run(args + ["-o", s.file("plain.o")], in: s, cwd: dir).status == 0)
            #expect(served == s.read("plain.o"), "move \(index)")
            hits.append((try stats(s, env: env)["direct_cache_hit"] ?? 0) - before)
        }
        #expect(hits == [0, 0, 1, 1], "compile, agree, hit, hit: \(hits)")
        let values = try stats(s, env: env)
        #expect(values["patch_verification_agreed"] == 1)
        #expect(values["patched_hit_unit_agreed"] == 2)
    }

    /// A wide `__FILE__` cannot be patched: the first move compiles and disagrees, the unit is kept under its
    /// real paths (counted), its class is not distrusted, and `explain` names the file and line.
    @Test func widePathIsAMissWithItsReasonAndLeavesTheClassTrusted() throws {
        let s = Scratch()
        let env = Place.temporaryDirectory.environment(s)
        for index in 0..<3 {
            let dir = s.file("t/" + Place.tempNames[index])
            let relative = String(dir.dropFirst(s.path.count + 1))
            s.write(relative + "/w.c", "#include <wchar.h>\n\nconst wchar_t *w = L\"\" __FILE__;\n")
            s.write(relative + "/p.c", "int p(int x) { return x * 3; }\n")
            for unit in ["w", "p"] {
                let args = ["gcc", "-O2", "-c", dir + "/\(unit).c"]
                #expect(try incrcc(args + ["-o", s.file("\(unit).o")], in: s, cwd: dir, env: env).status == 0)
                let served = s.read("\(unit).o")
                #expect(try run(args + ["-o", s.file("plain.o")], in: s, cwd: dir).status == 0)
                #expect(served == s.read("plain.o"), "\(unit) move \(index)")
            }
            if index == 2 {
                let explained = try incrcc(["explain", "gcc", "-O2", "-c", dir + "/w.c", "-o", s.file("w.o")], in: s, cwd: dir,
                                           env: env)
                #expect(explained.stdout.contains("w.c:3"), "\(explained.stdout)")
                #expect(explained.stdout.contains("keyed by these real paths"), "\(explained.stdout)")
            }
        }
        let values = try stats(s, env: env)
        #expect(values["patch_verification_disagreed"] == 1)
        #expect(values["miss_moved_path_dependent"] == 1)
        #expect(values["distrusted_classes"] == 0)
        #expect(values["direct_cache_hit"] == 2, "p.c hits on both moves")
        // Back in a directory it was compiled in, the unit hits under its real paths.
        let dir = s.file("t/" + Place.tempNames[1])
        #expect(try incrcc(["gcc", "-O2", "-c", dir + "/w.c", "-o", s.file("w.o")], in: s, cwd: dir, env: env).status == 0)
        #expect(try stats(s, env: env)["direct_cache_hit"] == 3)
    }

    /// Random units mixing the forms (in the source, in headers, through macros), built in three temp
    /// dirs by both compilers: every object equals a plain compile's. Fixed seed, so a failure repeats.
    @Test func randomMixturesServeNoWrongObject() throws {
        var generator = SeededGenerator(seed: ProcessInfo.processInfo.environment["INCRCC_TEST_SEED"].flatMap(UInt64.init) ?? 31)
        let candidates = Self.forms.filter { !$0.cxxOnly }
        for round in 0..<3 {
            var chosen: [Form] = []
            for form in candidates where generator.next() % 3 == 0 { chosen.append(form) }
            if chosen.isEmpty { chosen = [candidates[Int(generator.next() % UInt64(candidates.count))]] }
            // One unit holding all the chosen forms, each under its own name.
            let mixed = Form(name: "mix\(round)", text: chosen.map { $0.text.replacingOccurrences(of: "@N", with: "@N_" + $0.name) }
                .joined(separator: "\n"), readsPath: true)
            let compiler = Self.compilers[Int(generator.next() % UInt64(Self.compilers.count))]
            let place = Place.allCases[Int(generator.next() % UInt64(Place.allCases.count))]
            _ = try build(compiler: compiler, cxx: generator.next() % 2 == 0, place: place, forms: [mixed])
        }
    }
}

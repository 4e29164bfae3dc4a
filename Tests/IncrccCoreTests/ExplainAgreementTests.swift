import Foundation
import Testing

/// `incrcc explain` says what the next call does: for each way a call is served or compiled, explain runs
/// first and the call right after, and the verdict must match the call's outcome.
@Suite(.enabled(if: Tools.required(Tools.hasIncrcc && Tools.hasGCC)), .timeLimit(Tools.suiteTimeLimit))
struct ExplainAgreementTests {
    /// explain's verdict, then whether the call hit.
    func explainThenCall(_ arguments: [String], in s: Scratch, cwd: String? = nil,
                         env: [String: String] = [:]) throws -> (verdict: String, hit: Bool) {
        let explained = try incrcc(["explain", "--format", "json"] + arguments, in: s, cwd: cwd, env: env)
        let verdict = explained.stdout.contains("\"verdict\": \"hit\"") ? "hit"
            : explained.stdout.contains("\"verdict\": \"uncacheable\"") ? "uncacheable" : "compile"
        // 0 when it would hit, 1 otherwise, as grep and diff answer.
        #expect(explained.status == (verdict == "hit" ? 0 : 1), "\(explained.stderr)")
        func hits() throws -> Int {
            let counted = try stats(s, env: env)
            return (counted["direct_cache_hit"] ?? 0) + (counted["preprocessed_cache_hit"] ?? 0)
        }
        let before = try hits()
        let called = try incrcc(arguments, in: s, cwd: cwd, env: env)
        #expect(called.status == 0, "\(called.stderr)")
        return (verdict, try hits() > before)
    }

    @Test func verdictsMatchTheCalls() throws {
        let s = Scratch()
        s.write("u.c", "#include \"h.h\"\nint u(void) { return H + level(); }\n")
        let header = { (doc: String, skipped: String, value: String) in
            "#pragma once\n/* \(doc) */\n#ifdef NEVER_DEFINED\nint skipped_\(skipped);\n#endif\n#define H \(value)\nstatic inline int level(void) { return 1; }\n"
        }
        let args = ["gcc", "-O2", "-c", "u.c", "-o", "u.o"]
        let steps: [(String, header: String, args: [String], expected: String)] = [
            ("first compile", header("doc", "a", "1"), args, "compile"),
            ("the same call", header("doc", "a", "1"), args, "hit"),
            ("an edit in a skipped group", header("doc", "b", "1"), args, "hit"),
            ("an edit of a comment", header("words", "b", "1"), args, "hit"),
            ("an edit of code", header("words", "b", "2"), args, "compile"),
            ("a macro no file reads", header("words", "b", "2"), ["gcc", "-DUNREAD=1", "-O2", "-c", "u.c", "-o", "u.o"], "hit"),
            ("an option that decides the object", header("words", "b", "2"), ["gcc", "-O1", "-c", "u.c", "-o", "u.o"], "compile"),
            ("a response file", header("words", "b", "2"), ["gcc", "@missing.rsp", "-c", "u.c"], "uncacheable"),
        ]
        for step in steps {
            s.write("h.h", step.header)
            if step.expected == "uncacheable" {
                let explained = try incrcc(["explain", "--format", "json"] + step.args, in: s)
                #expect(explained.stdout.contains("\"verdict\": \"uncacheable\""), "\(step.0)")
                continue
            }
            let (verdict, hit) = try explainThenCall(step.args, in: s)
            #expect(verdict == step.expected, "\(step.0): explain said \(verdict)")
            #expect(hit == (step.expected == "hit"), "\(step.0): the call \(hit ? "hit" : "compiled")")
        }
    }

    /// Moves between throw-away directories: a unit that reads its path compiles once to agree (explain
    /// says so), then hits; one whose patched result differed compiles in every new directory.
    /// Usage errors exit 2 with one line; a pasted `incrcc gcc …` line is explained as `gcc …`.
    @Test func usageErrorsAndPastedLines() throws {
        let s = Scratch()
        s.write("a.c", "int a(void) { return 1; }\n")
        for bad in [["explain"], ["explain", "--format"], ["explain", "--format", "xml", "gcc"], ["explain", "no-such-cc", "-c", "a.c"]] {
            let result = try incrcc(bad, in: s)
            #expect(result.status == 2 && result.stderr.split(separator: "\n").count == 1, "\(bad): \(result.stderr)")
        }
        try incrcc(["gcc", "-c", "a.c"], in: s)
        _ = try stats(s)
        let pasted = try incrcc(["explain", Tools.incrcc, "gcc", "-c", "a.c"], in: s)
        #expect(pasted.status == 0 && pasted.stdout.contains("would hit"), "\(pasted.stdout)\(pasted.stderr)")
    }

    @Test func verdictsMatchAcrossMoves() throws {
        let s = Scratch()
        let env = ["INCRCC_TEMP_DIRS": s.file("t/tmpXXXXXXXX")]
        let names = ["tmpa1b2c3d4", "tmpe5f6g7h8", "tmpi9j0k1l2"]
        for (unit, text, expected) in [
            ("n", "const char *n(void) { return __FILE__; }\n", ["compile", "compile", "hit"]),
            ("w", "#include <wchar.h>\nconst wchar_t *w = L\"\" __FILE__;\n", ["compile", "compile", "compile"]),
            ("p", "int p(int x) { return x + 1; }\n", ["compile", "hit", "hit"]),
        ] {
            for (index, name) in names.enumerated() {
                let dir = s.file("t/" + name)
                s.write("t/\(name)/\(unit).c", text)
                let (verdict, hit) = try explainThenCall(["gcc", "-O2", "-c", dir + "/\(unit).c", "-o", s.file(unit + ".o")],
                                                         in: s, cwd: dir, env: env)
                #expect(verdict == expected[index], "\(unit) in \(name): explain said \(verdict)")
                #expect(hit == (expected[index] == "hit"), "\(unit) in \(name)")
            }
        }
    }

    /// The strategies past the manifest, each named in explain's lines as it serves: the include scan
    /// (direct mode off), the key bound to a checkout under `base_dir`, and the shared tier for a second
    /// machine.
    @Test func verdictsMatchForTheScanAndTheCheckoutKey() throws {
        let s = Scratch()
        s.write("v.c", "#include \"h.h\"\nint v(void) { return H; }\n")
        s.write("h.h", "#define H 1\n")
        let scan = ["INCRCC_NODIRECT": "1"]
        let args = ["gcc", "-O2", "-c", "v.c", "-o", "v.o"]
        #expect(try explainThenCall(args, in: s, env: scan) == ("compile", false))
        #expect(try explainThenCall(args, in: s, env: scan) == ("hit", true))
        let lines = try incrcc(["explain"] + args, in: s, env: scan).stdout
        #expect(lines.contains("include scan: the directives scan of") && lines.contains("manifest: not tried: direct mode is off"),
                "\(lines)")
        s.write("h.h", "#define H 2\n")
        #expect(try explainThenCall(args, in: s, env: scan) == ("compile", false))

        // A unit naming its checkout in its object (`-g`): kept under the checkout's own key, found there.
        s.write("co/src/g.c", "int g(void) { return 7; }\n")
        let base = ["INCRCC_BASEDIR": s.file("co")]
        let debug = ["gcc", "-g", "-O0", "-c", s.file("co/src/g.c"), "-o", s.file("co/g.o")]
        #expect(try explainThenCall(debug, in: s, cwd: s.file("co"), env: base) == ("compile", false))
        let bound = try incrcc(["explain"] + debug, in: s, cwd: s.file("co"), env: base).stdout
        #expect(bound.contains("manifest: keyed by this checkout: entry 1 of 1") && bound.contains("would hit"), "\(bound)")
        #expect(try explainThenCall(debug, in: s, cwd: s.file("co"), env: base) == ("hit", true))
    }

    @Test(.enabled(if: Tools.required(SharedTools.hasRedis && SharedTools.hasHelpers)))
    func verdictsMatchForTheSharedTier() throws {
        let s = Scratch()
        let server = try RedisServer.start(s, name: "redis")
        defer { server.stop() }
        let remote = "redis://127.0.0.1:\(server.port)"
        let first = Machine("first", s, remote: remote)
        let second = Machine("second", s, remote: remote)
        defer { first.stopHelpers(); second.stopHelpers() }
        s.write("w.c", "int w(void) { return 3; }\n")
        let args = ["gcc", "-O2", "-c", "w.c", "-o", "w.o"]
        #expect(try explainThenCall(args, in: s, env: first.settings) == ("compile", false))
        _ = try stats(s, env: first.settings)
        let lines = try incrcc(["explain"] + args, in: s, env: second.settings).stdout
        #expect(lines.contains("shared tier: shared entry 1 of 1") && lines.contains("would hit"), "\(lines)")
        #expect(try explainThenCall(args, in: s, env: second.settings) == ("hit", true))
    }
}

import Foundation
import Testing

/// Store paths that move while their content stays: a store directory of the test's own (`NIX_STORE`), a
/// dependency whose headers sit under a new hash each time, and a `cc` wrapper that adds
/// `NIX_CFLAGS_COMPILE` to the real command line the way nixpkgs' cc-wrapper does.
@Suite(.enabled(if: Tools.required(Tools.hasIncrcc && Tools.hasGCC)), .timeLimit(Tools.suiteTimeLimit))
struct StorePathEndToEndTests {
    static let hashes = [
        "0123456789abcdfghijklmnpqrsvwxyz", "zyxwvsrqpnmlkjihgfdcba9876543210", "aaaaaaaaaabbbbbbbbbbccccccccccdd",
        "9999999999888888888877777777776x",
    ]
    static let compilers = ["gcc", "clang"].filter { Tools.which($0) != nil }

    /// A project whose dependency exists at every hash above, identical each time.
    func project(compiler: String) -> Scratch {
        let s = Scratch()
        for hash in Self.hashes {
            s.write("store/\(hash)-libdemo-1.0/include/twice.h", "static inline int twice(int x) { return 2 * x; }\n")
            s.write("store/\(hash)-libdemo-1.0/include/demo.h",
                    "struct demo { int v; };\nstatic inline const char *demo_header(void) { return __FILE__; }\nstatic inline int demo_twice(int x) { return 2 * x; }\n")
        }
        s.write("src/app.c", """
            #include <stdio.h>
            #include <demo.h>
            int app(int y) { struct demo d = {demo_twice(y)}; printf("%s %s\\n", demo_header(), __FILE__); return d.v; }
            """)
        s.writeExecutable("cc", "#!/bin/sh\nexec \(compiler) $NIX_CFLAGS_COMPILE \"$@\"\n")
        return s
    }

    /// The environment of a shell where the dependency sits at `hash` and the package's own output at
    /// `outHash`, with the seed nixpkgs derives from it when `seeded`.
    func shellEnvironment(_ s: Scratch, hash: String, outHash: String, seeded: Bool, extra: [String: String] = [:]) -> [String: String] {
        var flags = "-isystem \(s.file("store/\(hash)-libdemo-1.0/include"))"
        if seeded { flags += " -frandom-seed=\(outHash.prefix(10))" }
        var env = ["NIX_STORE": s.file("store"), "NIX_CFLAGS_COMPILE": flags, "out": s.file("store/\(outHash)-app-1.0"),
                   "INCRCC_TRUST_AFTER": "1"]
        for (key, value) in extra { env[key] = value }
        return env
    }

    /// Compiles through incrcc and plainly in the same environment; true when the objects are identical.
    func compileBoth(_ s: Scratch, flags: [String], env: [String: String], source: String = "src/app.c") throws -> Bool {
        let args = ["./cc"] + flags + ["-c", source]
        let cached = try incrcc(args + ["-o", "app.o"], in: s, env: env)
        #expect(cached.status == 0, "\(cached.stderr)")
        let plain = try run(args + ["-o", "plain.o"], in: s, env: env)
        #expect(plain.status == 0, "\(plain.stderr)")
        return s.read("app.o") != nil && s.read("app.o") == s.read("plain.o")
    }

    @Test(arguments: compilers, [["-O2"], ["-O2", "-g"]])
    func movedDependencyEarnsTrustThenHitsPatched(compiler: String, flags: [String]) throws {
        let s = project(compiler: compiler)
        // gcc writes its switches, the seed among them, into the debug info: that case has a test of its own.
        let seeded = !(compiler == "gcc" && flags.contains("-g"))
        for (index, hash) in Self.hashes.enumerated() {
            let env = shellEnvironment(s, hash: hash, outHash: Self.hashes[(index + 1) % Self.hashes.count], seeded: seeded)
            #expect(try compileBoth(s, flags: flags, env: env), "object after move \(index)")
        }
        let values = try stats(s)
        #expect(values["cache_miss"] == 2, "the first compile, then the one that verified the patch")
        #expect(values["patch_verification_agreed"] == 1)
        #expect(values["patched_hit"] == 2)
        #expect(values["direct_cache_hit"] == 2)
        #expect(values["distrusted_classes"] == 0)
    }

    /// A dependency whose path reaches only text outputs (here the `.d` file): same-length patching of text
    /// is exact, so the first move already hits, with nothing to verify. (`demo.h` would not do: an inline
    /// function there returns `__FILE__`, which the compile reads whether or not the function is emitted.)
    @Test(arguments: compilers)
    func pathsInTextOutputsOnlyHitAtOnce(compiler: String) throws {
        let s = project(compiler: compiler)
        s.write("src/plain.c", "#include <twice.h>\nint plain(int y) { return twice(y); }\n")
        for (index, hash) in Self.hashes.enumerated() {
            let env = shellEnvironment(s, hash: hash, outHash: Self.hashes[0], seeded: false)
            let args = ["./cc", "-O2", "-MD", "-c", "src/plain.c"]
            #expect(try incrcc(args + ["-o", "plain.o"], in: s, env: env).status == 0)
            let cachedDeps = s.text("plain.d")
            #expect(cachedDeps.contains(hash), "the .d file names the dependency where it is now")
            #expect(try run(args + ["-o", "plain.o", "-MF", "fresh.d"], in: s, env: env).status == 0)
            #expect(cachedDeps == s.text("fresh.d"), "move \(index)")
        }
        let values = try stats(s)
        #expect(values["cache_miss"] == 1)
        #expect(values["direct_cache_hit"] == 3)
        #expect(values["patched_hit"] == 3)
        #expect(values["patch_verification_agreed"] == 0, "nothing binary was patched, nothing to verify")
    }

    /// gcc writes its switches into the debug info and orders its strings by hash: a moved seed is kept raw
    /// in the key, so every move misses, and nothing is verified or distrusted.
    @Test func gccDebugInfoWithMovedSeedMissesAndStaysCorrect() throws {
        let s = project(compiler: "gcc")
        for (index, hash) in Self.hashes.enumerated() {
            let env = shellEnvironment(s, hash: hash, outHash: Self.hashes[(index + 2) % Self.hashes.count], seeded: true)
            #expect(try compileBoth(s, flags: ["-O2", "-g"], env: env), "object after move \(index)")
        }
        var values = try stats(s)
        #expect(values["cache_miss"] == 4)
        #expect(values["patch_verification_agreed"] == 0)
        #expect(values["patch_verification_disagreed"] == 0)
        let env = shellEnvironment(s, hash: Self.hashes[3], outHash: Self.hashes[1], seeded: true)
        #expect(try compileBoth(s, flags: ["-O2", "-g"], env: env))
        values = try stats(s)
        #expect(values["direct_cache_hit"] == 1)
        #expect(values["patched_hit"] == 0)
    }

    /// Compressed debug sections hold the paths compressed, where no placeholder can be patched: the first
    /// verification disagrees, and since only the compiler's own records read the moved path (the unit's
    /// text reads none), the class is distrusted for good and keyed by real paths.
    @Test func compressedDebugInfoIsDistrustedAndStaysCorrect() throws {
        let s = project(compiler: "gcc")
        s.write("src/plain.c", "#include <twice.h>\nint plain(int y) { return twice(y); }\n")
        for (index, hash) in Self.hashes.enumerated() {
            let env = shellEnvironment(s, hash: hash, outHash: Self.hashes[0], seeded: false)
            #expect(try compileBoth(s, flags: ["-g", "-gz"], env: env, source: "src/plain.c"), "object after move \(index)")
        }
        let values = try stats(s)
        #expect(values["patch_verification_disagreed"] == 1)
        #expect(values["distrusted_classes"] == 1)
        #expect(values["patched_hit"] == 0)
        #expect(values["cache_miss"] == 4)
        let env = shellEnvironment(s, hash: Self.hashes[3], outHash: Self.hashes[0], seeded: false)
        #expect(try compileBoth(s, flags: ["-g", "-gz"], env: env, source: "src/plain.c"))
        #expect(try stats(s)["direct_cache_hit"] == 1, "keyed by real paths: the same shell again hits")
    }

    @Test func changedCompileFlagsInTheEnvironmentMiss() throws {
        let s = project(compiler: "gcc")
        var env = shellEnvironment(s, hash: Self.hashes[0], outHash: Self.hashes[1], seeded: true)
        s.write("src/flag.c", "int value(void) { return FLAG_VALUE; }\n")
        for value in ["1", "2"] {
            env["NIX_CFLAGS_COMPILE"] = "-DFLAG_VALUE=\(value)"
            try incrcc(["./cc", "-c", "src/flag.c", "-o", "flag.o"], in: s, env: env)
            try run(["./cc", "-c", "src/flag.c", "-o", "plain.o"], in: s, env: env)
            #expect(s.read("flag.o") == s.read("plain.o"), "FLAG_VALUE=\(value)")
        }
        #expect(try stats(s)["cache_miss"] == 2)
    }

    @Test func compilersAtMovedStorePathsAreKeyedByContent() throws {
        let s = project(compiler: "gcc")
        s.write("src/flag.c", "int value(void) { return FLAG_VALUE; }\n")
        for (hash, value) in [(Self.hashes[0], "1"), (Self.hashes[1], "2")] {
            let path = "store/\(hash)-gcc-wrapper-12/bin/cc"
            s.writeExecutable(path, "#!/bin/sh\nexec gcc -DFLAG_VALUE=\(value) \"$@\"\n")
            let env = ["NIX_STORE": s.file("store")]
            #expect(try incrcc([s.file(path), "-c", "src/flag.c", "-o", "flag.o"], in: s, env: env).status == 0)
            #expect(try run([s.file(path), "-c", "src/flag.c", "-o", "plain.o"], in: s, env: env).status == 0)
            #expect(s.read("flag.o") == s.read("plain.o"), "compiler \(value)")
        }
        let values = try stats(s)
        #expect(values["cache_miss"] == 2, "\(values)")
    }

    @Test func sampledVerificationAgreesOnADeterministicCompiler() throws {
        let s = project(compiler: "gcc")
        let env = ["INCRCC_VERIFY_RATE": "1"]
        try incrcc(["gcc", "-c", "src/app.c", "-Istore/\(Self.hashes[0])-libdemo-1.0/include", "-o", "a.o"], in: s)
        let again = try incrcc(["gcc", "-c", "src/app.c", "-Istore/\(Self.hashes[0])-libdemo-1.0/include", "-o", "a.o"],
                               in: s, env: env)
        #expect(again.stderr.isEmpty)
        let values = try stats(s)
        #expect(values["verify_sampled"] == 1)
        #expect(values["verify_mismatch"] == 0)
    }

    @Test func sampledVerificationAfterReturningReportsAMismatch() throws {
        let s = Scratch()
        s.write("x.c", "int x;\n")
        // A compiler whose object differs on every run (what a cache bug would look like from outside).
        s.writeExecutable("noisy-cc", """
            #!/bin/sh
            out=; dep=; prev=
            for a in "$@"; do
              case "$prev" in -o) out=$a ;; -MF) dep=$a ;; esac
              prev=$a
            done
            head -c 64 /dev/urandom > "$out"
            [ -n "$dep" ] && printf '%s: x.c\\n' "$out" > "$dep"
            exit 0
            """)
        try incrcc(["./noisy-cc", "-c", "x.c", "-o", "x.o"], in: s)
        // Inputs older than the hit by more than a clock tick: a verdict on them is the verifier's to give.
        usleep(100_000)
        // The sampled hit is served at once; a verifier compiles it again after the call has returned.
        let sampled = try incrcc(["./noisy-cc", "-c", "x.c", "-o", "x.o"], in: s, env: ["INCRCC_VERIFY_RATE": "1"])
        #expect(sampled.status == 0)
        var values = try stats(s)
        for _ in 0..<100 where values["verify_mismatch"] != 1 {
            usleep(100_000)
            values = try stats(s)
        }
        #expect(values["verify_mismatch"] == 1)
        #expect(values["direct_cache_hit"] == 1)
        // The next call says so, and the result is gone: it compiles.
        let next = try incrcc(["./noisy-cc", "-c", "x.c", "-o", "y.o"], in: s)
        #expect(next.stderr.contains("differed from a fresh compile"))
        #expect(try stats(s)["direct_cache_hit"] == 1)
        #expect(try incrcc(["./noisy-cc", "-c", "x.c", "-o", "y.o"], in: s).stderr.isEmpty)
    }

    /// configure rewrites `conftest.c` for every test, and a build may edit a header, right after a sampled
    /// hit: the verifier then compiles other inputs than the hit was served for, so its verdict is voided
    /// (counted), never reported as a mismatch, and the result and its class stay.
    @Test func inputsEditedRightAfterASampledHitVoidTheVerdict() throws {
        let s = Scratch()
        let texts = ["#include \"conf.h\"\nint v = 1;\n", "#include \"conf.h\"\nint v = 2;\n"]
        s.write("conf.h", "#define A 1\n")
        for text in texts {
            s.write("conftest.c", text)
            try incrcc(["gcc", "-c", "conftest.c", "-o", "conftest.o"], in: s)
        }
        usleep(100_000)
        let env = ["INCRCC_VERIFY_RATE": "1"]
        var sampled = 0
        for round in 0..<6 {
            s.write("conftest.c", texts[round % 2])
            let hit = try incrcc(["gcc", "-c", "conftest.c", "-o", "conftest.o"], in: s, env: env)
            #expect(hit.status == 0 && hit.stderr.isEmpty, "\(hit.stderr)")
            // At once, as configure writes its next test; every third round a header instead.
            if round % 3 == 2 {
                s.write("conf.h", "#define A \(round)\n")
                s.write("conf.h", "#define A 1\n")
            } else {
                s.write("conftest.c", "int other_test_\(round);\n")
            }
            // One verifier at a time, holding the lock it took before the call returned: wait for it.
            let lock = open(s.file("cache/tmp/verify.lock"), O_RDWR)
            for _ in 0..<200 where lock >= 0 && flock(lock, LOCK_EX | LOCK_NB) != 0 { usleep(50_000) }
            if lock >= 0 { close(lock) }
            sampled = try stats(s)["verify_sampled"] ?? 0
        }
        let values = try stats(s)
        #expect(sampled >= 1)
        #expect(values["verify_mismatch"] == 0, "\(values)")
        // The verifier runs at idle priority, after the edit as a rule; one that finished first agreed.
        #expect((values["verify_inconclusive"] ?? 0) >= 1, "\(values)")
        #expect(values["distrusted_classes"] == 0)
        s.write("conftest.c", texts[0])
        let again = try incrcc(["gcc", "-c", "conftest.c", "-o", "conftest.o"], in: s)
        #expect(again.stderr.isEmpty, "no warning on the next call: \(again.stderr)")
        #expect(try stats(s)["direct_cache_hit"] == 7, "the results stay")
    }
}

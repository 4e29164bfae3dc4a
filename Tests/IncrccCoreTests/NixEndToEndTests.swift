import Foundation
import Testing

/// Offline Nix (Debian's nix-bin, no nixpkgs): a dependency derivation whose store path moves with a salt
/// while its headers stay the same, a `cc` wrapper derivation that adds `NIX_CFLAGS_COMPILE` the way
/// nixpkgs' cc-wrapper does, and the setup hook's `-frandom-seed` from `$out`. Each build compiles every
/// variant through incrcc and plainly in the same environment, so each cached object is compared with a
/// fresh compile where it was served.
@Suite(.enabled(if: Tools.required(Tools.hasIncrcc && Tools.hasGCC && Tools.which("nix-shell") != nil && Tools.which("nix-build") != nil)),
       .timeLimit(Tools.suiteTimeLimit))
struct NixEndToEndTests {
    static let dependency = """
        { salt ? "1" }:
        derivation {
          name = "libdemo-1.0";
          system = builtins.currentSystem;
          builder = "/bin/sh";
          PATH = "/usr/bin:/bin";
          inherit salt;
          # Nix 2.8 may kill a builder right after its log closes; the background sleep avoids it.
          args = [ "-c" "mkdir -p $out/include && printf 'struct demo { int v; };\\\\nstatic inline const char *demo_header(void) { return __FILE__; }\\\\nstatic inline int demo_twice(int x) { return 2 * x; }\\\\n' > $out/include/demo.h; sleep 0.3 &" ];
        }
        """
    static let wrapper = """
        { clang ? "" }:
        derivation {
          name = "cc-wrapper-1.0";
          system = builtins.currentSystem;
          builder = "/bin/sh";
          PATH = "/usr/bin:/bin";
          inherit clang;
          args = [ "-c" ''
            mkdir -p $out/bin
            for c in /usr/bin/gcc $clang; do
              printf '#!/bin/sh\\nexec %s $NIX_CFLAGS_COMPILE "$@"\\n' "$c" > $out/bin/''${c##*/}
              chmod +x $out/bin/''${c##*/}
            done
            ln -s gcc $out/bin/cc
            sleep 0.3 &
          '' ];
        }
        """
    /// Shared by the shell and the sandboxed build: the dependency's include dir in NIX_CFLAGS_COMPILE.
    static let package = """
        { salt ? "1", clang ? "", incrcc ? "", cacheDir ? "" }:
        let dep = import ./dep.nix { inherit salt; };
            cc = import ./cc.nix { inherit clang; };
        in derivation {
          name = "app-1.0";
          system = builtins.currentSystem;
          builder = "/bin/bash";
          PATH = "${cc}/bin:/usr/bin:/bin";
          CCBIN = "${cc}/bin";
          NIX_CFLAGS_COMPILE = "-isystem ${dep}/include";
          INCRCC = incrcc;
          INCRCC_DIR = cacheDir;
          INCRCC_UMASK = "002";
          INCRCC_VERIFY_RATE = "0";
          src = ./src;
          makefile = ./Makefile;
          buildScript = ./build.sh;
          variants = ./variants;
          args = [ "-c" "cp -r $src src && cp $makefile Makefile && cp $variants variants && bash $buildScript && mkdir -p $out && cp -r out plain $out/; sleep 0.3 &" ];
        }
        """
    /// The setup hook's part, then every variant through incrcc and plainly.
    static let buildScript = """
        # The locale and terminal reach the key (diagnostics depend on them): shell and sandbox alike have none.
        unset LANG LANGUAGE LC_ALL LC_MESSAGES LC_CTYPE TERM COLUMNS GCC_COLORS
        export PATH="$CCBIN:/usr/bin:/bin"
        export NIX_CFLAGS_COMPILE="$NIX_CFLAGS_COMPILE -frandom-seed=${out:11:10}"
        rm -rf out plain
        status=0
        while read -r name compiler flags; do
          make -s -j2 O="out/$name" CC="$INCRCC $compiler" CFLAGS="$flags" || status=1
          make -s -j2 O="plain/$name" CC="$compiler" CFLAGS="$flags" || status=1
        done < variants
        if [ -n "$LAUNCHERS" ]; then
          PATH="$LAUNCHERS:$PATH" make -s -j2 O=out/as-cc CC=incrcc CFLAGS=-O2 || status=1
          make -s -j2 O=plain/as-cc CC=cc CFLAGS=-O2 || status=1
        fi
        exit $status
        """
    static let makefile = """
        O ?= out
        OBJS = $(O)/unit0.o $(O)/unit1.o $(O)/unit2.o
        all: $(OBJS)
        $(O)/%.o: src/%.c
        \t@mkdir -p $(O)
        \t$(CC) $(CFLAGS) -c $< -o $@

        """
    static let clang = Tools.which("clang")
    /// Variants whose patching is byte-exact, and those where it is not (gcc records its switches, the
    /// moved seed among them, in the debug info; -g3 and -gz the same and more).
    static let exactVariants = ["gcc-O2 cc -O2"] + (clang != nil ? ["clang-O2 clang -O2", "clang-g clang -g", "clang-dwarf4 clang -g -gdwarf-4"] : [])
    static let inexactVariants = ["gcc-g cc -O2 -g", "gcc-g3 cc -g3", "gcc-gz cc -g -gz"]

    func project(variants: [String]) -> Scratch {
        let s = Scratch()
        s.write("dep.nix", Self.dependency)
        s.write("cc.nix", Self.wrapper)
        s.write("app.nix", Self.package)
        s.write("build.sh", Self.buildScript)
        s.write("Makefile", Self.makefile)
        s.write("variants", variants.joined(separator: "\n") + "\n")
        for i in 0..<3 {
            s.write("src/unit\(i).c", """
                #include <stdio.h>
                #include <demo.h>
                int unit\(i)(int y) { struct demo d = {demo_twice(y + \(i))}; printf("%s %s\\n", demo_header(), __FILE__); return d.v; }
                """)
        }
        return s
    }

    func nixConfiguration(sandboxPaths: [String]? = nil) -> String {
        var lines = ["substituters =", "experimental-features = nix-command"]
        if let sandboxPaths {
            lines += ["build-users-group = nixbld", "sandbox = true", "sandbox-paths = /bin /usr /lib /lib64 /etc /opt",
                      "extra-sandbox-paths = " + sandboxPaths.joined(separator: " ")]
        } else {
            lines += ["build-users-group =", "sandbox = false"]
        }
        return lines.joined(separator: "\n")
    }

    /// Object files under `dir`, by path relative to it.
    func objects(_ dir: String) -> [String: Data] {
        var found: [String: Data] = [:]
        for case let name as String in FileManager.default.enumerator(atPath: dir) ?? FileManager.default.enumerator(atPath: "/")!
        where name.hasSuffix(".o") {
            found[name] = FileManager.default.contents(atPath: dir + "/" + name)
        }
        return found
    }

    func expectCachedMatchPlain(_ root: String, count: Int, _ comment: String) {
        let cached = objects(root + "/out")
        let plain = objects(root + "/plain")
        #expect(cached.count == count, "\(comment): objects built")
        let differing = cached.keys.filter { cached[$0] != plain[$0] }.sorted()
        #expect(differing.isEmpty, "\(comment): every cached object is byte-identical to a fresh compile")
    }

    /// One build of every variant in the `nix-shell` of `salt`, each object compared with a fresh compile.
    /// Derivation attributes become the shell's variables: incrcc and its cache dir go in as arguments.
    func buildInShell(_ s: Scratch, salt: String, env: [String: String], count: Int, _ comment: String,
                      cache: String = "cache") throws {
        var arguments = ["nix-shell", "app.nix", "--argstr", "salt", salt, "--run", "bash build.sh",
                         "--argstr", "incrcc", Tools.incrcc, "--argstr", "cacheDir", s.file(cache)]
        if let clang = Self.clang { arguments += ["--argstr", "clang", clang] }
        let result = try NixEndToEndTests.runChecked(arguments, in: s, env: env)
        #expect(result.status == 0, "\(comment): \(result.stderr.suffix(600))")
        expectCachedMatchPlain(s.path, count: count, comment)
    }

    func delta(_ after: [String: Int], _ before: [String: Int], _ key: String) -> Int {
        (after[key] ?? 0) - (before[key] ?? 0)
    }

    @Test func dependencyMovesInNixShellHitPatchedAndStayByteIdentical() throws {
        let s = project(variants: Self.exactVariants + Self.inexactVariants)
        s.write("launchers/.keep", "")
        try FileManager.default.createSymbolicLink(atPath: s.file("launchers/incrcc"), withDestinationPath: Tools.incrcc)
        let run = UUID().uuidString.prefix(8)
        let env = ["NIX_CONFIG": nixConfiguration(), "NIX_BUILD_SHELL": "/bin/bash", "LAUNCHERS": s.file("launchers")]
        let exact = (Self.exactVariants.count + 1) * 3
        let total = exact + Self.inexactVariants.count * 3
        var before = try stats(s)
        // The first build stores, the next ones verify (trust_after = 3; parallel verifiers may lose a count),
        // the last one hits.
        for round in 0..<4 {
            try buildInShell(s, salt: "\(run)-\(round)", env: env, count: total, "round \(round)")
            let after = try stats(s)
            if round == 3 {
                #expect(delta(after, before, "direct_cache_hit") == exact, "round \(round): every exact-class compile hits")
                #expect(delta(after, before, "patched_hit") == exact, "round \(round): served patched")
                #expect(delta(after, before, "cache_miss") == total - exact, "round \(round): distrusted classes compile")
            }
            before = after
        }
    }

    @Test(.enabled(if: getuid() == 0 && getgrnam("nixbld") != nil))
    func sandboxedNixBuildSharesAGroupWritableCache() throws {
        let s = project(variants: ["gcc-O2 cc -O2"])
        let cache = s.file("shared-cache")
        let group = try #require(getgrnam("nixbld")).pointee.gr_gid
        try FileManager.default.createDirectory(atPath: cache, withIntermediateDirectories: true)
        chown(cache, 0, group)
        chmod(cache, 0o2775)
        let binary = URL(fileURLWithPath: Tools.incrcc).resolvingSymlinksInPath()
        let run = UUID().uuidString.prefix(8)
        var args = ["--argstr", "incrcc", binary.path, "--argstr", "cacheDir", cache]
        if let clang = Self.clang { args += ["--argstr", "clang", clang] }

        // The user's own shell fills the cache first, as root, with the shared umask.
        let shell = try NixEndToEndTests.runChecked(
            ["nix-shell", "app.nix", "--argstr", "salt", "\(run)-0", "--run", "bash build.sh"] + args, in: s,
            env: ["NIX_CONFIG": nixConfiguration(), "NIX_BUILD_SHELL": "/bin/bash"])
        #expect(shell.status == 0, "\(shell.stderr.suffix(600))")
        let sandboxed = ["NIX_CONFIG": nixConfiguration(sandboxPaths: [cache, binary.deletingLastPathComponent().path]),
                         "INCRCC_DIR": cache]
        var before = try stats(s, env: ["INCRCC_DIR": cache])
        for round in 1...2 {
            let result = try NixEndToEndTests.runChecked(
                ["nix-build", "app.nix", "--no-out-link", "--argstr", "salt", "\(run)-\(round)"] + args, in: s,
                env: sandboxed)
            #expect(result.status == 0, "round \(round): \(result.stderr.suffix(600))")
            let out = result.stdout.trimmingCharacters(in: .whitespacesAndNewlines)
            expectCachedMatchPlain(out, count: 3, "nix-build round \(round)")
            let after = try stats(s, env: ["INCRCC_DIR": cache])
            if round == 1 {
                #expect(delta(after, before, "patch_verification_agreed") == 3, "verified as a build user, stored trust")
            } else {
                #expect(delta(after, before, "patched_hit") == 3, "the sandboxed build hits what the shell stored")
            }
            before = after
        }
        // Written by a build user into directories root created: group-writable all the way.
        let owners = Set(try FileManager.default.subpathsOfDirectory(atPath: cache).compactMap {
            (try? FileManager.default.attributesOfItem(atPath: cache + "/" + $0))?[.ownerAccountID] as? Int
        })
        #expect(owners.contains { $0 != 0 }, "some entries were written by a nixbld user")
    }

    /// A dependency whose generated header holds its own `$out` (as a `config.h` with `DATADIR` does), and
    /// eight units that print it: after the first move each unit compiles at most once (verifying the
    /// patch), after the second every compile hits; every object equals a fresh compile in the new shell.
    @Test func headersHoldingTheirStorePathHitAfterMoves() throws {
        let clangVariants = ["clang-O2 clang -O2", "clang-dwarf4 clang -g -gdwarf-4"]
        let s = project(variants: ["gcc-O2 cc -O2"] + (Self.clang != nil ? clangVariants : []))
        // A second dependency whose header includes the first's by absolute store path.
        s.write("dep2.nix", """
            { salt ? "1" }:
            let dep = import ./dep.nix { inherit salt; };
            in derivation {
              name = "libextra-2.0";
              system = builtins.currentSystem;
              builder = "/bin/sh";
              PATH = "/usr/bin:/bin";
              args = [ "-c" "mkdir -p $out/include && printf '#include \\"${dep}/include/demo-config.h\\"\\n#define EXTRA_DIR DEMO_DATADIR \\"/extra\\"\\n' > $out/include/extra.h; sleep 0.3 &" ];
            }
            """)
        s.write("app.nix", Self.package
            .replacingOccurrences(of: "let dep = import ./dep.nix { inherit salt; };",
                                  with: "let dep = import ./dep.nix { inherit salt; };\n    dep2 = import ./dep2.nix { inherit salt; };")
            .replacingOccurrences(of: "NIX_CFLAGS_COMPILE = \"-isystem ${dep}/include\";",
                                  with: "NIX_CFLAGS_COMPILE = \"-isystem ${dep}/include -isystem ${dep2}/include\";"))
        s.write("dep.nix", Self.dependency.replacingOccurrences(
            of: "> $out/include/demo.h;",
            with: "> $out/include/demo.h && printf '#define DEMO_DATADIR \\\"%s/share\\\"\\\\n' $out > $out/include/demo-config.h;"))
        let units = 8
        s.write("Makefile", Self.makefile.replacingOccurrences(
            of: "OBJS = $(O)/unit0.o $(O)/unit1.o $(O)/unit2.o",
            with: "OBJS = " + (0..<units).map { "$(O)/unit\($0).o" }.joined(separator: " ")))
        for i in 0..<units {
            let header = i % 2 == 0 ? "demo-config.h" : "extra.h"
            let value = i % 2 == 0 ? "DEMO_DATADIR" : "EXTRA_DIR"
            s.write("src/unit\(i).c", """
                #include <stdio.h>
                #include <\(header)>
                const char *unit\(i)(void) { return \(value) "/unit\(i)"; }

                """)
        }
        let run = UUID().uuidString.prefix(8)
        let env = ["NIX_CONFIG": nixConfiguration(), "NIX_BUILD_SHELL": "/bin/bash"]
        let compiles = units * (Self.clang != nil ? 3 : 1)
        var before = try stats(s)
        for round in 0..<3 {
            try buildInShell(s, salt: "\(run)-\(round)", env: env, count: compiles, "round \(round)")
            let after = try stats(s)
            switch round {
            case 1:
                #expect(delta(after, before, "patch_verification_disagreed") == 0, "the moved headers patch exactly")
                #expect(delta(after, before, "cache_miss") + delta(after, before, "direct_cache_hit") == compiles)
            case 2:
                #expect(delta(after, before, "direct_cache_hit") == compiles, "every compile hits after the second move")
                #expect(delta(after, before, "patched_hit") == compiles)
            default:
                break
            }
            before = after
        }
    }

    /// Runs a Nix command; `--run` output goes to the scratch dir's files like any child's.
    static func runChecked(_ arguments: [String], in s: Scratch, env: [String: String]) throws -> RunResult {
        try IncrccCoreTests.run(arguments, in: s, env: env)
    }
}

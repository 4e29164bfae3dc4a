import Foundation
import Testing

/// Nix builders sharing one server: a dependency at another store path on each machine still hits, patched,
/// and byte for byte what the compiler writes there.
@Suite(.enabled(if: Tools.required(Tools.hasIncrcc && Tools.hasGCC && Tools.which("nix-shell") != nil && SharedTools.hasHelpers
                && SharedTools.hasRedis)),
       .timeLimit(Tools.suiteTimeLimit))
struct SharedNixTests {
    @Test func secondBuilderHitsAfterTheDependencyMoved() throws {
        let nix = NixEndToEndTests()
        let s = nix.project(variants: NixEndToEndTests.exactVariants)
        let server = try RedisServer.start(s, name: "redis")
        defer { server.stop() }
        let url = "redis://127.0.0.1:\(server.port)"
        let a = Machine("a", s, remote: url)
        let b = Machine("b", s, remote: url)
        defer { a.stopHelpers(); b.stopHelpers() }
        let count = NixEndToEndTests.exactVariants.count * 3
        let run = UUID().uuidString.prefix(8)
        func env(_ machine: Machine) -> [String: String] {
            var env = machine.settings
            env["INCRCC_DIR"] = nil
            env["NIX_CONFIG"] = nix.nixConfiguration()
            env["NIX_BUILD_SHELL"] = "/bin/bash"
            return env
        }
        // Builder A stores, then its dependency moves and A verifies each patched unit once: the agreements
        // are shared with the results.
        try nix.buildInShell(s, salt: "\(run)-0", env: env(a), count: count, "builder A", cache: "a-cache")
        try nix.buildInShell(s, salt: "\(run)-1", env: env(a), count: count, "builder A, moved", cache: "a-cache")
        let statsA = try a.stats()
        #expect(statsA["patch_verification_agreed"] == count, "\(statsA)")
        // Builder B, with an empty cache, at a third store path: every unit from the shared tier, patched.
        try nix.buildInShell(s, salt: "\(run)-2", env: env(b), count: count, "builder B", cache: "b-cache")
        let statsB = try b.stats()
        #expect(statsB["remote_storage_read_hit"] == count && statsB["cache_miss"] == 0, "\(statsB)")
        #expect(statsB["patched_hit"] == count)
    }
}

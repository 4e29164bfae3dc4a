import Foundation
import Testing
@testable import IncrccCore

@Suite struct NormalizationTests {
    static let hashA = "0123456789abcdfghijklmnpqrsvwxyz"
    static let hashB = "zyxwvsrqpnmlkjihgfdcba9876543210"
    static let hashC = "aaaaaaaaaabbbbbbbbbbccccccccccdd"
    let builder = PathMappingBuilder(rules: [.storeHash(directory: "/nix/store")])

    func arguments(dep: String, other: String, seed: String) -> [String] {
        ["-O2", "-isystem", "/nix/store/\(dep)-libdemo-1.0/include", "-I/nix/store/\(other)-zlib-dev/include",
         "-frandom-seed=\(String(seed.prefix(10)))", "-DLIB=\"/nix/store/\(dep)-libdemo-1.0/lib\""]
    }

    @Test func placeholdersKeepLengthAndCanNeverBeAHash() {
        var seen = Set<[UInt8]>()
        var seenPrefixes = Set<[UInt8]>()
        for slot in [0, 1, 2, 5, 255, PathMapping.maximumSlots - 1] {
            let placeholder = PathMapping.placeholder(slot: slot, length: 32)
            #expect(placeholder.count == 32)
            #expect(placeholder.allSatisfy { "eotu".utf8.contains($0) })
            #expect(EphemeralPathRule.storeHash(directory: "/nix/store")
                .parts(in: Array("/nix/store/".utf8) + placeholder + Array("-x".utf8)).isEmpty)
            seen.insert(placeholder)
            seenPrefixes.insert(Array(placeholder.prefix(10)))
        }
        #expect(seen.count == 6)
        #expect(seenPrefixes.count == 6, "a seed's ten characters still name one slot")
    }

    @Test func storeHashRuleFindsOnlyRealHashes() {
        let rule = EphemeralPathRule.storeHash(directory: "/nix/store")
        let text = Array("-I/nix/store/\(Self.hashA)-dep/include:/nix/store/short-x:/nix/store/\(Self.hashB)".utf8)
        let parts = rule.parts(in: text)
        #expect(parts.count == 1, "a hash needs its -name; short or unterminated ones are not hashes")
        #expect(parts.first.map { String(decoding: text[$0], as: UTF8.self) } == Self.hashA)
        let withE = Array("/nix/store/e123456789abcdfghijklmnpqrsvwxyz-x".utf8)
        #expect(rule.parts(in: withE).isEmpty)
    }

    @Test func movedStorePathsNormalizeToTheSameKeyInputs() {
        let first = arguments(dep: Self.hashA, other: Self.hashB, seed: Self.hashA)
        let second = arguments(dep: Self.hashC, other: Self.hashA, seed: Self.hashC)
        let mappingA = builder.mapping(keyed: first)
        let mappingB = builder.mapping(keyed: second)
        #expect(mappingA.pairs.count == 3, "two hashes and the seed")
        #expect(first.map(mappingA.normalize) == second.map(mappingB.normalize))
        #expect(first.map(mappingA.normalize) != first, "normalizing changed something")
        #expect(mappingA.realPartsDigest != mappingB.realPartsDigest)
        for argument in first { #expect(mappingA.restore(mappingA.normalize(argument)) == argument) }
    }

    @Test func differentSharingOfHashesGivesDifferentKeyInputs() {
        let twoHashes = arguments(dep: Self.hashA, other: Self.hashB, seed: "xxxxxxxxxx")
        let oneHash = arguments(dep: Self.hashC, other: Self.hashC, seed: "xxxxxxxxxx")
        let a = twoHashes.map(builder.mapping(keyed: twoHashes).normalize)
        let b = oneHash.map(builder.mapping(keyed: oneHash).normalize)
        #expect(a != b)
    }

    @Test func seedThatIsNoHashPrefixStaysRaw() {
        let args = arguments(dep: Self.hashA, other: Self.hashB, seed: "qqqqqqqqqq")
        let mapping = builder.mapping(keyed: args)
        #expect(mapping.normalize("-frandom-seed=qqqqqqqqqq") == "-frandom-seed=qqqqqqqqqq")
        #expect(mapping.pairs.count == 2)
    }

    @Test func outOfAnotherVariableSuppliesTheSeedsHash() {
        let args = ["-c", "-frandom-seed=\(Self.hashC.prefix(10))"]
        #expect(builder.mapping(keyed: args).isEmpty)
        let mapping = builder.mapping(keyed: args, related: { ["/nix/store/\(Self.hashC)-app"] })
        #expect(mapping.normalize(args[1]) != args[1])
    }

    @Test func inputHoldingAPlaceholderIsNotNormalized() {
        let placeholder = String(decoding: PathMapping.placeholder(slot: 0, length: 32), as: UTF8.self)
        let args = ["-I/nix/store/\(Self.hashA)-dep/include", "-DTRAP=\"\(placeholder)\""]
        #expect(builder.mapping(keyed: args).isEmpty, "normalizing would merge this call with another one")
    }

    @Test func resultNormalizesReversiblyOrNotAtAll() throws {
        let args = arguments(dep: Self.hashA, other: Self.hashB, seed: Self.hashA)
        let mapping = builder.mapping(keyed: args)
        let object = Array("\u{7f}ELF..../nix/store/\(Self.hashA)-libdemo-1.0/include/demo.h\0seed=0123456789\0".utf8)
        let result = CachedResult(stdout: [], stderr: Array("/nix/store/\(Self.hashB)-zlib-dev: warning".utf8),
                                  files: [OutputFile(.object, object)])
        let stored = try #require(result.normalized(with: mapping))
        #expect(stored.file(.object) != object)
        #expect(ByteSearch.find(Array(Self.hashA.utf8), in: try #require(stored.file(.object))) == nil)
        #expect(stored.restored(with: mapping)?.sameOutputs(as: result) == true)
        let moved = builder.mapping(keyed: arguments(dep: Self.hashC, other: Self.hashB, seed: Self.hashC))
        let patched = try #require(stored.restored(with: moved)?.file(.object))
        #expect(String(decoding: patched, as: UTF8.self).contains("/nix/store/\(Self.hashC)-libdemo-1.0/include"))
        #expect(String(decoding: patched, as: UTF8.self).contains("seed=\(Self.hashC.prefix(10))"))

        let trap = PathMapping.placeholder(slot: 1, length: 32)
        let poisoned = CachedResult(stdout: [], stderr: [], files: [OutputFile(.object, object + trap)])
        #expect(poisoned.normalized(with: mapping) == nil)
    }

    @Test func seedsStayRawWhereGccRecordsThemInDebugInfo() throws {
        func request(_ flags: [String]) throws -> CompileRequest {
            guard case .cacheable(let request) = ArgumentClassifier().classify(flags + ["-c", "a.c"]) else {
                throw NormalizationFailure()
            }
            return request
        }
        #expect(try request(["-O2", "-frandom-seed=x"]).seedReachesDebugInfo(.gcc) == false)
        #expect(try request(["-g", "-O2"]).seedReachesDebugInfo(.gcc) == true)
        #expect(try request(["-g3"]).seedReachesDebugInfo(.unknown) == true)
        #expect(try request(["-g", "-g0"]).seedReachesDebugInfo(.gcc) == false)
        #expect(try request(["-g", "-gno-record-gcc-switches"]).seedReachesDebugInfo(.gcc) == false)
        #expect(try request(["-g"]).seedReachesDebugInfo(.clang) == false)
        #expect(try request(["-g", "-grecord-command-line"]).seedReachesDebugInfo(.clang) == true)

        let args = ["-g", "-I/nix/store/\(Self.hashA)-dep/include", "-frandom-seed=\(Self.hashA.prefix(10))"]
        let mapping = builder.mapping(keyed: args, normalizeSeeds: false)
        #expect(mapping.pairs.count == 1)
        #expect(mapping.normalize(args[2]) == args[2])
    }

    @Test func patchClassKeepsLayoutOptionsOnly() {
        let profile = PatchTrust.profileArguments([
            "-O2", "-g", "-I", "/nix/store/x/include", "-Isrc", "-DX=1", "-D", "Y", "-isystem", "/a", "-Wall",
            "-Wa,--compress-debug-sections", "-frandom-seed=abcdfghijk", "-std=c11",
        ])
        #expect(profile == ["-O2", "-g", "-Wa,--compress-debug-sections", "-frandom-seed=", "-std=c11"])
    }

    @Test func unitTrustIsEarnedAndDistrustIsFinal() throws {
        let dir = NSTemporaryDirectory() + "incrcc-trust-" + UUID().uuidString
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let trust = PatchTrust(cacheDirectory: dir, requiredAgreements: 2)
        let unit = Digest(high: 1, low: 2)
        let patchClass = Digest(high: 5, low: 6)
        #expect(!trust.unitAgreed(unit))
        trust.recordUnitAgreement(unit)
        #expect(!trust.unitAgreed(unit), "one agreement of two")
        // Agreements of other units never stand in for the unit's own.
        trust.recordUnitAgreement(Digest(high: 3, low: 4))
        #expect(!trust.unitAgreed(unit))
        trust.recordUnitAgreement(unit)
        #expect(trust.unitAgreed(unit))
        #expect(!trust.unitDisagreed(unit))
        trust.recordUnitDisagreement(unit, reason: "object differs")
        #expect(trust.unitDisagreed(unit))
        #expect(!trust.isDistrusted(patchClass), "a unit's disagreement is its own")
        trust.distrust(patchClass, reason: "object differs")
        #expect(trust.isDistrusted(patchClass))
        #expect(trust.distrustedCount() == 1)
    }

    /// What a compile read of its moving paths, from its preprocessed text: the line markers are left out, a
    /// spelled path or a path builtin is found with its file and line.
    @Test func preprocessedTextIsSearchedOutsideLineMarkers() throws {
        let mapping = builder.mapping(keyed: ["-I/nix/store/\(Self.hashA)-dep/include"])
        let store = "/nix/store/\(Self.hashA)-dep/include/d.h"
        let clean = "# 1 \"\(store)\" 1\nint d;\n# 7 \"u.c\"\nint u;\n"
        #expect(PathDependence.searchPreprocessed(Array(clean.utf8), mapping) == nil)
        // With debug information the file names of line markers are recorded too (`#line` of generated code).
        #expect(PathDependence.searchPreprocessed(Array(clean.utf8), mapping, recording: true)?.contains("line marker") == true)
        let spelled = clean + "const char *p = \"\(store)\";\n"
        let found = try #require(PathDependence.searchPreprocessed(Array(spelled.utf8), mapping))
        #expect(found.hasPrefix("u.c:8: "), "\(found)")
        let builtin = clean + "\nconst char *f(void) { return __builtin_FILE(); }\n"
        #expect(PathDependence.searchPreprocessed(Array(builtin.utf8), mapping)?.hasPrefix("u.c:9: ") == true)
        #expect(PathDependence.lineMarker(Array("#line 12 \"a\\\"b.c\"".utf8))?.file == "a\"b.c")
        #expect(PathDependence.lineMarker(Array("#pragma once".utf8)) == nil)
        #expect(!PathDependence.textsMayReadPath([Array("int x;".utf8)], mapping))
        #expect(PathDependence.textsMayReadPath([Array("#define F __FILE_NAME__".utf8)], mapping))
        #expect(PathDependence.textsMayReadPath([Array("#define D \"\(store)\"".utf8)], mapping))
    }

    /// The random parts of throw-away build dirs, as uv, pip and Python's tempfile make them.
    @Test func temporaryDirectoryRulesFindRandomNamesOnly() throws {
        let rules = EphemeralPathRule.rules(configuration: Configuration(cacheDirectory: "/c")) { $0 == "TMPDIR" ? "/scratch/" : nil }
        func parts(_ text: String) -> [String] {
            let bytes = Array(text.utf8)
            return rules.flatMap { $0.parts(in: bytes) }.sorted { $0.lowerBound < $1.lowerBound }
                .map { String(decoding: bytes[$0], as: UTF8.self) }
        }
        #expect(parts("-I/root/.cache/uv/builds-v0/.tmpNLkGp2/lib/python3.11/site-packages/nanobind/include") == ["NLkGp2"])
        #expect(parts("/tmp/tmpe425z7ge/build") == ["e425z7ge"])
        #expect(parts("/tmp/tmpe425z7ge") == ["e425z7ge"], "the directory itself")
        #expect(parts("/scratch/tmpa_b3cdef/x.c /tmp/pip-build-env-k2j3h4g5/overlay") == ["a_b3cdef", "k2j3h4g5"])
        #expect(parts("/tmp/tmpe425z7gee/build").isEmpty, "a longer name is another directory")
        #expect(parts("/tmp/tmpe425z7g/build").isEmpty, "a shorter one too")
        #expect(parts("/tmp/tmpe425z7ge.d/build").isEmpty)
        #expect(parts("/home/me/tmpe425z7ge/build").isEmpty, "tmpXXXXXXXX counts only in a temp directory")
        #expect(parts("/home/me/builds-v0/.tmpNLkGp2") == ["NLkGp2"], "uv's cache may be anywhere")
        #expect(parts("/tmp/tmpe425+7ge/x").isEmpty, "not a random-name character")
        #expect(parts("/b/CMakeFiles/CMakeScratch/TryCompile-ertSt5/src.cxx") == ["ertSt5"], "CMake's check compiles")
    }

    /// Two uv isolated builds of one package differ only in their random dirs: one key.
    @Test func isolatedBuildsNormalizeToTheSameKeyInputs() throws {
        let rules = EphemeralPathRule.rules(configuration: Configuration(cacheDirectory: "/c")) { _ in nil }
        func keyed(_ env: String, _ build: String) -> [String] {
            let inputs = ["-I/root/.cache/uv/builds-v0/.tmp\(env)/site-packages/nanobind/include", "-O3",
                          "/root/.cache/uv/builds-v0/.tmp\(env)/site-packages/nanobind/src/nb_func.cpp",
                          "/tmp/tmp\(build)/build"]
            let mapping = PathMappingBuilder(rules: rules).mapping(keyed: inputs)
            #expect(mapping.pairs.count == 2)
            return inputs.map(mapping.normalize)
        }
        let first = keyed("NLkGp2", "e425z7ge")
        #expect(first == keyed("gnTUbR", "q0_9abcd"))
        #expect(!first.joined().contains("NLkGp2"))
    }

    @Test func settingsForNormalizationAndVerification() throws {
        var config = Configuration(cacheDirectory: "/c")
        try config.set("verify_rate", "5%", origin: .defaultValue)
        #expect(config.verifyRate == 0.05)
        try config.set("verify_rate", "0", origin: .defaultValue)
        #expect(config.verifyRate == 0)
        try config.set("store_dirs", "/gnu/store:/opt/store/", origin: .defaultValue)
        #expect(config.storeDirectories == ["/gnu/store", "/opt/store"])
        try config.set("trust_after", "5", origin: .defaultValue)
        #expect(config.trustAfter == 5)
        for (name, value) in [("verify_rate", "2"), ("verify_rate", "often"), ("trust_after", "0"),
                              ("store_dirs", "relative/store"), ("normalize", "maybe")] {
            #expect(throws: ConfigurationError.self) { try config.set(name, value, origin: .file("/etc/incrcc.conf")) }
        }
        try config.set("temp_dirs", "/scratch/build-XXXXXXXX:work-XXXXXX", origin: .defaultValue)
        #expect(config.temporaryDirectoryTemplates == ["/scratch/build-XXXXXXXX", "work-XXXXXX"])
        for bad in ["/scratch/build-XXXXX", "XXXXXXXX", "/XXXXXXXX", "/a b/XXXXXXXX"] {
            #expect(throws: ConfigurationError.self, "\(bad)") { try config.set("temp_dirs", bad, origin: .defaultValue) }
        }
        let rules = EphemeralPathRule.rules(configuration: config) { $0 == "NIX_STORE" ? "/my/store" : nil }
        #expect(Array(rules.prefix(3)) == [.storeHash(directory: "/my/store"), .storeHash(directory: "/gnu/store"),
                                           .storeHash(directory: "/opt/store")])
        #expect(rules.contains(.randomName(needle: Array("/scratch/build-".utf8), length: 8)))
        #expect(rules.contains(.randomName(needle: Array("/work-".utf8), length: 6)))
        #expect(rules.contains(.randomName(needle: Array("/builds-v0/.tmp".utf8), length: 6)), "uv's build envs")
        #expect(rules.contains(.randomName(needle: Array("/tmp/tmp".utf8), length: 8)), "Python's tempfile")
        config.normalize = false
        #expect(EphemeralPathRule.rules(configuration: config) { _ in nil }.isEmpty)
    }
    /// A header holding a store path keys alike after the path moves, and differently for any other change
    /// (a version of the same length, another macro body); a hash the mapping does not know stays raw.
    @Test func headerDigestsIgnoreOnlyTheMappedParts() throws {
        let s = Scratch()
        func digest(_ text: String, hash: String, other: String = Self.hashC) throws -> Digest? {
            s.write("h.h", text.replacingOccurrences(of: "HASH", with: hash).replacingOccurrences(of: "OTHER", with: other))
            let mapping = builder.mapping(keyed: ["-I/nix/store/\(hash)-dep-1.0/include"])
            let bytes = Array(try #require(FileManager.default.contents(atPath: s.file("h.h"))))
            guard case .cacheable(let request) = ArgumentClassifier().classify(["-c", "a.c"]) else { return nil }
            let recorder = DependencyRecorder(
                request: request,
                compilerPath: "/usr/bin/gcc", compiler: CompilerIdentity(path: "/usr/bin/gcc", digest: Digest(high: 1, low: 1), family: .gcc),
                store: CacheStore(directory: s.file("cache"), compressionLevel: 1),
                facts: FileFactsStore(store: CacheStore(directory: s.file("cache"), compressionLevel: 1), now: 0),
                temporaryDirectory: s.file("tmp"), lookup: { _ in nil }, mapping: mapping)
            return recorder.keyedDigest(of: s.file("h.h"), raw: Digest.of(bytes))
        }
        let text = "#define DATADIR \"/nix/store/HASH-dep-1.0/share\"\n#define VERSION \"1.0\"\n"
        let first = try digest(text, hash: Self.hashA)
        #expect(first != nil)
        #expect(try digest(text, hash: Self.hashB) == first)
        #expect(try digest(text.replacingOccurrences(of: "1.0\"\n", with: "1.1\"\n"), hash: Self.hashB) != first)
        #expect(try digest(text + "#define MORE 1\n", hash: Self.hashB) != first)
        let unknown = "#define OTHERDIR \"/nix/store/OTHER-zlib/share\"\n"
        #expect(try digest(unknown, hash: Self.hashA) != (try digest(unknown, hash: Self.hashA, other: Self.hashB)))
    }
}

struct NormalizationFailure: Error {
}

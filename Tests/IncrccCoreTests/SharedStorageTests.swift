import Foundation
import IncrccCore
import Testing

/// The shared tier's parts without servers: settings, keys, the shared manifest's encoding.
struct SharedStorageTests {
    @Test func sha256MatchesKnownVectors() throws {
        #expect(StrongDigest.of(Array("abc".utf8)).hex == "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad")
        #expect(StrongDigest.of([]).hex == "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855")
        // Held as words, read and written as the same 32 bytes in order.
        let abc = StrongDigest.of(Array("abc".utf8))
        #expect(abc.bytes.prefix(4) == [0xba, 0x78, 0x16, 0xbf] && StrongDigest(bytes: abc.bytes) == abc)
        #expect(abc.checksumKey == Digest(high: 0xba78_16bf_8f01_cfea, low: 0x4141_40de_5dae_2223))
        var reader = ByteReader(abc.bytes)
        let read = try StrongDigest.read(&reader)
        #expect(read == abc && reader.isAtEnd)
    }

    @Test func remoteStorageSettingsParseAsCcacheWritesThem() throws {
        let specs = try RemoteStorageSpec.parseList(
            "redis://alice:s3cret@cache.example:6380/2|connect-timeout=50|read-only "
            + "http://h-*.example/c|shards=a(3),b,c(1.5)|layout=bazel|bearer-token=tok crsh:/run/x.sock")
        #expect(specs.count == 3)
        #expect(specs[0].scheme == "redis" && specs[0].readOnly)
        #expect(specs[0].attributes == [RemoteStorageSpec.Attribute(key: "connect-timeout", value: "50")])
        #expect(specs[1].shards.map(\.name) == ["a", "b", "c"] && specs[1].shards.map(\.weight) == [3, 1, 1.5])
        #expect(specs[1].url(shard: specs[1].shards[1]) == "http://h-b.example/c")
        #expect(specs[2].scheme == "crsh")
        // Secrets never reach what is printed.
        #expect(specs[0].redacted == "redis://alice:***@cache.example:6380/2|connect-timeout=50|read-only")
        #expect(!specs[1].redacted.contains("=tok"))
        #expect(throws: ConfigurationError.self) { try RemoteStorageSpec.parseList("http://x/|shards=a,b") }
        #expect(throws: ConfigurationError.self) { try RemoteStorageSpec.parseList("nonsense") }
        #expect(throws: ConfigurationError.self) { try RemoteStorageSpec.parseList("redis://h|read-only=maybe") }
    }

    @Test func configurationTakesTheSharedSettingsAndHidesPasswords() throws {
        let config = try Configuration.load(lookup: { name in
            ["INCRCC_DIR": "/tmp/x", "INCRCC_REMOTE_STORAGE": "redis://:pw@127.0.0.1:1", "INCRCC_REMOTE_ONLY": "1",
             "INCRCC_RESHARE": "1", "INCRCC_NAMESPACE": "proj"][name]
        }, readFile: { _ in nil })
        #expect(config.remote.storage.count == 1 && config.remote.remoteOnly && config.remote.reshare)
        #expect(config.remote.namespace == "proj")
        #expect(config.value(of: "remote_storage") == "redis://:***@127.0.0.1:1")
    }

    @Test func sharedManifestRoundTripsAndRefusesDamage() throws {
        let digest = StrongDigest.of(Array("header".utf8))
        let result = StrongDigest.of(Array("result".utf8))
        var manifest = RemoteManifest()
        manifest.add(RemoteManifest.Entry(files: [("/usr/include/stdio.h", digest), ("\u{0}SOURCE_DATE_EPOCH", digest)],
                                          absentPaths: ["/x/y.h"], result: result))
        let bytes = manifest.encode()
        #expect(try RemoteManifest.decode(bytes) == manifest)
        for cut in [1, 9, bytes.count / 2, bytes.count - 1] {
            #expect(throws: MalformedEntry.self) { try RemoteManifest.decode(Array(bytes[..<cut])) }
        }
        // A count that claims more than the bytes hold is refused before anything is allocated.
        var huge = [UInt8(0x82)]
        withUnsafeBytes(of: UInt64.max.littleEndian) { huge.append(contentsOf: $0) }
        #expect(throws: MalformedEntry.self) { try RemoteManifest.decode(huge) }
        // The newest result carried inside: round trips, and is refused when damaged or over the limit.
        manifest.inlined = .init(key: result, blob: Array(repeating: 7, count: 1000))
        let carrying = manifest.encode()
        #expect(try RemoteManifest.decode(carrying) == manifest)
        #expect(try RemoteManifest.decode(carrying).inlinedBlob(for: result)?.count == 1000)
        #expect(try RemoteManifest.decode(carrying).inlinedBlob(for: digest) == nil)
        #expect(throws: MalformedEntry.self) { try RemoteManifest.decode(Array(carrying.dropLast())) }
        #expect(throws: MalformedEntry.self) { try RemoteManifest.decode(bytes.dropLast() + [2]) }
        manifest.inlined = .init(key: result, blob: Array(repeating: 7, count: RemoteManifest.maximumInlined + 1))
        #expect(try RemoteManifest.decode(manifest.encode()).inlined == nil)
        var oversized = Array(carrying[..<(carrying.count - 1000 - 8)])
        withUnsafeBytes(of: UInt64(RemoteManifest.maximumInlined + 1).littleEndian) { oversized.append(contentsOf: $0) }
        oversized += Array(repeating: 7, count: RemoteManifest.maximumInlined + 1)
        #expect(throws: MalformedEntry.self) { try RemoteManifest.decode(oversized) }
        // Result keys are bound to the manifest key and every file digest.
        let key = StrongDigest.of(Array("m".utf8))
        #expect(RemoteManifest.resultKey(manifestKey: key, files: [("a", digest)])
                != RemoteManifest.resultKey(manifestKey: key, files: [("a", result)]))
        #expect(RemoteManifest.resultKey(manifestKey: key, files: [("a", digest)])
                != RemoteManifest.resultKey(manifestKey: result, files: [("a", digest)]))
    }

    @Test func entriesAreBoundToTheirSharedKey() throws {
        let key = StrongDigest.of(Array("k1".utf8))
        let other = StrongDigest.of(Array("k2".utf8))
        let entry = EntryCodec.encode(Array(repeating: 7, count: 5000), kind: .result, key: key.checksumKey, level: 1)
        #expect(try EntryCodec.decode(entry, kind: .result, key: key.checksumKey) == Array(repeating: 7, count: 5000))
        #expect(throws: MalformedEntry.self) { try EntryCodec.decode(entry, kind: .result, key: other.checksumKey) }
        #expect(throws: MalformedEntry.self) { try EntryCodec.decode(entry, kind: .manifest, key: key.checksumKey) }
    }
}

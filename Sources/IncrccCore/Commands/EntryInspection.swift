/// `--inspect PATH`: what one cache entry holds, as ccache's `--inspect` tells its own. The entry's kind
/// and key come from its file name, since its checksum binds it to them; a damaged entry is reported, not
/// read on.
struct EntryInspection {
    var path: String

    /// ccache numbers its two entry types (result 0, manifest 1); incrcc's others follow.
    static func typeNumber(_ kind: EntryCodec.Kind) -> Int {
        switch kind {
        case .result: return 0
        case .manifest: return 1
        default: return Int(kind.rawValue) - 1
        }
    }

    func lines() -> Result<[String], SystemError> {
        let bytes: [UInt8]
        do { bytes = try FileSystem.readFile(path) } catch { return .failure(error) }
        var out = ["Path: \(path)"]
        guard let (key, kind) = Self.entry(named: Path.baseName(path)) else {
            return .success(out + ["Entry type: unknown (not named as an incrcc entry)"])
        }
        out.append("Entry type: \(Self.typeNumber(kind)) (\(kind))")
        out.append("Key: \(key.hex)")
        guard bytes.count >= EntryCodec.headerSize, Array(bytes[0..<8]) == EntryCodec.magic else {
            return .success(out + ["Magic: missing (not an incrcc entry)"])
        }
        out.append("Compression type: \(bytes[9] == 1 ? "zstd" : bytes[9] == 0 ? "none" : "unknown (\(bytes[9]))")")
        var header = ByteReader(Array(bytes[0..<EntryCodec.headerSize]), offset: 10)
        if let size = try? header.readUInt64() { out.append("Payload size: \(size)") }
        out.append("Stored size: \(bytes.count - EntryCodec.headerSize)")
        let payload: [UInt8]
        do {
            payload = try EntryCodec.decode(bytes, kind: kind, key: key)
        } catch {
            return .success(out + ["Checksum: damaged (\(error.reason))"])
        }
        out.append("Checksum: ok")
        switch kind {
        case .manifest:
            guard let manifest = try? Manifest.decode(payload) else { return .success(out + ["Manifest: undecodable"]) }
            for (index, entry) in manifest.entries.enumerated() {
                out.append("Entry \(index): result \(entry.result.hex)")
                for file in entry.files {
                    out.append("  File: \(file.isVariable ? "variable " + file.path.dropFirst() : file.path)")
                    out.append("    Hash: \(file.digest.hex)")
                    out.append("    Size: \(file.status.size), mtime: \(file.status.modifiedNanoseconds), stat trusted: \(file.statTrusted)")
                }
                for absent in entry.absentPaths { out.append("  Absent: \(absent)") }
            }
        case .result:
            guard let result = try? CachedResult.decode(payload) else { return .success(out + ["Result: undecodable"]) }
            out.append("Stdout: \(result.stdout.count) bytes")
            out.append("Stderr: \(result.stderr.count) bytes")
            for file in result.files { out.append("File: \(file.kind) (\(file.bytes.count) bytes)") }
        case .preprocessedText:
            if let result = try? CachedCompile.decodeTextEntry(payload) { out.append("Result: \(result.hex)") }
        default:
            break
        }
        return .success(out)
    }

    /// An entry's key and kind from its file name (`<32 hex digits>.<kind letter>`); nil for another name.
    static func entry(named name: String) -> (key: Digest, kind: EntryCodec.Kind)? {
        guard let dot = name.lastIndex(of: "."), name.utf8.count - name[..<dot].utf8.count == 2,
              let letter = name.utf8.last,
              let kind = EntryCodec.Kind.allCases.first(where: { CacheStore.suffixLetter($0) == letter }),
              let key = digest(hex: name[..<dot]) else { return nil }
        return (key, kind)
    }

    /// A digest from its 32 hex digits; nil for anything else.
    static func digest(hex: Substring) -> Digest? {
        guard hex.utf8.count == 32, let high = UInt64(hex.prefix(16), radix: 16), let low = UInt64(hex.suffix(16), radix: 16)
        else { return nil }
        return Digest(high: high, low: low)
    }
}

import Glibc

/// Reads the process environment without Foundation. The variables incrcc reads on every call are taken in
/// one pass over `environ` (a `getenv` per name walks the whole environment each time, which measured as a
/// noticeable share of a hit); any other name falls back to `getenv`.
public enum Environment {
    struct Snapshot: Sendable {
        var pairs: [Variable] = []
    }

    public struct Variable: Sendable {
        public var name: String
        public var value: String
    }

    /// Names are captured when they start with one of these; everything incrcc asks for on a hit does.
    static let capturedPrefixes: [StaticString] = [
        "INCRCC_", "NIX_", "LC_", "GCC_", "CPATH", "C_INCLUDE_PATH", "CPLUS_INCLUDE_PATH", "OBJC", "SOURCE_DATE_EPOCH",
        "LANG", "TERM", "COMPILER_PATH", "CCC_", "QA_", "DEPENDENCIES_OUTPUT", "SUNPRO_", "PATH", "HOME",
        "XDG_CACHE_HOME", "COLUMNS", "PWD",
    ]

    /// Whether a name (its bytes) starts with a captured prefix. Compared as bytes: as String prefixes the
    /// test cost more instructions than the rest of the snapshot.
    static func isCaptured(_ name: UnsafeBufferPointer<UInt8>) -> Bool {
        guard let start = name.baseAddress else { return false }
        for prefix in capturedPrefixes where prefix.utf8CodeUnitCount <= name.count {
            if memcmp(start, prefix.utf8Start, prefix.utf8CodeUnitCount) == 0 { return true }
        }
        return false
    }

    static let snapshot: Snapshot = {
        var snapshot = Snapshot()
        var cursor = environ
        while let entry = cursor.pointee {
            cursor += 1
            let bytes = UnsafeRawPointer(entry).assumingMemoryBound(to: UInt8.self)
            let length = strlen(entry)
            guard let eq = memchr(bytes, Int32(UInt8(ascii: "=")), length) else { continue }
            let nameLength = UnsafeRawPointer(eq) - UnsafeRawPointer(bytes)
            let name = UnsafeBufferPointer(start: bytes, count: nameLength)
            guard isCaptured(name) else { continue }
            let value = UnsafeBufferPointer(start: bytes + nameLength + 1, count: length - nameLength - 1)
            snapshot.pairs.append(Variable(name: String(decoding: name, as: UTF8.self),
                                           value: String(decoding: value, as: UTF8.self)))
        }
        return snapshot
    }()

    public static func value(_ name: String) -> String? {
        var name = name
        if name.withUTF8({ isCaptured($0) }) {
            for variable in snapshot.pairs where variable.name == name { return variable.value }
            return nil
        }
        guard let raw = getenv(name) else { return nil }
        return String(cString: raw)
    }
}

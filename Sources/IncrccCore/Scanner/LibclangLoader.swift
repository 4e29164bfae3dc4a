import CLibclang

/// libclang opened with dlopen, never linked: a direct hit must not pay the ~30 M instructions of loading
/// it, and incrcc must keep working on machines without it.
public final class Libclang {
    public private(set) var table: IncrccLibclang
    public let path: String

    init(table: IncrccLibclang, path: String) {
        self.table = table
        self.path = path
    }

    deinit { incrcc_libclang_close(&table) }

    /// The version libclang reports, e.g. "Debian clang version 14.0.6".
    public var version: String {
        guard let getVersion = table.getClangVersion, let getCString = table.getCString,
              let dispose = table.disposeString else { return "" }
        let text = getVersion()
        defer { dispose(text) }
        guard let raw = getCString(text) else { return "" }
        return String(cString: raw)
    }
}

/// Why libclang could not be loaded: every path tried and the last reason.
public struct LibclangUnavailable: Error, CustomStringConvertible, Sendable {
    public var tried: [String]
    public var reason: String
    public var description: String { "libclang not loaded (tried \(tried.joined(separator: ", "))): \(reason)" }
}

public enum LibclangLoader {
    /// Newest first: the first that loads wins.
    static let versions = Array((11...21).reversed())

    /// `INCRCC_LIBCLANG` alone when set (a user who names a library wants that one or a clear failure);
    /// otherwise the unversioned soname, the versioned ones, and Debian's per-version directories.
    public static func candidates(lookup: (String) -> String? = Environment.value) -> [String] {
        if let explicit = lookup("INCRCC_LIBCLANG"), !explicit.isEmpty { return [explicit] }
        return ["libclang.so.1", "libclang.so"] + versions.map { "libclang-\($0).so.1" }
            + versions.map { "/usr/lib/llvm-\($0)/lib/libclang.so.1" }
            + versions.map { "/usr/lib/llvm-\($0)/lib/libclang.so" }
    }

    public static func load(lookup: (String) -> String? = Environment.value) throws(LibclangUnavailable) -> Libclang {
        var reason = "no candidates"
        let tried = candidates(lookup: lookup)
        for candidate in tried {
            var table = IncrccLibclang()
            var buffer = [CChar](repeating: 0, count: 512)
            let status = incrcc_libclang_open(candidate, &table, &buffer, UInt(buffer.count))
            if status == 0 { return Libclang(table: table, path: candidate) }
            reason = String(decoding: buffer.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
        }
        throw LibclangUnavailable(tried: tried, reason: reason)
    }
}

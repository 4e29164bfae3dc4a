import CLibclang
import Glibc

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

/// Why libclang could not give a translation unit's files.
public struct LibclangParseFailure: Error, CustomStringConvertible, Sendable {
    public var description: String
}

extension Libclang {
    /// `CXTranslationUnit_Incomplete | CXTranslationUnit_SkipFunctionBodies`: only the include set is
    /// wanted, and skipping bodies is most of a parse's cost on C++ headers.
    static let parseOptions: UInt32 = 0x02 | 0x40

    /// Every file the translation unit reads, the source first. A fatal error (a header not found, a
    /// limit reached) fails: the set would be incomplete.
    public func inclusions(source: String, arguments: [String]) -> Result<[String], LibclangParseFailure> {
        guard let createIndex = table.createIndex, let disposeIndex = table.disposeIndex,
              let parse = table.parseTranslationUnit2, let disposeUnit = table.disposeTranslationUnit else {
            return .failure(LibclangParseFailure(description: "libclang table incomplete"))
        }
        guard let index = createIndex(0, 0) else { return .failure(LibclangParseFailure(description: "no index")) }
        defer { disposeIndex(index) }
        var unit: IncrccCXTranslationUnit?
        let cArguments = arguments.map { strdup($0) }
        defer { cArguments.forEach { free($0) } }
        let code = cArguments.map { UnsafePointer($0) }.withUnsafeBufferPointer { buffer in
            parse(index, source, buffer.baseAddress, Int32(buffer.count), nil, 0, Self.parseOptions, &unit)
        }
        guard code == 0, let unit else {
            return .failure(LibclangParseFailure(description: "libclang could not parse \(source) (error \(code))"))
        }
        defer { disposeUnit(unit) }
        var message = [CChar](repeating: 0, count: 512)
        if incrcc_libclang_fatal_error(&table, unit, &message, UInt(message.count)) != 0 {
            let text = String(decoding: message.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
            return .failure(LibclangParseFailure(description: text))
        }
        final class Collected { var paths: [String] = [] }
        let collected = Collected()
        withExtendedLifetime(collected) {
            incrcc_libclang_inclusions(&table, unit, { path, context in
                guard let path, let context else { return }
                Unmanaged<Collected>.fromOpaque(context).takeUnretainedValue().paths.append(String(cString: path))
            }, Unmanaged.passUnretained(collected).toOpaque())
        }
        return .success(collected.paths)
    }
}

/// `incrcc-scan SOURCE [CLANG ARGUMENT…]`: prints every file libclang reads for SOURCE, one per line. It is
/// a separate, dynamically linked program because incrcc itself is linked fully static, and a static
/// program cannot dlopen a C++ library; it also keeps libclang out of every incrcc process.
/// Exit status: 0 listed, 2 usage, 3 libclang could not be loaded, 4 the parse failed.
public enum LibclangScanTool {
    public static func run(arguments: [String]) -> Int32 {
        guard arguments.count >= 2 else {
            Console.error("usage: incrcc-scan SOURCE [CLANG ARGUMENT...]")
            return 2
        }
        let clang: Libclang
        do {
            clang = try LibclangLoader.load()
        } catch {
            Console.error("libclang scan: \(error)")
            return 3
        }
        switch clang.inclusions(source: arguments[1], arguments: Array(arguments.dropFirst(2))) {
        case .success(let paths):
            Console.write(Array(paths.joined(separator: "\n").utf8) + [0x0a], to: 1)
            return 0
        case .failure(let failure):
            Console.error("libclang scan: \(failure)")
            return 4
        }
    }
}

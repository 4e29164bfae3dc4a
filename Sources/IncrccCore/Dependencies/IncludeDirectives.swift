import Glibc

/// One `#include`-like directive found in a file's text.
public struct IncludeDirective: Equatable, Sendable {
    public var name: String
    public var isQuoted: Bool
    public var isNext: Bool
}

/// Takes apart `#include`, `#include_next` and `#import` directives with a literal name (`FileReferences`
/// finds the lines).
public enum IncludeDirectiveScanner {
    /// A plain byte compare: the generic `elementsEqual` against a String's UTF-8 view measured as the
    /// largest single cost of a small miss.
    @inline(__always)
    static func matches(_ word: UnsafeBufferPointer<UInt8>, _ keyword: StaticString) -> Bool {
        guard word.count == keyword.utf8CodeUnitCount, let start = word.baseAddress else { return false }
        return memcmp(start, keyword.utf8Start, word.count) == 0
    }

    /// Reads what follows a `#` at `i`: an include-like directive with a literal name, or nil.
    static func directive(_ base: UnsafePointer<UInt8>, _ n: Int, _ i: inout Int) -> IncludeDirective? {
        while i < n, base[i] == 0x20 || base[i] == 0x09 { i += 1 }
        let wordStart = i
        while i < n, (base[i] >= 0x61 && base[i] <= 0x7a) || base[i] == UInt8(ascii: "_") { i += 1 }
        let word = UnsafeBufferPointer(start: base + wordStart, count: i - wordStart)
        let isNext = matches(word, "include_next")
        guard isNext || matches(word, "include") || matches(word, "import") else { return nil }
        while i < n, base[i] == 0x20 || base[i] == 0x09 { i += 1 }
        guard i < n, base[i] == UInt8(ascii: "\"") || base[i] == UInt8(ascii: "<") else { return nil }
        let close = base[i] == UInt8(ascii: "\"") ? UInt8(ascii: "\"") : UInt8(ascii: ">")
        i += 1
        let nameStart = i
        while i < n, base[i] != close, base[i] != 0x0a { i += 1 }
        guard i < n, base[i] == close, i > nameStart else { return nil }
        return IncludeDirective(name: String(decoding: UnsafeBufferPointer(start: base + nameStart, count: i - nameStart), as: UTF8.self),
                                isQuoted: close == UInt8(ascii: "\""), isNext: isNext)
    }
}

/// Works out which paths the compiler would have picked instead, had they existed: the include-path
/// candidates searched before the file each directive resolved to. On a hit, any of them existing means a
/// header now shadows one the cached result was built from.
public struct NegativeProbeFinder {
    public var quoteChain: [String]
    public var bracketChain: [String]

    /// `options` from the command line, `builtin` the compiler's own directories, `environmentDirectories`
    /// from CPATH and friends (searched after -I, before the built-in ones).
    public init(options: IncludeSearchOptions, builtin: [String], environmentDirectories: [String]) {
        var bracket = options.bracketDirectories + environmentDirectories + options.systemDirectories
        if !options.noStandardIncludes { bracket += builtin }
        bracket += options.afterDirectories
        bracketChain = bracket
        quoteChain = options.quoteDirectories + bracket
    }

    /// Absent candidates for every directive in every file. `dependencies` are the files the compiler read
    /// (paths as it printed them), with their directives; `exists` answers for any other path.
    public func probes(files: [(path: String, directives: [IncludeDirective])], dependencies: Set<String>,
                       exists: (String) -> Bool) -> [String] {
        /// One table for everything known about a candidate, so each is hashed once per lookup.
        enum Known { case dependency, present, absent }
        var known: [String: Known] = [:]
        known.reserveCapacity(dependencies.count * 4)
        for dependency in dependencies { known[dependency] = .dependency }
        var ordered: [String] = []
        /// Chains already walked: a bracketed or `#include_next` name's chain does not depend on its
        /// includer, a quoted one's only on the includer's directory. Headers repeat the same includes (a
        /// binutils unit asks for `bfd.h` and the libc headers from dozens of files), so a second walk, which
        /// could find nothing new, is skipped.
        var walked: Set<Walk> = []
        for file in files {
            let includerDirectory = Path.directory(of: file.path)
            for directive in file.directives {
                if directive.name.hasPrefix("/") { continue }
                let walk = directive.isNext ? Walk(chain: .next, directory: "", name: directive.name)
                    : directive.isQuoted ? Walk(chain: .quoted, directory: includerDirectory, name: directive.name)
                    : Walk(chain: .bracketed, directory: "", name: directive.name)
                guard walked.insert(walk).inserted else { continue }
                let chain: [String] = directive.isNext ? quoteChain
                    : directive.isQuoted ? [includerDirectory] + quoteChain : bracketChain
                search: for directory in chain {
                    let candidate = Path.join(directory, directive.name)
                    switch known[candidate] {
                    case .dependency:
                        // The file the compiler used: nothing after it can shadow it (include_next goes on).
                        if !directive.isNext { break search }
                    case .present, .absent:
                        break
                    case nil:
                        let present = exists(candidate)
                        known[candidate] = present ? .present : .absent
                        if !present { ordered.append(candidate) }
                    }
                }
            }
        }
        return ordered
    }

    /// One walk of a chain: its kind, the includer's directory for a quoted name, and the name. Hashed as
    /// parts: joining them into one string first allocated for every directive of every header.
    struct Walk: Hashable {
        enum Chain: UInt8 { case bracketed, quoted, next }
        var chain: Chain
        var directory: String
        var name: String
    }
}

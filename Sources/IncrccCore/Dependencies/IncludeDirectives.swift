/// One `#include`-like directive found in a file's text.
public struct IncludeDirective: Equatable, Sendable {
    public var name: String
    public var isQuoted: Bool
    public var isNext: Bool
}

/// Finds `#include`, `#include_next` and `#import` directives with a literal name. It does not evaluate
/// conditionals or skip comments: it over-reports, which only adds negative probes (more misses, never a
/// wrong hit).
public enum IncludeDirectiveScanner {
    public static func scan(_ text: [UInt8]) -> [IncludeDirective] {
        var directives: [IncludeDirective] = []
        var i = 0
        let n = text.count
        @inline(__always) func skipBlanks() { while i < n, text[i] == 0x20 || text[i] == 0x09 { i += 1 } }
        while i < n {
            // At the start of a line.
            skipBlanks()
            if i < n, text[i] == UInt8(ascii: "#") {
                i += 1
                skipBlanks()
                let wordStart = i
                while i < n, (text[i] >= 0x61 && text[i] <= 0x7a) || text[i] == UInt8(ascii: "_") { i += 1 }
                let word = text[wordStart..<i]
                let isNext = word.elementsEqual("include_next".utf8)
                if isNext || word.elementsEqual("include".utf8) || word.elementsEqual("import".utf8) {
                    skipBlanks()
                    if i < n, text[i] == UInt8(ascii: "\"") || text[i] == UInt8(ascii: "<") {
                        let close = text[i] == UInt8(ascii: "\"") ? UInt8(ascii: "\"") : UInt8(ascii: ">")
                        let quoted = close == UInt8(ascii: "\"")
                        i += 1
                        let nameStart = i
                        while i < n, text[i] != close, text[i] != 0x0a { i += 1 }
                        if i < n, text[i] == close, i > nameStart {
                            directives.append(IncludeDirective(
                                name: String(decoding: text[nameStart..<i], as: UTF8.self), isQuoted: quoted,
                                isNext: isNext))
                        }
                    }
                }
            }
            while i < n, text[i] != 0x0a { i += 1 }
            i += 1
        }
        return directives
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
        var found: Set<String> = []
        var ordered: [String] = []
        var checked: [String: Bool] = [:]
        func isPresent(_ candidate: String) -> Bool {
            if dependencies.contains(candidate) { return true }
            if let known = checked[candidate] { return known }
            let present = exists(candidate)
            checked[candidate] = present
            return present
        }
        for file in files {
            let includerDirectory = Path.directory(of: file.path)
            for directive in file.directives {
                if directive.name.hasPrefix("/") { continue }
                var chain: [String] = directive.isQuoted ? [includerDirectory] + quoteChain : bracketChain
                if directive.isNext { chain = quoteChain }
                for directory in chain {
                    let candidate = Path.join(directory, directive.name)
                    if dependencies.contains(candidate) && !directive.isNext { break }
                    if !isPresent(candidate), found.insert(candidate).inserted { ordered.append(candidate) }
                }
            }
        }
        return ordered
    }
}

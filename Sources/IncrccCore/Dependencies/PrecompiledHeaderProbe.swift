/// Where a precompiled header could stand in for a header. gcc's dependency output names neither the `.gch`
/// it used nor the header it replaced (checked with gcc 12: `-include pch.h` next to `pch.h.gch` lists only
/// the source and `stdc-predef.h`), and clang's lists the headers but not the `.pch`. So the `.gch`/`.pch`
/// files are found here, by the compilers' own rules, and become inputs of the result; the candidates that
/// do not exist are recorded as absent, so a precompiled header created later turns a hit into a miss.
///
/// gcc looks for `NAME.gch` in each directory of the search just before it looks for `NAME` there, and only
/// for an include seen before the first token of the main file (never from inside another header); clang
/// uses `NAME.pch` (and `NAME.gch`) only for `-include`. Both sets are taken for every compiler.
struct PrecompiledHeaderProbe {
    /// The `#include "…"` search after the includer's directory, and the `#include <…>` one.
    var quoteChain: [String]
    var bracketChain: [String]

    /// Candidates for the forced includes (searched from the working directory first, as gcc does) and for
    /// the source's leading directives, in search order.
    func candidates(forcedIncludes: [String], source: String, leading: [IncludeDirective],
                    exists: (String) -> Bool) -> [String] {
        var out: [String] = []
        var seen: Set<String> = []
        func walk(_ name: String, chain: [String], suffixes: [String]) {
            let directories = name.hasPrefix("/") ? [""] : chain
            for directory in directories {
                let header = directory.isEmpty ? name : Path.join(directory, name)
                for suffix in suffixes where seen.insert(header + suffix).inserted { out.append(header + suffix) }
                if exists(header) { return }
            }
        }
        for name in forcedIncludes { walk(name, chain: ["."] + quoteChain, suffixes: [".gch", ".pch"]) }
        let sourceDirectory = Path.directory(of: source)
        for directive in leading where !directive.isNext {
            walk(directive.name, chain: directive.isQuoted ? [sourceDirectory] + quoteChain : bracketChain,
                 suffixes: [".gch"])
        }
        return out
    }

    /// The include directives before the first token of `text` (comments, blank lines and other directives
    /// may come before them). Over-reports in doubt: a directive in a dead branch is still a candidate.
    static func leadingIncludes(_ text: [UInt8]) -> [IncludeDirective] {
        var found: [IncludeDirective] = []
        text.withUnsafeBufferPointer { buffer in
            guard let base = buffer.baseAddress else { return }
            let n = buffer.count
            var i = 0
            while i < n {
                let byte = base[i]
                if byte == 0x20 || byte == 0x09 || byte == 0x0a || byte == 0x0d || byte == 0x0c || byte == 0x0b {
                    i += 1
                } else if byte == UInt8(ascii: "/"), i + 1 < n, base[i + 1] == UInt8(ascii: "/") {
                    // A line comment, continued by a backslash at its end.
                    i = FileReferences.directiveEnd(base, n, from: i + 2)
                } else if byte == UInt8(ascii: "/"), i + 1 < n, base[i + 1] == UInt8(ascii: "*") {
                    guard let close = FileReferences.find("*/", in: base, n, from: i + 2) else { return }
                    i = close + 2
                } else if byte == UInt8(ascii: "#") {
                    var at = i + 1
                    if let directive = IncludeDirectiveScanner.directive(base, n, &at) { found.append(directive) }
                    i = max(FileReferences.directiveEnd(base, n, from: i + 1), at)
                } else {
                    return
                }
            }
        }
        return found
    }
}

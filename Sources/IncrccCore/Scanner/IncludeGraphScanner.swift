/// A file the scan reached, with the digest of its content.
public struct ScannedFile: Equatable, Sendable {
    public var path: String
    public var digest: Digest
}

/// Why and where a scan stopped.
public struct ScanFailure: Error, Equatable, Sendable {
    public var reason: ScanFallback
    public var path: String

    public init(_ reason: ScanFallback, _ path: String) {
        self.reason = reason
        self.path = path
    }
}

/// The files a translation unit can read, found before any compile: the source, the forced includes, and
/// every file an include directive or `__has_include` in any of them resolves to through the compiler's
/// search path. Conditionals are not evaluated, so the set is a superset of what either gcc or clang
/// reads for any macro values, and the candidates searched before each resolved file are recorded.
public struct IncludeGraph: Equatable, Sendable {
    /// In the order they were reached, the source first.
    public var files: [ScannedFile]
    /// Candidates searched that did not exist.
    public var absentPaths: [String]
}

/// Resolves include directives the way gcc and clang search: the including file's directory for quoted
/// names, then `-iquote`, then `-I`, CPATH & co, `-isystem`, the compiler's own directories, `-idirafter`;
/// `#include_next` goes on after the directory the including file was found in.
public struct IncludeGraphScanner {
    /// The whole quoted-name chain; bracketed names start at `bracketStart`.
    public var chain: [String]
    public var bracketStart: Int
    /// `-include` and `-imacros` files, then gcc's implicit `stdc-predef.h`, all as bracket or cwd names.
    public var forcedIncludes: [String]
    public var implicitIncludes: [String]

    public init(finder: NegativeProbeFinder, forcedIncludes: [String], implicitIncludes: [String]) {
        chain = finder.quoteChain
        bracketStart = finder.quoteChain.count - finder.bracketChain.count
        self.forcedIncludes = forcedIncludes
        self.implicitIncludes = implicitIncludes
    }

    /// The file a directive names from a file in `directory` (nil: the source's own search), as the
    /// compiler would find it; nil when no candidate exists.
    public func resolve(_ name: String, from directory: String?, quoted: Bool, exists: (String) -> Bool) -> String? {
        resolve(name, from: directory, next: nil, quoted: quoted, present: exists)?.path
    }

    /// The first candidate `present` accepts, with its chain index (nil: not found through the chain).
    /// `next` is where `#include_next` goes on; it ignores the includer's directory.
    func resolve(_ name: String, from directory: String?, next: Int?, quoted: Bool,
                 present: (String) -> Bool) -> (path: String, index: Int?)? {
        if name.hasPrefix("/") { return present(name) ? (name, nil) : nil }
        if next == nil, quoted, let directory {
            let candidate = Path.join(directory, name)
            if present(candidate) { return (candidate, nil) }
        }
        for index in (next ?? (quoted ? 0 : bracketStart))..<chain.count {
            let candidate = Path.join(chain[index], name)
            if present(candidate) { return (candidate, index) }
        }
        return nil
    }

    /// `read` gives a file's digest and references (nil: unreadable); `exists` answers for candidates.
    public func scan(source: String, read: (String) -> FileFacts?,
                     exists: (String) -> Bool) -> Result<IncludeGraph, ScanFailure> {
        var known: [String: Bool] = [:]
        var absent: [String] = []
        var files: [ScannedFile] = []
        var visited: Set<String> = []
        var resolved: [String: (String, Int?)?] = [:]
        /// Files still to read, with the chain index their directory had (nil: not found through the chain).
        var pending: [(path: String, index: Int?)] = []

        func present(_ candidate: String) -> Bool {
            if let answer = known[candidate] { return answer }
            let answer = exists(candidate)
            known[candidate] = answer
            if !answer { absent.append(candidate) }
            return answer
        }
        func resolve(_ name: String, quotedFrom includer: String?, next: Int?, quoted: Bool) -> (String, Int?)? {
            self.resolve(name, from: includer, next: next, quoted: quoted, present: present)
        }
        func enqueue(_ found: (String, Int?)?) {
            guard let (path, index) = found, visited.insert(path).inserted else { return }
            pending.append((path, index))
        }

        enqueue((source, nil))
        // gcc looks for `-include` files in the working directory first, then along the quoted chain.
        for name in forcedIncludes {
            let found = resolve(name, quotedFrom: ".", next: nil, quoted: true)
            if let (path, _) = found, exists(path + ".gch") { return .failure(ScanFailure(.precompiledHeader, path)) }
            enqueue(found)
        }
        for name in implicitIncludes { enqueue(resolve(name, quotedFrom: nil, next: nil, quoted: false)) }
        var cursor = 0
        while cursor < pending.count {
            let (path, foundIndex) = pending[cursor]
            cursor += 1
            guard let facts = read(path) else { return .failure(ScanFailure(.unreadableFile, path)) }
            let references = facts.references
            if let fallback = references.fallback { return .failure(ScanFailure(fallback, path)) }
            files.append(ScannedFile(path: path, digest: facts.digest))
            // gcc looks for `<header>.gch` beside the first header a file includes and beside forced ones.
            if cursor == 1, let first = references.includes.first,
               let (firstPath, _) = resolve(first.name, quotedFrom: Path.directory(of: path), next: nil, quoted: first.isQuoted),
               exists(firstPath + ".gch") {
                return .failure(ScanFailure(.precompiledHeader, firstPath))
            }
            let directory = Path.directory(of: path)
            for directive in references.includes + references.existenceTests {
                let next = directive.isNext ? foundIndex.map { $0 + 1 } : nil
                // A name resolves the same from every includer with the same directory and chain position:
                // resolve it once. NUL never occurs in a directory, so a chain position cannot pass for one.
                let walk = Path.concatenate(next.map { "\u{0}\($0)" } ?? (directive.isQuoted ? directory : ""),
                                            directive.isQuoted ? "\"" : "<", directive.name)
                if let answer = resolved[walk] {
                    enqueue(answer)
                    continue
                }
                let answer = resolve(directive.name, quotedFrom: directory, next: next, quoted: directive.isQuoted)
                resolved[walk] = answer
                enqueue(answer)
            }
        }
        return .success(IncludeGraph(files: files, absentPaths: absent))
    }
}

/// The key under which a result is indexed for scans: the direct key (compiler, arguments, environment,
/// source) and every scanned file's normalized path and content.
public enum ScanKey {
    /// `content` gives a file's digest as keyed (its normalized text where it holds the call's path parts).
    public static func digest(directKey: Digest, graph: IncludeGraph, engine: ScanEngine,
                              normalize: (String) -> String,
                              content: (_ path: String, _ raw: Digest) -> Digest = { $1 }) -> Digest {
        var hasher = StreamingHasher()
        hasher.update("incrcc scan key 1")
        hasher.update(directKey)
        hasher.update(UInt64(engine.rawValue))
        hasher.update(UInt64(graph.files.count))
        for file in graph.files {
            hasher.update(normalize(file.path))
            hasher.update(content(file.path, file.digest))
        }
        hasher.update(UInt64(graph.absentPaths.count))
        for path in graph.absentPaths { hasher.update(normalize(path)) }
        return hasher.finalize()
    }

    /// The same file spelled as gcc and as the scan spell it (`./a.h` and `a.h`, `inc//b.h`).
    public static func spelling(_ path: String) -> String {
        var previous: UInt8 = 0
        var unusual = false
        for byte in path.utf8 {
            if byte == UInt8(ascii: "/"), previous == UInt8(ascii: ".") || previous == UInt8(ascii: "/") {
                unusual = true
                break
            }
            previous = byte
        }
        guard unusual else { return path }
        var parts: [Substring] = []
        for part in path.split(separator: "/", omittingEmptySubsequences: true) where part != "." {
            parts.append(part)
        }
        return (path.hasPrefix("/") ? "/" : "") + parts.joined(separator: "/")
    }
}

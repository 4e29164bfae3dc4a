import Glibc

/// What the link of a compile-and-link call read, recorded in its manifest entry beside the headers so a
/// hit needs every one unchanged:
/// - every file the linker opened, from its own list (`-Wl,--dependency-file`, GNU ld 2.35+ and lld):
///   crt objects, libraries, the linker scripts glibc's `libc.so` and `libm.so` are, and the libraries
///   they name; the compile's temporary object is the source's, keyed already;
/// - the programs that link: the driver's `collect2` and the `ld` it runs (found as collect2 finds it:
///   `real-ld`, `collect-ld`, then `ld` in the compiler's program directories, then `PATH`), clang's linker
///   by the path its driver prints, the LTO plugin the driver loads;
/// - the libraries that could shadow each `-l`: every candidate the linker tries before the one it took
///   (`lib<name>.so` before `lib<name>.a` unless static, in the `-L` directories, then the linker's own
///   `SEARCH_DIR`s), recorded absent, so a library that appears earlier in the search turns a hit into a
///   miss as a shadowing header does.
/// A linker script that names a library other than by an absolute path (which the linker would search
/// for), or a link whose commands cannot be read, is not stored.
struct LinkInputs {
    var files: [String] = []
    var absentPaths: [String] = []

    /// Why what a link read cannot be told.
    struct Unknown: Error, CustomStringConvertible, ExpressibleByStringInterpolation {
        var description: String
        init(stringLiteral value: String) { description = value }
        init(stringInterpolation: DefaultStringInterpolation) { description = String(stringInterpolation: stringInterpolation) }
    }

    /// The linker's command line as the driver prints it with `-###`, split as a shell would.
    static func linkerCommand(_ printed: [UInt8]) -> [String]? {
        for line in printed.split(separator: 0x0a) {
            let words = shellWords(line)
            guard let program = words.first else { continue }
            let name = Path.baseName(program)
            if name == "collect2" || name == "ld" || name.hasSuffix("-ld") || name.hasPrefix("ld.") { return words }
        }
        return nil
    }

    /// Words of a line the driver printed: separated by blanks, `"…"` quoted with backslash escapes.
    static func shellWords(_ line: ArraySlice<UInt8>) -> [String] {
        var words: [String] = []
        var current: [UInt8] = []
        var inWord = false
        var quoted = false
        var index = line.startIndex
        while index < line.endIndex {
            let byte = line[index]
            if quoted {
                if byte == UInt8(ascii: "\\"), index + 1 < line.endIndex {
                    current.append(line[index + 1])
                    index += 2
                    continue
                }
                if byte == UInt8(ascii: "\"") { quoted = false } else { current.append(byte) }
            } else if byte == UInt8(ascii: "\"") {
                quoted = true
                inWord = true
            } else if byte == 0x20 || byte == 0x09 {
                if inWord { words.append(String(decoding: current, as: UTF8.self)) }
                current = []
                inWord = false
            } else {
                current.append(byte)
                inWord = true
            }
            index += 1
        }
        if inWord { words.append(String(decoding: current, as: UTF8.self)) }
        return words
    }

    /// The directories a GNU linker searches after `-L` (`SEARCH_DIR` of its default script).
    static func defaultSearchDirectories(_ verbose: [UInt8]) -> [String] {
        var directories: [String] = []
        var rest = verbose[...]
        let marker = Array("SEARCH_DIR(\"".utf8)
        while let start = ByteSearch.find(marker, in: Array(rest)) {
            let from = rest.startIndex + start + marker.count
            guard let end = rest[from...].firstIndex(of: UInt8(ascii: "\"")) else { break }
            var directory = String(decoding: rest[from..<end], as: UTF8.self)
            if directory.hasPrefix("=") { directory.removeFirst() }
            directories.append(directory)
            rest = rest[end...]
        }
        return directories
    }

    /// The first of `candidates` that exists, and those before it; nil when none does.
    static func firstExisting(_ candidates: [String], exists: (String) -> Bool) -> (found: String, absent: [String])? {
        for (index, candidate) in candidates.enumerated() where exists(candidate) {
            return (candidate, Array(candidates[..<index]))
        }
        return nil
    }

    /// The `-L` directories of a linker command, in order.
    static func searchDirectories(_ command: [String]) -> [String] {
        var directories: [String] = []
        var index = 1
        while index < command.count {
            if command[index] == "-L", index + 1 < command.count {
                directories.append(command[index + 1])
                index += 1
            } else if command[index].hasPrefix("-L") {
                directories.append(String(command[index].dropFirst(2)))
            }
            index += 1
        }
        return directories
    }

    /// The `-l` searches of a linker command: for each library, the candidate it takes and those before it.
    /// Nil when a library is not found (then the link failed and nothing is stored).
    static func librarySearch(_ command: [String], defaults: [String], exists: (String) -> Bool)
        -> (found: [String], absent: [String])? {
        var directories: [String] = []
        var staticOnly = false
        var stack: [Bool] = []
        var libraries: [(name: String, staticOnly: Bool)] = []
        var index = 1
        while index < command.count {
            let word = command[index]
            switch word {
            case "-Bstatic", "-dn", "-non_shared", "-static": staticOnly = true
            case "-Bdynamic", "-dy", "-call_shared": staticOnly = false
            case "--push-state": stack.append(staticOnly)
            case "--pop-state": staticOnly = stack.popLast() ?? staticOnly
            case "-L":
                if index + 1 < command.count { directories.append(command[index + 1]) }
                index += 1
            case "-l":
                if index + 1 < command.count { libraries.append((command[index + 1], staticOnly)) }
                index += 1
            default:
                if word.hasPrefix("-L") { directories.append(String(word.dropFirst(2))) }
                if word.hasPrefix("-l") { libraries.append((String(word.dropFirst(2)), staticOnly)) }
            }
            index += 1
        }
        var found: [String] = []
        var absent: [String] = []
        for library in libraries {
            let names = library.name.hasPrefix(":") ? [String(library.name.dropFirst())]
                : library.staticOnly ? ["lib\(library.name).a"] : ["lib\(library.name).so", "lib\(library.name).a"]
            var taken: String?
            search: for directory in directories + defaults {
                for name in names {
                    let candidate = Path.join(directory, name)
                    if exists(candidate) {
                        taken = candidate
                        break search
                    }
                    absent.append(candidate)
                }
            }
            guard let taken else { return nil }
            found.append(taken)
        }
        return (found, absent)
    }

    /// The names a linker script gives in `GROUP`, `INPUT` and `AS_NEEDED`; nil when the text is no
    /// script this reading follows.
    static func scriptInputs(_ script: [UInt8]) -> [String]? {
        // `OUTPUT_FORMAT(…)` and `OUTPUT_ARCH(…)` name no file: left out before the words are read.
        var text = script
        for command in ["OUTPUT_FORMAT", "OUTPUT_ARCH"] {
            while let start = ByteSearch.find(Array(command.utf8), in: text) {
                guard let end = text[start...].firstIndex(of: UInt8(ascii: ")")) else { return nil }
                text.replaceSubrange(start...end, with: [0x20])
            }
        }
        var words: [String] = []
        var current: [UInt8] = []
        var index = 0
        var inComment = false
        while index < text.count {
            let byte = text[index]
            if inComment {
                if byte == UInt8(ascii: "*"), index + 1 < text.count, text[index + 1] == UInt8(ascii: "/") {
                    inComment = false
                    index += 1
                }
            } else if byte == UInt8(ascii: "/"), index + 1 < text.count, text[index + 1] == UInt8(ascii: "*") {
                inComment = true
                index += 1
            } else if byte == 0x20 || byte == 0x09 || byte == 0x0a || byte == UInt8(ascii: "(") || byte == UInt8(ascii: ")") {
                if !current.isEmpty { words.append(String(decoding: current, as: UTF8.self)) }
                current = []
            } else {
                current.append(byte)
            }
            index += 1
        }
        if !current.isEmpty { words.append(String(decoding: current, as: UTF8.self)) }
        var inputs: [String] = []
        for word in words where !["GROUP", "INPUT", "AS_NEEDED"].contains(word) {
            // An absolute path, a name searched for, or `-l`; another command is not followed.
            guard !word.contains("="), !word.contains("{"), !word.contains(";"), word.uppercased() != word || word.contains("/")
                || word.hasPrefix("-l") || word.contains(".") else { return nil }
            inputs.append(word)
        }
        return words.contains(where: { $0 == "GROUP" || $0 == "INPUT" }) ? inputs : nil
    }
}

extension CachedCompile {
    /// What this call's link read and could have read instead; why not, when it cannot be told.
    /// `read`: the files of the list as they were when the link ended (a build may have removed its
    /// objects since).
    func linkInputs(dependencyText: [UInt8]?, read known: [String: (status: FileStatus, digest: Digest)] = [:])
        -> Result<LinkInputs, LinkInputs.Unknown> {
        guard let dependencyText else { return .failure("the linker wrote no dependency list") }
        var inputs = LinkInputs()
        var scripts: [(path: String, names: [String])] = []
        for path in DependencyFile.prerequisites(dependencyText) {
            if inputs.files.contains(path) { continue }
            let current = (try? FileSystem.statusIfExists(path)) ?? nil
            guard let status = current ?? known[path]?.status else {
                // The compile's temporary object, gone once the link is done (gcc's `ccXXXXXX.o`, clang's
                // `conftest-XXXXXX.o`, in the temporary directory).
                var temporary = lookup("TMPDIR") ?? "/tmp"
                while temporary.count > 1 && temporary.hasSuffix("/") { temporary.removeLast() }
                if path.hasSuffix(".o"), Path.directory(of: path) == temporary { continue }
                return .failure("\(path), which the linker read, is gone")
            }
            if current != nil, status.size < 4096, let text = try? FileSystem.readFile(path), text.first != 0x7f,
               ByteSearch.find(Array("GROUP".utf8), in: text) != nil || ByteSearch.find(Array("INPUT".utf8), in: text) != nil {
                guard let names = LinkInputs.scriptInputs(text) else {
                    return .failure("the linker script \(path) holds what is not followed")
                }
                scripts.append((path, names))
            }
            inputs.files.append(path)
        }
        // The linker's command line: its program, its plugin and its library search.
        guard let printed = try? ChildProcess.runCapturing(compilerPath, [compilerPath] + request.arguments + ["-###"]), printed.status.succeeded,
              let command = LinkInputs.linkerCommand(printed.stderr), let program = command.first else {
            return .failure("the driver did not print its linker command")
        }
        inputs.files.append(program)
        for (index, word) in command.enumerated() where word == "-plugin" && index + 1 < command.count {
            inputs.files.append(command[index + 1])
        }
        var linker = program
        if Path.baseName(program) == "collect2" {
            guard let found = collectLinker(&inputs) else { return .failure("the linker collect2 runs was not found") }
            linker = found
            // With `-flto` the link compiles: gcc's linker plugin (keyed above) runs lto-wrapper, which runs
            // lto1 through the driver. clang's link-time compiler is its plugin or lld itself, keyed already.
            if LinkOptions.optimizesAtLinkTime(request.arguments) {
                for name in ["lto-wrapper", "lto1"] {
                    guard let printed = try? ChildProcess.runCapturing(compilerPath, [compilerPath, "-print-prog-name=" + name]),
                          printed.status.succeeded,
                          let path = String(decoding: printed.stdout, as: UTF8.self).split(separator: "\n").first.map(String.init),
                          path.hasPrefix("/"), (try? FileSystem.status(path))?.isRegularFile == true else {
                        return .failure("gcc's \(name), which a link-time optimization runs, was not found")
                    }
                    inputs.files.append(path)
                }
            }
        }
        // gold prints no default script: without defaults, a library found outside the `-L` directories
        // fails the search below, and the link is not stored.
        let verbose = try? ChildProcess.runCapturing(linker, [linker, "--verbose"])
        let defaults = verbose.map { $0.status.succeeded ? LinkInputs.defaultSearchDirectories($0.stdout) : [] } ?? []
        guard let search = LinkInputs.librarySearch(command, defaults: defaults, exists: { path in
            ((try? FileSystem.statusIfExists(path)) ?? nil) != nil
        }) else { return .failure("a library was not found where the linker looks") }
        // Every library the search takes must be one the linker read: where this reading of the search and
        // the linker's differ, the link is not stored.
        // Compared as files, not spellings (`-L.` gives `./libg.a` here, perhaps `libg.a` there).
        func identity(_ path: String) -> [UInt64]? {
            ((try? FileSystem.status(path)) ?? known[path]?.status).map { [$0.device, $0.inode] }
        }
        let read = Set(inputs.files.compactMap(identity))
        func wasRead(_ path: String) -> Bool { identity(path).map(read.contains) ?? false }
        guard search.found.allSatisfy(wasRead) else { return .failure("the library search differs from the linker's") }
        inputs.absentPaths = search.absent
        let directories = LinkInputs.searchDirectories(command) + defaults
        func exists(_ path: String) -> Bool { ((try? FileSystem.statusIfExists(path)) ?? nil) != nil }
        for script in scripts {
            for name in script.names where !name.hasPrefix("/") {
                let candidates: [String]
                if name.hasPrefix("-l") {
                    let library = String(name.dropFirst(2))
                    candidates = directories.flatMap { [Path.join($0, "lib\(library).so"), Path.join($0, "lib\(library).a")] }
                } else {
                    // Tried beside the script and in the current directory first by some versions: neither
                    // may hold it.
                    let nearby = [Path.join(Path.directory(of: script.path), name), Path.join(currentDirectory, name)]
                    guard !nearby.contains(where: exists) else { return .failure("\(name) of \(script.path) is ambiguous") }
                    inputs.absentPaths += nearby
                    candidates = directories.map { Path.join($0, name) }
                }
                guard let taken = LinkInputs.firstExisting(candidates, exists: exists), wasRead(taken.found) else {
                    return .failure("\(name) of the linker script \(script.path) was found elsewhere than it was read")
                }
                inputs.absentPaths += taken.absent
            }
        }
        return .success(inputs)
    }

    /// Adds what a compile-and-link call's link read, and could have read instead, to its recording;
    /// the counter of why it cannot be stored otherwise.
    func recordLink(_ fresh: FreshCompile, into recorded: inout DependencyRecorder.Recording) -> Counter? {
        let link: LinkInputs
        switch linkInputs(dependencyText: fresh.linkDependencyText, read: fresh.linkRead) {
        case .success(let value): link = value
        case .failure(let why):
            log.write("not stored: \(why)")
            return .linkInputsUnknown
        }
        let now = Clock.nowNanoseconds()
        for path in link.files {
            // What the link read was hashed before returning; the programs that link, now.
            let known = fresh.linkRead[path]
            guard let status = known?.status ?? (try? FileSystem.status(path)),
                  let digest = known?.digest ?? (try? FileSystem.readFile(path)).map(Digest.of) else {
                log.write("not stored: \(path), which the link read, cannot be read")
                return .linkInputsUnknown
            }
            guard configuration.compatibility.acceptsNewDependency(status, compileStart: fresh.start) else {
                log.write("not stored: \(path), which the link read, changed while it ran")
                return .tooNewDependency
            }
            recorded.files.append(RecordedFile(path: path, digest: digest, status: status,
                                               statTrusted: StatTrust.isSettled(status, now: now)))
        }
        let known = Set(recorded.absentPaths)
        recorded.absentPaths += link.absentPaths.filter { !known.contains($0) }
        return nil
    }

    /// The `ld` collect2 runs: `real-ld`, `collect-ld`, then `ld` in the compiler's program directories,
    /// then `ld` in `PATH`; the names tried before it are recorded absent. With `-fuse-ld=NAME`, `ld.NAME`
    /// is searched instead of `ld` (gcc 12's collect2), after the same two names.
    func collectLinker(_ inputs: inout LinkInputs) -> String? {
        let linkerName = LinkOptions.chosenLinker(request.arguments).map { "ld." + $0 } ?? "ld"
        guard let printed = try? ChildProcess.runCapturing(compilerPath, [compilerPath, "-print-search-dirs"]), printed.status.succeeded
        else { return nil }
        var programs: [String] = []
        for line in printed.stdout.split(separator: 0x0a) where line.starts(with: "programs: =".utf8) {
            programs = String(decoding: line.dropFirst(11), as: UTF8.self).split(separator: ":").map(String.init)
        }
        let path = (lookup("PATH") ?? "").split(separator: ":").map(String.init)
        for name in ["real-ld", "collect-ld"] {
            for directory in programs + path {
                let candidate = Path.join(directory, name)
                // One that exists would be the linker: not followed.
                if ((try? FileSystem.statusIfExists(candidate)) ?? nil) != nil { return nil }
                inputs.absentPaths.append(candidate)
            }
        }
        for directory in programs + path {
            let candidate = Path.join(directory, linkerName)
            if access(candidate, X_OK) == 0, (try? FileSystem.status(candidate))?.isRegularFile == true {
                inputs.files.append(candidate)
                return candidate
            }
            inputs.absentPaths.append(candidate)
        }
        return nil
    }
}

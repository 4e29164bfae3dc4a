import Glibc

/// Whether a compile's outputs may depend on where its moving paths (store hashes, random temp-dir names,
/// the checkout root) point, and why: decided from what the compile reads, never from a search of what it
/// wrote.
///
/// Why the rule is complete. A compiler learns a path only from its command line, its environment and the
/// files it reads, and passes it on to its outputs only through these channels (gcc's "Standard Predefined
/// Macros" and "Other Builtins", clang's "Builtin Macros" and "Source location builtins"):
/// - the macros `__FILE__`, `__BASE_FILE__`, `__FILE_NAME__` (and clang's `__FILEW__`): the preprocessor
///   expands them, so the preprocessed text holds their value;
/// - the builtins `__builtin_FILE`, `__builtin_FILE_NAME` and `__builtin_source_location` (behind
///   `std::source_location`), evaluated after preprocessing: their names stay in the preprocessed text;
/// - any text that spells the path: a header's `#define DATADIR "/nix/store/…"`, a `-D` value, a forced
///   include, a name formed by `#` or `##`: after preprocessing it stands in the text as the compiler sees it,
///   whichever macro carried it there;
/// - the compiler's own records of where it compiled and of the files its lines came from: debug
///   information and split DWARF, coverage notes and profile data paths, sanitizer metadata, OpenMP source
///   locations, recorded switches, LTO bytecode, unique internal-linkage names, offloading, assembler
///   options (`-Wa,`), each turned on by an option (gcc "Options for Debugging Your Program", "Program
///   Instrumentation Options"; clang's command-line reference). These records can hold only paths the
///   compiler knows: the working directory, the source, the output, the files it read, the file names of
///   line markers (`#line`) and the options (gcc's record of its switches leaves out search directories
///   and macros); when none of them holds a moving part, neither do the records;
/// - the source's base name in the symbol table (`STT_FILE`) and in constructor names
///   (`_GLOBAL__sub_I_<name>`).
/// So the preprocessed text searched for the moving parts and the builtins' names (line markers too where
/// the compiler keeps records), the recording options with the paths they can record, and the source's
/// name decide it. A path that reaches the object through any of them may arrive there in any form — one
/// character, a length, a hash, a wide or UTF-16 string — so such a compile is moved only where a fresh
/// compile in a new place agreed with the patched result, or it is keyed by its real paths.
public struct PathDependence: Equatable, Sendable {
    public enum Kind: UInt8, Sendable, Comparable {
        /// Nothing the compile reads names a moving path: its outputs hold none, and serve anywhere.
        case none = 0
        /// The compiler's own records (debug information, instrumentation, the symbol table): how exactly a
        /// patch fits is a property of the compiler and its options, so a disagreement speaks for the class.
        case compiler = 1
        /// The unit's own text reads a moving path: a disagreement speaks for this unit only.
        case unit = 2

        public static func < (a: Kind, b: Kind) -> Bool { a.rawValue < b.rawValue }
    }

    public var kind: Kind
    /// What made it so, for the log and `incrcc explain`: an option, or a file and line.
    public var reason: String

    public init(_ kind: Kind = .none, _ reason: String = "") {
        self.kind = kind
        self.reason = reason
    }

    public static let independent = PathDependence()

    /// The stronger of two findings (a unit's own reading outranks the compiler's records).
    public func joined(_ other: PathDependence) -> PathDependence {
        other.kind > kind ? other : self
    }

    /// Options that make the compiler record paths of its own accord (besides `-g`, coverage and profile
    /// generation, which the classifier already reports). Checked against gcc 12's and clang's manuals.
    static let recordingPrefixes = [
        "-fsanitize=", "-fsanitize-coverage", "-frecord-gcc-switches", "-frecord-command-line", "-flto", "-ffat-lto-objects",
        "-funique-internal-linkage-names", "-fopenmp", "-foffload", "--offload", "-fgpu-rdc", "-fcuda",
        "-Wa,", "-Xassembler", "-fcoverage", "-fprofile-arcs", "-fprofile-generate", "-fprofile-instr-generate",
        "-fprofile-update", "-fprofile-abs-path", "-ftest-coverage", "--coverage", "-fxray-instrument", "-fpatchable-function-entry",
    ]

    /// The option that makes the compiler keep records of where it compiled, if any.
    static func recordingOption(_ request: CompileRequest) -> String? {
        if request.debugInfo { return "debug information (-g)" }
        for argument in request.keyedArguments {
            for prefix in recordingPrefixes where argument.hasPrefix(prefix) { return "the option \(argument)" }
            if argument == "-fverbose-asm", request.producesAssembly { return "the option -fverbose-asm" }
        }
        return nil
    }

    /// Options whose values the compiler's records leave out (gcc's `DW_AT_producer` lists the switches
    /// that decide code, not search directories or macros; checked with gcc 12), unless it is told to
    /// record the whole command line or macros (`-g3`).
    static let unrecordedOptions: Set<String> = [
        "-I", "-isystem", "-iquote", "-idirafter", "-D", "-U", "-include", "-imacros", "-iprefix", "-iwithprefix",
        "-iwithprefixbefore", "-MF", "-MT", "-MQ", "-o",
    ]

    static func recordsWholeCommandLine(_ request: CompileRequest) -> Bool {
        request.keyedArguments.contains { argument in
            argument.hasPrefix("-frecord-gcc-switches") || argument.hasPrefix("-grecord-command-line")
                || argument.hasPrefix("-frecord-command-line") || (argument.hasPrefix("-g") && argument.hasSuffix("3"))
        }
    }

    /// The compiler's own records (debug information, coverage notes, profile data paths, …) can hold only
    /// paths the compiler knows: the working directory, the source, the output (and the names derived from
    /// it), the files it read, and the command line's options. When none of them holds a moving part, the
    /// records hold none either, whatever the option.
    static func recordsReason(_ request: CompileRequest, currentDirectory: String, filesRead: [String],
                              mapping: PathMapping) -> String? {
        guard let option = recordingOption(request) else { return nil }
        func holds(_ text: String) -> Bool { holdsMovingPart(Array(text.utf8), mapping) }
        if holds(currentDirectory) { return "\(option) records the working directory \(currentDirectory)" }
        if holds(request.source) { return "\(option) records the source \(request.source)" }
        if holds(request.output) { return "\(option) records names derived from the output \(request.output)" }
        if let file = filesRead.first(where: holds) { return "\(option) records \(file), which the compile read" }
        let wholeLine = recordsWholeCommandLine(request)
        var recorded: String?
        request.forEachKeyedOption { option, value in
            guard recorded == nil else { return }
            if let value {
                if (wholeLine || !unrecordedOptions.contains(option)) && holds(value) { recorded = option + " " + value }
            } else if holds(option),
                      wholeLine || !unrecordedOptions.contains(where: { option.hasPrefix($0) && option.count > $0.count }) {
                recorded = option
            }
        }
        return recorded.map { "\(option) records the option \($0)" }
    }

    /// The source's name as the compiler records it in the symbol table (its base name: `STT_FILE` and
    /// `_GLOBAL__sub_I_<name>`, checked with gcc 12 and clang) holds a moving part.
    static func sourceNameReason(_ request: CompileRequest, mapping: PathMapping) -> String? {
        let recorded = Path.baseName(request.source)
        guard holdsMovingPart(Array(recorded.utf8), mapping) else { return nil }
        return "the object's symbol table names the source \(recorded)"
    }

    /// Names whose presence in the text means the compile may read its own path.
    static let pathMacroNames: [[UInt8]] = ["__FILE", "__BASE_FILE__", "__builtin_FILE", "__builtin_source_location"]
        .map { Array($0.utf8) }
    /// After preprocessing, macros are gone: only the builtins evaluated later keep their names.
    static let pathBuiltinNames: [[UInt8]] = ["__builtin_FILE", "__builtin_source_location"].map { Array($0.utf8) }

    static func holdsMovingPart(_ bytes: [UInt8], _ mapping: PathMapping) -> Bool {
        firstMovingPart(in: bytes, mapping, from: 0) != nil
    }

    /// Where a moving part of `mapping` first stands in `bytes` at or after `offset`.
    static func firstMovingPart(in bytes: [UInt8], _ mapping: PathMapping, from offset: Int) -> Int? {
        var first: Int?
        for pair in mapping.pairs {
            if let found = ByteSearch.find(pair.real, in: bytes, from: offset), found < (first ?? Int.max) { first = found }
        }
        if let checkout = mapping.checkout, let found = PathMapping.checkoutOccurrence(of: checkout, in: bytes, from: offset),
           found < (first ?? Int.max) {
            first = found
        }
        return first
    }

    /// A cheap first look at the texts the compile read (and the macro definitions of its command line):
    /// false when none names a path macro or builtin nor spells a moving part, so preprocessing again cannot
    /// find anything either.
    static func textsMayReadPath(_ texts: [[UInt8]], _ mapping: PathMapping) -> Bool {
        texts.contains { text in
            pathMacroNames.contains { ByteSearch.find($0, in: text) != nil } || holdsMovingPart(text, mapping)
        }
    }

    /// Searches preprocessed text for a moving part or a path builtin outside line markers; the first one
    /// found, as `file:line: what`, with the file and line the markers give. `recording`: the compiler keeps
    /// records of the files lines came from (debug information, coverage), so a marker's file name that
    /// holds a moving part (a `#line` of generated code) counts too.
    static func searchPreprocessed(_ text: [UInt8], _ mapping: PathMapping, recording: Bool = false) -> String? {
        var file = "<input>"
        var line = 1
        var start = 0
        while start < text.count {
            let end = text[start...].firstIndex(of: UInt8(ascii: "\n")) ?? text.count
            let content = Array(text[start..<end])
            if let marker = lineMarker(content) {
                if recording, holdsMovingPart(Array(marker.file.utf8), mapping) {
                    return "\(file):\(line): the compiler records the file name \(marker.file) of a line marker"
                }
                file = marker.file
                line = marker.line
            } else {
                if holdsMovingPart(content, mapping) {
                    return "\(file):\(line): the code spells a moving path (\(excerpt(content, mapping)))"
                }
                for name in pathBuiltinNames where ByteSearch.find(name, in: content) != nil {
                    return "\(file):\(line): the code calls \(String(decoding: name, as: UTF8.self))"
                }
                line += 1
            }
            start = end + 1
        }
        return nil
    }

    /// `# 12 "file" flags` (gcc and clang) or `#line 12 "file"`.
    static func lineMarker(_ content: [UInt8]) -> (line: Int, file: String)? {
        guard content.first == UInt8(ascii: "#") else { return nil }
        var index = 1
        if content.count >= 5, content[1..<5].elementsEqual("line".utf8) { index = 5 }
        while index < content.count, content[index] == UInt8(ascii: " ") { index += 1 }
        var line = 0
        let digits = index
        while index < content.count, content[index] >= 0x30, content[index] <= 0x39, line < 100_000_000 {
            line = line * 10 + Int(content[index] - 0x30)
            index += 1
        }
        guard index > digits else { return nil }
        while index < content.count, content[index] == UInt8(ascii: " ") { index += 1 }
        guard index < content.count, content[index] == UInt8(ascii: "\"") else { return (line, "<input>") }
        var name: [UInt8] = []
        index += 1
        while index < content.count, content[index] != UInt8(ascii: "\"") {
            if content[index] == UInt8(ascii: "\\"), index + 1 < content.count { index += 1 }
            name.append(content[index])
            index += 1
        }
        return (line, String(decoding: name, as: UTF8.self))
    }

    /// The line around the first moving part, shortened for a message.
    static func excerpt(_ content: [UInt8], _ mapping: PathMapping) -> String {
        let at = firstMovingPart(in: content, mapping, from: 0) ?? 0
        let low = max(0, at - 30)
        let high = min(content.count, at + 50)
        let text = String(decoding: content[low..<high], as: UTF8.self).trimmingSpaces()
        return (low > 0 ? "…" : "") + text + (high < content.count ? "…" : "")
    }
}

extension String {
    fileprivate func trimmingSpaces() -> String {
        var scalars = Substring(self)
        while scalars.first == " " || scalars.first == "\t" { scalars.removeFirst() }
        while scalars.last == " " || scalars.last == "\t" { scalars.removeLast() }
        return String(scalars)
    }
}

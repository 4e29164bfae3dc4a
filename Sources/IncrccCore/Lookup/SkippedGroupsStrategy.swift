/// Hits across a header edit the preprocessor never reaches: text changed only inside `#ifdef FEATURE`
/// while nothing defines `FEATURE`, or inside `#if 0` (`ConditionalSkeleton` says when). ccache's
/// preprocessed output is unchanged there and it hits; incrcc decides it from the header's skeleton, kept
/// beside the manifest when the entry was stored, without running the preprocessor.
///
/// Only one header of an entry may differ (a second one's skipped text could define what the first
/// tests), the entry's other files and absent paths must hold as in a plain lookup, and the call must not
/// record the headers' bytes elsewhere: clang's DWARF 5 line tables hold an MD5 of each file (measured:
/// `-g` objects differ), a precompiled header holds macros of its own.
extension CachedCompile {
    /// Entries of a manifest looked at, newest first: the newest are the likeliest neighbours.
    static let skippedGroupsEntries = 8

    /// The find face: entries of the manifest whose one changed header changed only where the
    /// preprocessor skips (or in comments, where the result printed nothing).
    func findAcrossSkippedGroups(_ call: Call, notes: LookupNotes?, consider: Consider) -> Bool {
        guard skeletonsApply(call) else {
            notes?.add("not tried: an option of this call reads or records more than the preprocessor makes of a header")
            return false
        }
        guard let payload = store.read(call.directKey, kind: .manifest),
              let manifest = try? Manifest.decode(payload) else { return false }
        let matcher = ManifestMatcher(mapping: call.mapping, variable: lookup)
        for (index, entry) in manifest.entries.prefix(Self.skippedGroupsEntries).enumerated() {
            let label = "entry \(index + 1) of \(manifest.entries.count)"
            let proof: SkippedGroupsProof
            switch acrossSkippedGroups(entry, matcher, call) {
            case .success(let value): proof = value
            case .failure(let refusal):
                notes?.add("\(label): " + (refusal.reason ?? "not a single header's edit"))
                continue
            }
            if proof.kind != .skippedGroups, !printedNothing(entry.result) {
                log.write("its result printed diagnostics, which quote the edited lines: not served across comments")
                notes?.add("\(label): only comments changed, but its result printed diagnostics, which quote the edited lines")
                continue
            }
            notes?.subject = "\(label): " + proof.summary(call.mapping)
            let candidate = LookupCandidate(
                strategy: .skippedGroups, call: call, result: entry.result,
                counter: proof.kind.counter,
                settlement: .directEntry(files: proof.entry.files, absentPaths: entry.absentPaths, skeleton: proof))
            if consider(self, candidate) { return true }
        }
        return false
    }

    /// What an edit a header's result is served across changed.
    enum EditKind {
        /// Text inside conditional groups the preprocessor skips.
        case skippedGroups
        /// Comments and trailing blanks: every token keeps its line and column.
        case comments
        /// No token (`TokenText`): lines and columns moved, or a definition of a macro nothing names.
        case tokens

        var counter: Counter {
            switch self {
            case .skippedGroups: return .skippedGroupHit
            case .comments: return .commentEditHit
            case .tokens: return .tokenEditHit
            }
        }

        var description: String {
            switch self {
            case .skippedGroups: return "in conditional groups the preprocessor skips"
            case .comments: return "in comments and trailing blanks"
            case .tokens: return "where no token changes (lines, white space, macros nothing names)"
            }
        }
    }

    /// Whether a stored result wrote nothing to stdout or stderr.
    func printedNothing(_ result: Digest) -> Bool {
        guard let data = store.read(result, kind: .result), let stored = try? CachedResult.decode(data) else { return false }
        return stored.stdout.isEmpty && stored.stderr.isEmpty
    }

    /// Why an entry's difference is not one of skipped groups: nil when the entry differs otherwise than
    /// by one header's bytes (then the rule does not apply).
    struct NotSkippedOnly: Error {
        var reason: String?
    }

    /// An entry whose one changed header changed only in groups the preprocessor skips: the entry with
    /// that header as it is now, and the skeleton of its new text, kept once the entry is served.
    struct SkippedGroupsProof {
        var entry: ManifestEntry
        var changed: Int
        var skeleton: ConditionalSkeleton
        /// The header changed only in comments and trailing blanks (not in skipped groups): its result may
        /// be served only where it printed nothing, since a diagnostic quotes the source line.
        var kind: EditKind = .skippedGroups

        /// What changed and why it does not matter, for `incrcc explain`.
        func summary(_ mapping: PathMapping) -> String {
            mapping.restore(entry.files[changed].path) + " changed, but only "
                + kind.description
        }
    }

    /// The proof for `entry`, when its one changed header changed only in groups the preprocessor skips
    /// and everything else of the entry holds.
    func acrossSkippedGroups(_ entry: ManifestEntry, _ matcher: ManifestMatcher, _ call: Call)
        -> Result<SkippedGroupsProof, NotSkippedOnly> {
        guard skeletonsApply(call), let (index, bytes, status) = singleDifference(entry, matcher) else {
            return .failure(NotSkippedOnly())
        }
        let path = call.mapping.restore(entry.files[index].path)
        let skeleton: ConditionalSkeleton
        let kind: EditKind
        switch skippedOnly(entry, index, bytes, call) {
        case .success(let value): (skeleton, kind) = value
        case .failure(let refusal):
            let reason = "\(path) changed: \(refusal.reason ?? "")"
            log.write(reason)
            return .failure(NotSkippedOnly(reason: reason))
        }
        log.write("\(path) changed, but only " + kind.description)
        var updated = entry
        updated.files[index].digest = Digest.of(bytes)
        updated.files[index].status = status
        // The stat stands for these bytes only if it is the same after they were read.
        let unchanged = (try? FileSystem.status(path))?.sameContentAs(status) == true
        updated.files[index].statTrusted = unchanged && StatTrust.isSettled(status, now: Clock.nowNanoseconds())
        return .success(SkippedGroupsProof(entry: updated, changed: index, skeleton: skeleton, kind: kind))
    }

    /// Keeps the changed header's skeleton of a served entry, for its next edit.
    func keepSkeleton(_ proof: SkippedGroupsProof) {
        try? store.write(ConditionalSkeleton.key(of: proof.entry.files[proof.changed].digest), kind: .fileFacts,
                         payload: proof.skeleton.encode())
    }

    /// Whether nothing of the call records a header's bytes beyond what the preprocessor makes of them.
    func skeletonsApply(_ call: Call) -> Bool {
        // C and C++ only: the assembler's preprocessor lexes quotes and comments otherwise.
        guard [.c, .cxx, .objc, .objcxx].contains(request.language), !request.profileArcs,
              request.coverageNotesOutput == nil else { return false }
        if request.debugInfo && call.compiler.family != .gcc { return false }
        // Readings of the text other than the compilers' usual one.
        let refused: Set<String> = ["-traditional", "-traditional-cpp", "-fdirectives-only", "-C", "-CC",
                                    "-fmodules", "-trigraphs", "-Xpreprocessor", "--coverage", "-ftest-coverage"]
        return !request.keyedArguments.contains {
            refused.contains($0) || $0.hasPrefix("-Wp,") || $0.hasPrefix("-fmodule") || $0.hasPrefix("--traditional")
                || $0.hasPrefix("-fprofile") || $0.hasPrefix("-fcoverage")
        }
    }

    /// Whether an edit of comments alone compiles alike for this call: beyond `skeletonsApply`, no option
    /// that reads comments or trailing blanks (clang's `-Wdocumentation`, in `-Weverything` too; gcc's
    /// `-Wimplicit-fallthrough=1`, which takes any comment for a fall-through statement; warnings on
    /// white space), and not C90, where `//` opens no comment.
    func commentEditsApply(_ call: Call) -> Bool {
        if request.language == .c || request.language == .objc {
            let c90 = ["-ansi", "-std=c89", "-std=c90", "-std=iso9899:1990", "-std=iso9899:199409"]
            if request.keyedArguments.contains(where: c90.contains) { return false }
        }
        return !request.keyedArguments.contains { argument in
            argument.hasPrefix("-Wdocumentation") || argument == "-Weverything" || argument.hasPrefix("-Wimplicit-fallthrough=1")
                || argument.hasPrefix("-Wtrailing-whitespace") || argument.hasPrefix("-Wleading-whitespace")
                || argument.hasPrefix("-fparse-all-comments") || argument.hasPrefix("-fcomment-block-commands")
        }
    }

    /// The one file of `entry` whose bytes changed, when all else holds: its index, bytes and stat.
    func singleDifference(_ entry: ManifestEntry, _ matcher: ManifestMatcher)
        -> (index: Int, bytes: [UInt8], status: FileStatus)? {
        var found: (Int, [UInt8], FileStatus)?
        for (index, file) in entry.files.enumerated() {
            switch matcher.check(file, readingChanged: found == nil) {
            case .same, .hashedSame: continue
            case .unknown: return nil
            case .differs(let bytes, let status):
                guard found == nil else { return nil }
                found = (index, bytes, status)
            }
        }
        guard let found, matcher.absentPathsHold(entry) else { return nil }
        return found
    }

    /// The skeleton of `bytes` when the header at `index` of `entry`, now `bytes`, compiles as the version
    /// the entry read; otherwise why not.
    func skippedOnly(_ entry: ManifestEntry, _ index: Int, _ bytes: [UInt8], _ call: Call)
        -> Result<(ConditionalSkeleton, kind: EditKind), NotSkippedOnly> {
        func refused(_ reason: String) -> Result<(ConditionalSkeleton, kind: EditKind), NotSkippedOnly> {
            .failure(NotSkippedOnly(reason: reason))
        }
        let changed = entry.files[index]
        if changed.path.hasSuffix(".gch") || changed.path.hasSuffix(".pch") { return refused("a precompiled header") }
        guard let stored = store.read(ConditionalSkeleton.key(of: changed.digest), kind: .fileFacts),
              let old = try? ConditionalSkeleton.decode(stored) else { return refused("no skeleton of its earlier text") }
        guard let new = ConditionalSkeleton(parsing: bytes) else { return refused("its conditionals are not followed") }
        var kind: EditKind = commentEditsApply(call) && new.differsOnlyInComments(from: old) ? .comments : .skippedGroups
        var tokenRefusal: String?
        if kind == .skippedGroups, commentEditsApply(call), let mine = new.tokens, let theirs = old.tokens,
           let changedNames = mine.changedDefinitions(from: theirs) {
            tokenRefusal = tokenEditRefusal(entry, index, bytes, changed: changedNames, call)
            if tokenRefusal == nil { kind = .tokens }
        }
        guard kind != .skippedGroups || new.frame == old.frame else {
            return refused(tokenRefusal.map { "no token changed, but " + $0 } ?? "outside its conditional groups and comments")
        }
        // gcc's `#pragma once` takes a file with the same size, time and bytes as one already read for that
        // file: an edit can end such a likeness, so no other file may have either version's size.
        let sizes: Set<Int64> = [Int64(changed.status.size), Int64(bytes.count)]
        for (other, file) in entry.files.enumerated() where other != index && !file.isVariable {
            if sizes.contains(Int64(file.status.size)) { return refused("another file read has the same size") }
            if file.path.hasSuffix(".gch") || file.path.hasSuffix(".pch") {
                return refused("a precompiled header holds macros of its own")
            }
        }
        if kind != .skippedGroups { return .success((new, kind: kind)) }
        // What could define a name, gathered once a group's decision needs it (`#if 0` needs none): the
        // compiler's predefined macros, every other file the compile read as it reads them now (the same
        // bytes as the entry's), the options and the variables keyed with them (`CCC_OVERRIDE_OPTIONS`
        // can add a `-D`).
        var definers: (predefined: Set<String>, written: MentionedIdentifiers)??
        func gatherDefiners() -> (predefined: Set<String>, written: MentionedIdentifiers)? {
            let flags = PreprocessorOptions(arguments: request.macroAffectingArguments, environment: [],
                                            language: request.language, normalize: { $0 }).remaining
            guard let predefined = CompilerMacros.names(compiler: call.compiler, language: request.language,
                                                        flags: flags, cacheDirectory: store.directory) else { return nil }
            var written = MentionedIdentifiers()
            written.add(call.source, origin: request.source)
            for (other, file) in entry.files.enumerated() where other != index && !file.isVariable {
                let path = call.mapping.restore(file.path)
                guard let text = try? FileSystem.readFile(path) else { return nil }
                written.add(text, origin: path)
            }
            return written.unreadable == nil ? (predefined, written) : nil
        }
        let arguments = request.keyedArguments + call.key.environment.map(\.value)
        let alike = new.compilesAlike(old) { name in
            guard let first = name.utf8.first, first != UInt8(ascii: "_"), !MacroNameRules.keywords.contains(name),
                  !arguments.contains(where: { $0.holds(name) }) else { return false }
            if definers == nil { definers = .some(gatherDefiners()) }
            guard let known = definers ?? nil else { return false }
            return !known.predefined.contains(name) && !known.written.contains(name)
        }
        return alike ? .success((new, kind: .skippedGroups)) : refused("inside groups that may be compiled")
    }

    /// Keeps the skeleton of each header a stored entry read (outside the compiler's own directories, which
    /// change with the compiler), under the digest the manifest has of it, for `skippedGroupsLookup`.
    func recordSkeletons(_ recorded: DependencyRecorder.Recording) {
        for file in recorded.files where !file.isVariable {
            let path = file.path
            guard !path.hasSuffix(".gch"), !path.hasSuffix(".pch"),
                  !recorded.builtin.contains(where: { path.hasPrefix($0.hasSuffix("/") ? $0 : $0 + "/") }),
                  recorded.read[path]?.digest == file.digest else { continue }
            let key = ConditionalSkeleton.key(of: file.digest)
            if store.files.status(store.path(for: key, kind: .fileFacts)) != nil { continue }
            guard let bytes = try? FileSystem.readFile(path), Digest.of(bytes) == file.digest,
                  let skeleton = ConditionalSkeleton(parsing: bytes),
                  !skeleton.groups.isEmpty || skeleton.commentFree != nil else { continue }
            do {
                try store.write(key, kind: .fileFacts, payload: skeleton.encode())
            } catch {
                log.write("cannot keep the conditional skeleton of \(path): \(error)")
                return
            }
        }
    }
}

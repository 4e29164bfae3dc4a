/// A header taken apart along its conditional groups, to tell that an edit changed only text the
/// preprocessor skips: then the compiler sees the same tokens on the same lines (ccache's preprocessed
/// output is unchanged and it hits), while the header's digest differs.
///
/// A group is the lines between two directives of one `#if` chain. Each keeps a digest of its text, a
/// digest of its frame (its text with the groups inside it reduced to their line counts) and whether it
/// is skipped in silence; the file keeps its own frame. Two versions of a file compile alike when their
/// frames are equal and each group whose text differs is either skipped for certain in both and quiet in
/// both, or compiles alike by the same rule one level down. Skipped for certain: `#ifdef X` or
/// `defined X` where nothing can define `X` (no file of the compile writes it, the command line does not,
/// the compiler does not predefine it), `#if 0`, and the groups after a test certainly true in the same
/// chain. Line counts are part of the frames, so every line keeps its number (`__LINE__`, line tables,
/// diagnostics).
///
/// Measured with gcc 12 and clang 14 (objects compared byte for byte): edits inside a skipped group leave
/// the object unchanged, except clang's DWARF 5 line table, which holds each file's MD5 (`-g`), and gcc's
/// warning for an unclosed quote in a skipped line (stderr changes): both are kept out by the callers and
/// by `quiet`.
public struct ConditionalSkeleton: Equatable {
    public struct Group: Equatable {
        public var content: Digest
        public var frame: Digest
        public var quiet: Bool
        /// The name its opening line tests is written nowhere else in the file (lines that only test names
        /// aside), so the file itself cannot define it.
        public var nameFree: Bool
        /// Groups nested inside it, which follow it in `groups`.
        public var descendants: Int
    }

    public var frame: Digest
    /// In the order their opening lines come.
    public var groups: [Group]
    /// The digest of the file's comment-free text (`CommentFreeText`); nil where that cannot be relied on.
    /// Two versions with the same one differ only in comments and trailing blanks.
    public var commentFree: Digest?
    /// The file's tokens without their places (`TokenText`); nil where that cannot be relied on.
    var tokens: TokenText?
    /// Known from the text only (not stored): what each group's opening line tests (nil for `#else`) and
    /// where its chain starts.
    var tests: [ConditionalLines.Test?] = []
    var chainStarts: [Int] = []

    /// Label of the store key under which a header's skeleton is kept, by the digest a manifest has of it.
    static func key(of digest: Digest) -> Digest {
        var hasher = StreamingHasher()
        // 3: with the token text.
        hasher.update("conditional skeleton 3\u{0}")
        hasher.update(digest)
        return hasher.finalize()
    }

    /// Nil when the reading is refused (`ConditionalLines`) or the chains do not nest.
    public init?(parsing bytes: [UInt8]) {
        guard let reading = ConditionalLines(bytes) else { return nil }
        let lines = reading.lines
        var tests: [ConditionalLines.Test?] = []
        var chainStarts: [Int] = []
        var openers: [Int] = []
        var closers: [Int] = []
        var parents: [Int] = []
        var openedAt = [Int](repeating: -1, count: lines.count)
        var open: [Int] = []
        for (index, line) in lines.enumerated() {
            guard let conditional = line.conditional else { continue }
            func start(_ test: ConditionalLines.Test?, chainStart: Int?, parent: Int) {
                let group = openers.count
                openers.append(index)
                closers.append(-1)
                parents.append(parent)
                tests.append(test)
                chainStarts.append(chainStart ?? group)
                openedAt[index] = group
            }
            switch conditional {
            case .open(let test):
                start(test, chainStart: nil, parent: open.last ?? -1)
                open.append(openers.count - 1)
            case .elif, .otherwise:
                // `#elif` or `#else` after `#else` is an error the compilers report.
                guard let current = open.last, tests[current] != nil else { return nil }
                closers[current] = index
                if case .elif(let test) = conditional {
                    start(test, chainStart: chainStarts[current], parent: parents[current])
                } else {
                    start(nil, chainStart: chainStarts[current], parent: parents[current])
                }
                open[open.count - 1] = openers.count - 1
            case .end:
                guard let current = open.popLast() else { return nil }
                closers[current] = index
            }
        }
        guard open.isEmpty else { return nil }

        func frame(_ from: Int, _ to: Int) -> Digest {
            var hasher = StreamingHasher()
            var index = from
            while index < to {
                let line = lines[index]
                hasher.update(UInt64(line.end - line.start))
                bytes.withUnsafeBytes { hasher.update(raw: UnsafeRawBufferPointer(rebasing: $0[line.start..<line.end])) }
                let group = openedAt[index]
                guard group >= 0 else {
                    index += 1
                    continue
                }
                hasher.update(UInt64.max)
                hasher.update(UInt64(lines[(index + 1)..<closers[group]].reduce(0) { $0 + $1.physicalLines }))
                index = closers[group]
            }
            return hasher.finalize()
        }

        // Names written anywhere but in lines that only test a name: what the file could define.
        var masked = bytes
        for line in lines {
            switch line.conditional {
            case .open(.defined), .open(.undefined), .elif(.defined), .elif(.undefined):
                for index in line.start..<line.end where masked[index] != 0x0a { masked[index] = 0x20 }
            default: continue
            }
        }
        var written = MentionedIdentifiers()
        written.add(masked, origin: "")

        var groups: [Group] = []
        for group in 0..<openers.count {
            let first = openers[group] + 1
            let stop = closers[group]
            let content = stop > first ? Digest.of(Array(bytes[lines[first].start..<lines[stop].start])) : Digest.of([])
            var descendants = 0
            while group + descendants + 1 < openers.count, openers[group + descendants + 1] < stop { descendants += 1 }
            var nameFree = false
            switch tests[group] {
            case .defined(let name), .undefined(let name):
                nameFree = written.unreadable == nil && !written.contains(name)
            default: break
            }
            groups.append(Group(content: content, frame: frame(first, stop),
                                quiet: lines[first..<stop].allSatisfy(\.quiet), nameFree: nameFree,
                                descendants: descendants))
        }
        self.frame = frame(0, lines.count)
        self.groups = groups
        self.tests = tests
        self.chainStarts = chainStarts
        let blanked = CommentFreeText.blanked(bytes)
        self.commentFree = blanked.map(CommentFreeText.digest(ofBlanked:))
        self.tokens = blanked.flatMap { TokenText(blanked: $0) }
    }

    init(frame: Digest, groups: [Group], commentFree: Digest? = nil, tokens: TokenText? = nil) {
        self.frame = frame
        self.groups = groups
        self.commentFree = commentFree
        self.tokens = tokens
    }

    /// Whether this text differs from the one `old` was taken of only in comments and trailing blanks.
    public func differsOnlyInComments(from old: ConditionalSkeleton) -> Bool {
        guard let mine = commentFree, let theirs = old.commentFree else { return false }
        return mine == theirs
    }

    /// Whether a file whose skeleton was `old` compiles as this one does, `isUndefined` telling which names
    /// nothing in the compile can define.
    public func compilesAlike(_ old: ConditionalSkeleton, isUndefined: (String) -> Bool) -> Bool {
        old.frame == frame && childrenAlike(old, old: 0, oldEnd: old.groups.count, new: 0, newEnd: groups.count,
                                            isUndefined: isUndefined)
    }

    /// The groups of one level (a file, or a group's inside), from `old` and from this text.
    func childrenAlike(_ old: ConditionalSkeleton, old oldStart: Int, oldEnd: Int, new newStart: Int, newEnd: Int,
                       isUndefined: (String) -> Bool) -> Bool {
        var o = oldStart
        var n = newStart
        var earlierTaken = false
        while o < oldEnd, n < newEnd {
            if chainStarts[n] == n { earlierTaken = false }
            let was = old.groups[o]
            let now = groups[n]
            // What the opening line's test certainly gives in both versions; nil when not certain.
            var certain: Bool?
            switch tests[n] {
            case .constant(let value)?: certain = value
            case .defined(let name)?: if was.nameFree, now.nameFree, isUndefined(name) { certain = false }
            case .undefined(let name)?: if was.nameFree, now.nameFree, isUndefined(name) { certain = true }
            default: break
            }
            if was.content != now.content {
                if earlierTaken || certain == false {
                    guard was.quiet, now.quiet else { return false }
                } else {
                    guard was.frame == now.frame,
                          was.descendants <= oldEnd - o - 1, now.descendants <= newEnd - n - 1,
                          childrenAlike(old, old: o + 1, oldEnd: o + 1 + was.descendants, new: n + 1,
                                        newEnd: n + 1 + now.descendants, isUndefined: isUndefined)
                    else { return false }
                }
            }
            if certain == true { earlierTaken = true }
            o += 1 + was.descendants
            n += 1 + now.descendants
        }
        return o == oldEnd && n == newEnd
    }

    /// The stored form: the frames, digests and flags (the tests come from the text compared with).
    func encode() -> [UInt8] {
        var writer = ByteWriter()
        writer.write(frame)
        writer.write(UInt64(groups.count))
        for group in groups {
            writer.write(group.content)
            writer.write(group.frame)
            writer.write((group.quiet ? 1 : 0) | (group.nameFree ? 2 : 0) as UInt8)
            writer.write(UInt32(group.descendants))
        }
        writer.write(UInt8(commentFree == nil ? 0 : 1))
        if let commentFree { writer.write(commentFree) }
        writer.write(UInt8(tokens == nil ? 0 : 1))
        if let tokens {
            writer.write(tokens.digest)
            writer.write(UInt64(tokens.definitions.count))
            for definition in tokens.definitions {
                writer.write(definition.name)
                writer.write(definition.line)
            }
        }
        return writer.bytes
    }

    /// Checked as written by someone else: every subtree must lie inside its parent's.
    static func decode(_ bytes: [UInt8]) throws(MalformedEntry) -> ConditionalSkeleton {
        var reader = ByteReader(bytes)
        let frame = try reader.readDigest()
        let count = try reader.readCount(minimumItemSize: 16 + 16 + 1 + 4)
        var groups: [Group] = []
        groups.reserveCapacity(count)
        var ends: [Int] = [count]
        for index in 0..<count {
            let content = try reader.readDigest()
            let groupFrame = try reader.readDigest()
            let flags = try reader.readUInt8()
            let descendants = Int(try reader.readUInt32())
            guard flags <= 3 else { throw MalformedEntry("skeleton flags") }
            while let end = ends.last, index >= end { ends.removeLast() }
            guard let end = ends.last, index + descendants < end else { throw MalformedEntry("skeleton nesting") }
            ends.append(index + 1 + descendants)
            groups.append(Group(content: content, frame: groupFrame, quiet: flags & 1 != 0, nameFree: flags & 2 != 0,
                                descendants: descendants))
        }
        let commentFree: Digest?
        switch try reader.readUInt8() {
        case 0: commentFree = nil
        case 1: commentFree = try reader.readDigest()
        default: throw MalformedEntry("skeleton comment-free flag")
        }
        var tokens: TokenText?
        switch try reader.readUInt8() {
        case 0: break
        case 1:
            let digest = try reader.readDigest()
            let count = try reader.readCount(minimumItemSize: 8 + 16)
            var definitions: [TokenText.Definition] = []
            definitions.reserveCapacity(count)
            for _ in 0..<count {
                let name = try reader.readString()
                definitions.append(TokenText.Definition(name: name, line: try reader.readDigest()))
            }
            tokens = TokenText(digest: digest, definitions: definitions)
        default: throw MalformedEntry("skeleton token-text flag")
        }
        guard reader.isAtEnd else { throw MalformedEntry("trailing bytes") }
        return ConditionalSkeleton(frame: frame, groups: groups, commentFree: commentFree, tokens: tokens)
    }
}

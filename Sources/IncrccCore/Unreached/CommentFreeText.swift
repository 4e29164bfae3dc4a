/// A C or C++ text with its comments blanked: every byte of a comment (its delimiters included) replaced by
/// a space, newlines kept, and the blanks and tabs that end each line dropped. Two texts with the same
/// comment-free text hold the same tokens at the same lines and columns, with white space between the same
/// pairs of tokens (a comment is one space to the compiler, and blanks anywhere are a space too), so they
/// preprocess and compile alike: `__LINE__`, `__builtin_COLUMN`, line tables, stringized arguments and
/// macro redefinition checks see no difference.
///
/// What else reads comments is kept out (nil): a `/*` inside a block comment or a `//` comment continued by
/// a backslash (gcc's and clang's `-Wcomment`), bytes that are not printable ASCII in a comment (gcc 12's
/// `-Wbidi-chars`, on by default), and the word "fall" in a comment in any case (gcc's
/// `-Wimplicit-fallthrough` takes `/* falls through */` and the like, from level 2 up, as a statement);
/// the options that read every comment are refused by the caller. Anything the shared reading
/// (`ConditionalLines`) is not sure to lex as the compilers do is refused too, and so is a character or
/// string literal left open on its line.
enum CommentFreeText {
    /// The digest of the comment-free text of `bytes`, which `ConditionalLines` has read already (the
    /// skeleton's parse); nil where it cannot be relied on.
    static func digest(ofRead bytes: [UInt8]) -> Digest? {
        blanked(bytes).map(digest(ofBlanked:))
    }

    /// The digest of a blanked text, without the empty lines that end it: lines after the last token
    /// move no token.
    static func digest(ofBlanked text: [UInt8]) -> Digest {
        var hasher = StreamingHasher()
        hasher.update("comment-free text 2")
        var end = text.count
        while end > 0, text[end - 1] == 0x0a { end -= 1 }
        hasher.update(Array(text[..<end]))
        return hasher.finalize()
    }

    enum State { case code, lineComment, blockComment }

    static func blanked(_ bytes: [UInt8]) -> [UInt8]? {
        // A backslash with blanks before its newline still joins the lines, with a warning: dropping the
        // blanks would drop the warning.
        var position = 0
        while let found = ByteSearch.find([UInt8(ascii: "\\")], in: bytes, from: position) {
            var after = found + 1
            while after < bytes.count, bytes[after] == 0x20 || bytes[after] == 0x09 { after += 1 }
            if after > found + 1, after < bytes.count, bytes[after] == 0x0a || bytes[after] == 0x0d { return nil }
            position = found + 1
        }
        var out = bytes
        var state = State.code
        var commentText: [UInt8] = []
        var index = 0
        let n = bytes.count
        func commentEnds() -> Bool {
            // Checked once a comment is complete: printable ASCII, no nested opener, no fall-through word.
            defer { commentText.removeAll(keepingCapacity: true) }
            for byte in commentText where !(byte >= 0x20 && byte < 0x7f) && byte != 0x09 && byte != 0x0a { return false }
            let lowered = commentText.map { $0 >= 0x41 && $0 <= 0x5a ? $0 + 0x20 : $0 }
            return ByteSearch.find(Array("fall".utf8), in: lowered) == nil
                && ByteSearch.find(Array("/*".utf8), in: commentText) == nil
        }
        while index < n {
            let byte = bytes[index]
            let next: UInt8 = index + 1 < n ? bytes[index + 1] : 0
            switch state {
            case .lineComment:
                if byte == 0x0a {
                    // A backslash before the newline (blanks between included) continues the comment.
                    var back = index - 1
                    while back >= 0, bytes[back] == 0x20 || bytes[back] == 0x09 || bytes[back] == 0x0d { back -= 1 }
                    if back >= 0, bytes[back] == UInt8(ascii: "\\") { return nil }
                    guard commentEnds() else { return nil }
                    state = .code
                    index += 1
                    continue
                }
                commentText.append(byte)
                out[index] = 0x20
                index += 1
            case .blockComment:
                if byte == UInt8(ascii: "*"), next == UInt8(ascii: "/") {
                    out[index] = 0x20
                    out[index + 1] = 0x20
                    guard commentEnds() else { return nil }
                    state = .code
                    index += 2
                    continue
                }
                commentText.append(byte)
                if byte != 0x0a { out[index] = 0x20 }
                index += 1
            case .code:
                if byte == UInt8(ascii: "/"), next == UInt8(ascii: "/") {
                    state = .lineComment
                    out[index] = 0x20
                    out[index + 1] = 0x20
                    index += 2
                } else if byte == UInt8(ascii: "/"), next == UInt8(ascii: "*") {
                    state = .blockComment
                    out[index] = 0x20
                    out[index + 1] = 0x20
                    index += 2
                } else if byte == UInt8(ascii: "\"") || byte == UInt8(ascii: "'") {
                    // To the closing quote on the same logical line; a backslash takes the next byte.
                    var j = index + 1
                    while j < n, bytes[j] != byte {
                        if bytes[j] == 0x0a { return nil }
                        j += bytes[j] == UInt8(ascii: "\\") ? 2 : 1
                    }
                    guard j < n else { return nil }
                    index = j + 1
                } else {
                    index += 1
                }
            }
        }
        switch state {
        case .code: break
        case .lineComment: guard commentEnds() else { return nil }
        case .blockComment: return nil
        }
        // Blanks and tabs that end a line are dropped (a comment at a line's end leaves nothing behind).
        var trimmed: [UInt8] = []
        trimmed.reserveCapacity(out.count)
        var blanksFrom: Int?
        for (position, byte) in out.enumerated() {
            if byte == 0x20 || byte == 0x09 {
                if blanksFrom == nil { blanksFrom = position }
                continue
            }
            if byte != 0x0a, let from = blanksFrom { trimmed.append(contentsOf: out[from..<position]) }
            blanksFrom = nil
            trimmed.append(byte)
        }
        return trimmed
    }
}

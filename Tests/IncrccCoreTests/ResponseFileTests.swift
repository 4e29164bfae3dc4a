import Foundation
import Testing
@testable import IncrccCore

/// `@file` arguments as gcc and clang read them: expanded, keyed by what they hold, and run expanded; what
/// the two could read otherwise runs uncached with the command line as given.
@Suite(.enabled(if: Tools.required(Tools.hasIncrcc && Tools.hasGCC)), .timeLimit(Tools.suiteTimeLimit))
struct ResponseFileTests {
    static let compilers = ["gcc", "clang"].filter { Tools.required(Tools.which($0) != nil) }

    @Test func tokenizerFollowsTheCompilersQuoting() {
        func tokens(_ text: String) -> [String]? { ResponseFiles.tokenize(Array(text.utf8)) }
        #expect(tokens("-c  a.c\n\t-o out.o") == ["-c", "a.c", "-o", "out.o"])
        #expect(tokens("-DA=\"x y\" 'b c'd e\\ f") == ["-DA=x y", "b cd", "e f"])
        #expect(tokens("\"\" '' x") == ["", "", "x"])
        #expect(tokens("\"a\\\"b\" 'c\\'d'") == ["a\"b", "c'd"])
        #expect(tokens("-DX=\"unterminated") == nil)
        #expect(tokens("trailing\\") == nil)
        #expect(tokens("") == [])
    }

    /// Quoting of every kind, compiled through incrcc and plainly from the same response file: the same
    /// object (so incrcc read it as the compiler did), then a hit, then an edit of the file is a miss.
    @Test(arguments: compilers)
    func expandedArgumentsAreKeyedAndServed(compiler: String) throws {
        let s = Scratch()
        s.write("r.c", "#include <string.h>\nint f(void) { return (int)strlen(MSG) + (int)strlen(Q) + V; }\n")
        s.write("args.rsp", "-O2 \"-DMSG=\\\"hello world\\\"\" '-DQ=\"a b\"'\n-DV=1 -c r.c\n")
        try expectHitThenMissAfterEdit(compiler, "@args.rsp", in: s) {
            s.write("args.rsp", "-O2 \"-DMSG=\\\"hello world\\\"\" '-DQ=\"a b\"'\n-DV=2 -c r.c\n")
        }
    }

    /// Compiled twice from `responseFile` (compared with plain compiles: a miss, then a hit), then once more
    /// after `edit`: a miss.
    func expectHitThenMissAfterEdit(_ compiler: String, _ responseFile: String, in s: Scratch, edit: () -> Void) throws {
        for round in 0..<2 {
            try compareWithPlain(compiler, [responseFile, "-o", "r.o"], object: "r.o", in: s)
            #expect(try stats(s)["direct_cache_hit"] == round)
        }
        edit()
        try compareWithPlain(compiler, [responseFile, "-o", "r.o"], object: "r.o", in: s)
        let values = try stats(s)
        #expect(values["direct_cache_hit"] == 1 && values["cache_miss"] == 2, "\(values)")
    }

    /// A response file that is missing, unterminated, cyclic, or that names another one by a relative name
    /// from another directory (gcc resolves it against the working directory, clang against the including
    /// file's): the compiler runs as called and says what it says; nothing is cached.
    @Test func unreadableOrAmbiguousResponseFilesRunUncached() throws {
        let s = Scratch()
        s.write("r.c", "int f(void) { return 1; }\n")
        s.write("open.rsp", "-c \"r.c\n")
        s.write("loop.rsp", "-c r.c @loop.rsp\n")
        s.write("sub/outer.rsp", "-c @inner.rsp\n")
        s.write("sub/inner.rsp", "r.c\n")
        s.write("inner.rsp", "r.c\n")
        for file in ["open.rsp", "missing.rsp", "loop.rsp", "sub/outer.rsp"] {
            let cached = try incrcc(["gcc", "@" + file, "-o", "r.o"], in: s)
            let plain = try run(["gcc", "@" + file, "-o", "r.o"], in: s)
            #expect(cached.status == plain.status && cached.stderr == plain.stderr, "\(file)")
        }
        let values = try stats(s)
        #expect(values["response_file"] == 4 && (values["cache_miss"] ?? 0) == 0, "\(values)")
    }

    /// Nested response files where gcc and clang read them alike (an absolute name, or an including file
    /// in the working directory): expanded, compared with plain compiles, then a hit; an edit of the inner
    /// file is a miss.
    @Test(arguments: compilers)
    func nestedResponseFilesAreFollowed(compiler: String) throws {
        let s = Scratch()
        s.write("r.c", "int f(void) { return V + W; }\n")
        s.write("outer.rsp", "-c @inner.rsp @\(s.file("abs.rsp"))\n")
        s.write("inner.rsp", "r.c -DV=1\n")
        s.write("abs.rsp", "-DW=2\n")
        try expectHitThenMissAfterEdit(compiler, "@outer.rsp", in: s) { s.write("abs.rsp", "-DW=3\n") }
    }
}

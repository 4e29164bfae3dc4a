import Foundation
import IncrccCore
import Testing

/// A cached `.d` file written for a checkout at a path of another length must come out as the compiler
/// would have written it there: same words, lines broken where the compiler breaks them.
@Suite(.enabled(if: Tools.required(Tools.hasGCC)), .timeLimit(Tools.suiteTimeLimit))
struct DependencyLayoutTests {
    static let compilers = ["gcc", "clang"].filter { Tools.which($0) != nil }

    @Test(arguments: compilers)
    func rewrappedFileMatchesTheCompilersOwnAtEveryLength(compiler: String) throws {
        let s = Scratch()
        let layout = try #require(DependencyLayout(compiler == "gcc" ? .gcc : .clang))
        // Checkout roots from 1 to 60 characters, each with the same tree: headers with short and long
        // names, one with a space, so that lines break at many different places.
        var texts: [String: String] = [:]
        let lengths = Array(stride(from: 1, through: 60, by: 1))
        for length in lengths {
            let root = "r" + String(repeating: "x", count: length - 1)
            for (name, body) in [("a.h", "#define A 1\n"), ("some_longer_header_name.h", "#define B 2\n"),
                                 ("with space.h", "#define C 3\n"), ("z.h", "#define D 4\n")] {
                s.write("\(root)/include/\(name)", body)
            }
            s.write("\(root)/src/main.c", "#include \"a.h\"\n#include \"some_longer_header_name.h\"\n#include \"with space.h\"\n#include \"z.h\"\nint v = A + B + C + D;\n")
            let result = try run([compiler, "-MD", "-MF", "out.d", "-MT", "obj/\(root).o", "-I\(s.file(root))/include",
                                  "-c", s.file("\(root)/src/main.c"), "-o", "/dev/null"], in: s)
            #expect(result.status == 0, "\(result.stderr)")
            texts[root] = s.text("out.d")
        }
        let roots = texts.keys.sorted { $0.count < $1.count }
        var mismatches = 0
        for from in roots {
            for to in roots where to != from {
                let moved = try #require(texts[from]).replacingOccurrences(of: "/\(from)/", with: "/\(to)/")
                    .replacingOccurrences(of: "/\(from).o", with: "/\(to).o")
                let rewrapped = layout.rewrap(Array(moved.utf8)).map { String(decoding: $0, as: UTF8.self) }
                if rewrapped != texts[to] {
                    mismatches += 1
                    if mismatches == 1 { Issue.record("\(from.count) → \(to.count):\n\(rewrapped ?? "nil")\nwanted:\n\(texts[to] ?? "")") }
                }
            }
        }
        #expect(mismatches == 0)
    }

    @Test func unreadableRuleIsLeftAlone() {
        #expect(DependencyLayout.gcc.rewrap(Array("no colon here\n".utf8)) == nil)
        #expect(DependencyLayout.clang.rewrap(Array("x.o: a.h".utf8)) == nil, "no end of line")
    }
}

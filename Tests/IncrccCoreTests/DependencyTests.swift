import Testing
@testable import IncrccCore

@Suite struct DependencyFileTests {
    @Test func parsesFirstRuleWithContinuationsAndEscapes() {
        let text = "obj/a.o: src/a.c /usr/include/stdio.h \\\n include/my\\ header.h cost$$.h\n\ninclude/x.h:\n"
        #expect(DependencyFile.prerequisites(Array(text.utf8)) ==
                ["src/a.c", "/usr/include/stdio.h", "include/my header.h", "cost$.h"])
    }

    @Test func targetRewrite() throws {
        let text = Array("obj/a.o: a.c a.h\n".utf8)
        let rest = try #require(DependencyFile.splitTarget(text, target: DependencyFile.escapeTarget("obj/a.o")))
        #expect(String(decoding: DependencyFile.escapeTarget("new dir/b.o") + rest, as: UTF8.self) == "new\\ dir/b.o: a.c a.h\n")
        #expect(DependencyFile.splitTarget(text, target: Array("other.o".utf8)) == nil)
    }
}

@Suite struct IncludeDirectiveTests {
    @Test func findsLiteralIncludes() {
        let text = "#include <stdio.h>\n  #  include \"a/b.h\"\n#include_next <limits.h>\n#import \"m.h\"\n#define X 1\n#include MACRO\n"
        let found = FileReferences.read(Array(text.utf8)).includes
        #expect(found == [
            IncludeDirective(name: "stdio.h", isQuoted: false, isNext: false),
            IncludeDirective(name: "a/b.h", isQuoted: true, isNext: false),
            IncludeDirective(name: "limits.h", isQuoted: false, isNext: true),
            IncludeDirective(name: "m.h", isQuoted: true, isNext: false),
        ])
    }

    @Test func probesStopAtTheResolvedFile() {
        var options = IncludeSearchOptions()
        options.bracketDirectories = ["a", "b", "c"]
        let finder = NegativeProbeFinder(options: options, builtin: ["/usr/include"], environmentDirectories: [])
        let probes = finder.probes(
            files: [("src/main.c", [IncludeDirective(name: "h.h", isQuoted: true, isNext: false)])],
            dependencies: ["b/h.h"], exists: { _ in false })
        // The includer's directory and -Ia come before b/h.h; c and /usr/include come after it.
        #expect(probes == ["src/h.h", "a/h.h"])
    }

    @Test func builtinDirectoriesFromVerboseOutput() {
        let text = """
            ignoring nonexistent directory "/x"
            #include "..." search starts here:
            #include <...> search starts here:
             /usr/lib/gcc/x86_64-linux-gnu/12/include
             /usr/include/
            End of search list.
            """
        #expect(BuiltinIncludeDirectories.parse(Array(text.utf8)) == ["/usr/lib/gcc/x86_64-linux-gnu/12/include", "/usr/include"])
    }
}

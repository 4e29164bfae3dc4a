import Foundation
import Testing

/// A real `configure` (autoconf's, generated at test time) through a `gcc → incrcc` link: the second run
/// serves its compile and compile-and-link probes, and both write the `config.h` and `config.status` a
/// plain run writes in the same directory.
@Suite(.enabled(if: Tools.required(Tools.hasIncrcc && Tools.hasGCC && Tools.which("autoconf") != nil
                                   && Tools.which("autoheader") != nil)),
       .timeLimit(Tools.suiteTimeLimit))
struct AutoconfTests {
    @Test func secondConfigureServesItsProbesAndWritesWhatAPlainRunWrites() throws {
        let s = Scratch()
        s.write("project/configure.ac", """
            AC_INIT([probes], [1.0])
            AC_CONFIG_HEADERS([config.h])
            AC_PROG_CC
            AC_CHECK_HEADERS([stdlib.h string.h unistd.h sys/stat.h no/such/header.h])
            AC_CHECK_FUNCS([strdup memmove getpagesize no_such_function_here])
            AC_CHECK_LIB([m], [cos])
            AC_SEARCH_LIBS([clock_gettime], [rt])
            AC_CHECK_SIZEOF([long])
            AC_CHECK_TYPES([long long])
            AC_C_BIGENDIAN
            AC_OUTPUT

            """)
        for tool in ["autoconf", "autoheader"] {
            let generated = try run([tool], in: s, cwd: s.file("project"))
            try #require(generated.status == 0, "\(tool): \(generated.stderr)")
        }
        try FileManager.default.createDirectory(atPath: s.file("masq"), withIntermediateDirectories: true)
        try FileManager.default.createSymbolicLink(atPath: s.file("masq/gcc"), withDestinationPath: Tools.incrcc)
        let systemPath = ProcessInfo.processInfo.environment["PATH"] ?? "/usr/bin:/bin"
        // The same directory and command line every run, so `config.status` may be compared whole.
        func configure(through incrcc: Bool) throws -> (header: Data?, status: Data?) {
            for name in ["config.h", "config.status", "config.log"] { try? FileManager.default.removeItem(atPath: s.file("project/" + name)) }
            let path = incrcc ? s.file("masq") + ":" + systemPath : systemPath
            let configured = try run(["/bin/sh", "./configure", "CC=gcc"], in: s, cwd: s.file("project"), env: ["PATH": path])
            try #require(configured.status == 0, "\(configured.stdout)\(configured.stderr)")
            return (s.read("project/config.h"), s.read("project/config.status"))
        }
        let first = try configure(through: true)
        let cold = try stats(s)
        try incrcc(["-z"], in: s)
        let second = try configure(through: true)
        let warm = try stats(s)
        let plain = try configure(through: false)
        #expect(first.header != nil && first.header == plain.header && second.header == plain.header)
        #expect(first.status != nil && first.status == plain.status && second.status == plain.status)
        #expect(String(decoding: plain.header ?? Data(), as: UTF8.self).contains("#define HAVE_LIBM 1"))
        // Every probe that succeeded the first time is served; those that fail are compiled again.
        #expect((cold["cache_miss"] ?? 0) > 10, "\(cold)")
        // (A probe compiled twice in one run hits the second time already.)
        #expect(warm["cache_miss"] == 0
                && warm["direct_cache_hit"] == (cold["cache_miss"] ?? 0) + (cold["direct_cache_hit"] ?? 0), "\(cold)\n\(warm)")
        #expect((warm["link_hit"] ?? 0) >= 5, "compile-and-link probes served: \(warm)")
        #expect((warm["compile_failed"] ?? 0) > 0 && warm["compile_failed"] == cold["compile_failed"], "\(warm)")
    }
}

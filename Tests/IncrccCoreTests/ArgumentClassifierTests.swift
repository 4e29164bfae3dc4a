import Testing
@testable import IncrccCore

@Suite struct ArgumentClassifierTests {
    func request(_ args: [String]) -> CompileRequest? {
        if case .cacheable(let request) = ArgumentClassifier().classify(args) { return request }
        return nil
    }

    func reason(_ args: [String]) -> Counter? {
        if case .uncacheable(let reason) = ArgumentClassifier().classify(args) { return reason }
        return nil
    }

    @Test func simpleCompile() throws {
        let r = try #require(request(["-O2", "-c", "src/foo.c", "-o", "obj/foo.o", "-Iinclude", "-DX=1"]))
        #expect(r.source == "src/foo.c")
        #expect(r.output == "obj/foo.o")
        #expect(r.language == .c)
        #expect(r.keyedArguments == ["-O2", "-c", "-I", "include", "-D", "X=1"])
        #expect(r.includeSearch.bracketDirectories == ["include"])
        #expect(r.dependencyFile == nil)
        #expect(!r.outputDependsOnDirectory)
    }

    @Test func defaultOutputNames() throws {
        #expect(request(["-c", "dir/a.cpp"])?.output == "a.o")
        #expect(request(["-S", "dir/a.cc"])?.output == "a.s")
        #expect(request(["-c", "a.c", "-ofoo.o"])?.output == "foo.o")
    }

    @Test func joinedAndSeparateFormsKeyTheSame() {
        #expect(request(["-c", "a.c", "-Iinc"])?.keyedArguments == request(["-c", "a.c", "-I", "inc"])?.keyedArguments)
        #expect(request(["-c", "a.c", "-isysteminc"])?.includeSearch.systemDirectories == ["inc"])
    }

    @Test func outputPathIsNotInTheKey() {
        #expect(request(["-c", "a.c", "-o", "x.o"])?.keyedArguments == request(["-c", "a.c", "-o", "y.o"])?.keyedArguments)
    }

    @Test func uncacheableReasons() {
        #expect(request(["a.o", "-fuse-ld=lld", "-o", "a"])?.links == true, "a linker the driver finds is followed")
        #expect(reason(["a.o", "-fuse-ld=mold", "-o", "a"]) == .calledForLink)
        #expect(request(["a.o", "-o", "a", "-Wl,-Map=a.map"])?.linkMapOutput == "a.map")
        #expect(reason(["a.c", "-o", "a", "-Wl,-Map=a.map"]) == .calledForLink, "its map names the temporary object")
        #expect(request(["a.o", "-shared", "-o", "a.so", "-Wl,-soname,a.so.1"])?.links == true, "shared libraries are links")
        #expect(reason(["a.o", "script.ld", "-o", "a"]) == .calledForLink)
        #expect(request(["a.o", "b.o", "-o", "a"])?.keyedArguments.contains("b.o") == true, "objects are keyed in order")
        #expect(reason(["a.c", "b.o", "-o", "a"]) == .calledForLink)
        #expect(reason(["-shared", "a.c", "-o", "liba.so", "-Wl,-Map=a.map"]) == .calledForLink)
        #expect(reason(["-v", "a.c", "-o", "a"]) == .calledForLink)
        #expect(request(["a.c", "-o", "a", "-lm"])?.links == true, "one source compiled and linked is cached")
        #expect(request(["a.c"])?.output == "a.out")
        #expect(reason(["-E", "a.c"]) == .calledForPreprocessing)
        #expect(reason(["-M", "a.c"]) == .unsupportedCompilerOption)
        #expect(reason(["-c", "a.c", "b.c"]) == .multipleSourceFiles)
        #expect(reason(["-c", "-x", "c", "-"]) == .stdinInput)
        #expect(reason(["-c", "a.c", "-o", "-"]) == .outputToStdout)
        #expect(reason(["@args.rsp"]) == .responseFile)
        #expect(reason(["-c", "a.c", "-save-temps"]) == .unsupportedCompilerOption)
        #expect(reason(["-c", "a.c", "-fprofile-use=x.profdata"]) == nil)
        #expect(reason(["-c", "a.c", "-fprofile-use", "-fprofile-dir=p"]) == nil)
        #expect(reason(["-c", "a.c", "-fprofile-use", "-fprofile-prefix-map=a=b"]) == .unsupportedCompilerOption)
        #expect(reason(["-c", "a.c", "-fprofile-instr-use=x.profdata"]) == .unsupportedCompilerOption)
        #expect(reason(["-c", "a.h"]) == nil)
        #expect(reason(["-S", "a.h"]) == .unsupportedSourceLanguage)
        #expect(reason(["-c", "a.c", "-Wp,-MD,a.d"]) == nil)
        #expect(reason(["-c", "a.c", "-Wp,-MD,a.d,-MT,x"]) == .unsupportedCompilerOption)
        #expect(reason(["-c", "a.c", "-Wp,-include,x.h"]) == .unsupportedCompilerOption)
        #expect(request(["-c", "a.c", "-fbranch-probabilities"])?.profileUse != nil)
        #expect(request(["-c", "a.c", "-Wa,-adhln=a.lst"])?.assemblerListingOutput == "a.lst")
        #expect(request(["-c", "a.c", "-Wa,-a=x.lst,-L"])?.keyedArguments == request(["-c", "a.c", "-Wa,-a=y.lst,-L"])?.keyedArguments)
        #expect(reason(["-c", "a.c", "-Wa,-a=x.lst", "-Wa,-as=y.lst"]) == .unsupportedCompilerOption)
        #expect(reason(["-S", "a.c", "-Wa,-a=x.lst"]) == .unsupportedCompilerOption)
        #expect(reason(["-c", "a.c", "-Wa,--noexecstack,-adhln"]) == nil)
        #expect(reason(["-c", "a.c", "-Xassembler", "-I", "-Xassembler", "inc"]) == .unsupportedCompilerOption)
        #expect(reason(["-c", "a.c", "-dumpbase", "x"]) == .unsupportedCompilerOption)
        // clang's process statistics into a file, a pass plugin's code, LLVM options naming files.
        #expect(reason(["-c", "a.c", "-fproc-stat-report=p.txt"]) == .unsupportedCompilerOption)
        #expect(reason(["-c", "a.c", "-fproc-stat-report"]) == nil)
        #expect(reason(["-c", "a.c", "-fpass-plugin=p.so"]) == .unsupportedCompilerOption)
        #expect(reason(["-c", "a.c", "-mllvm", "-info-output-file=s.txt"]) == .unsupportedCompilerOption)
        #expect(reason(["-c", "a.c", "-mllvm", "-pass-remarks-output=r.yaml"]) == .unsupportedCompilerOption)
        #expect(reason(["-c", "a.c", "-mllvm", "-inline-threshold=500"]) == nil)
        #expect(reason(["-c", "a.c", "-mllvm"]) == .unsupportedCompilerOption)
        #expect(reason(["-c"]) == .noInputFile)
        #expect(reason(["-c", "a.c", "-o"]) == .badCompilerArguments)
    }

    @Test func dependencyFileNames() throws {
        let md = try #require(request(["-c", "src/a.c", "-o", "obj/a.o", "-MD"]).flatMap(\.dependencyFile))
        #expect(md.path == "obj/a.d")
        #expect(!md.omitsSystemHeaders && !md.hasExplicitTarget)
        let mmd = try #require(request(["-c", "a.c", "-MMD", "-MF", "deps/a.dep", "-MT", "t"]).flatMap(\.dependencyFile))
        #expect(mmd.path == "deps/a.dep")
        // Stored without its target, written with the call's `-MT`/`-MQ` targets (which the key leaves out).
        #expect(mmd.omitsSystemHeaders && !mmd.hasExplicitTarget)
        let targets = request(["-c", "a.c", "-MD", "-MQ", "$q", "-MT", "a b"])
        #expect(targets.map { String(decoding: $0.dependencyTargetText, as: UTF8.self) } == "$$q a b")
        #expect(targets?.keyedArguments == request(["-c", "a.c", "-MD", "-MQ", "$r", "-MT", "c"])?.keyedArguments)
        #expect(request(["-c", "src/a.c", "-MD"])?.dependencyFile?.path == "a.d")
    }

    @Test func languageFromDashX() {
        #expect(request(["-x", "c++", "-c", "a.c"])?.language == .cxx)
        #expect(request(["-x", "c++", "-x", "none", "-c", "a.c"])?.language == .c)
        #expect(request(["-c", "a.S"])?.language == .assemblerWithCpp)
    }

    @Test func debugInfoAndCoverageKeyTheDirectory() {
        #expect(request(["-c", "a.c", "-g"])?.outputDependsOnDirectory == true)
        #expect(request(["-c", "a.c", "-g", "-g0"])?.outputDependsOnDirectory == false)
        let mapped = request(["-c", "a.c", "-g", "-fdebug-prefix-map=/home/u=/src"])
        #expect(mapped?.directoryAsWritten("/home/u/proj") == "/src/proj")
        #expect(mapped?.directoryAsWritten("/home/other") == "/home/other")
        #expect(request(["-c", "a.c", "-g", "-fdebug-prefix-map=/a=/b", "-ffile-prefix-map=/a/c=/d"])?
            .directoryAsWritten("/a/c/e") == "/a/c/e")
        #expect(request(["-c", "a.c", "--coverage", "-fdebug-prefix-map=/a=/b"])?.directoryAsWritten("/a/x") == "/a/x")
        #expect(request(["-c", "a.c", "-gz"])?.outputDependsOnDirectory == false)
        #expect(request(["-c", "a.c", "--coverage"])?.outputDependsOnOutputPath == true)
        #expect(request(["-c", "a.c", "-o", "o/a.o", "--coverage"])?.coverageNotesOutput == "o/a.gcno")
        #expect(request(["-c", "a.c", "-o", "o/a.o", "-g", "-gsplit-dwarf"])?.splitDwarfOutput == "o/a.dwo")
        #expect(request(["-c", "a.c", "-fstack-usage"])?.stackUsageOutput == "a.su")
        #expect(request(["-c", "a.c", "-o", "q.o", "-fcallgraph-info=su,da"])?.callgraphInfoOutput == "q.ci")
        // With LTO the compile writes neither (gcc 12, also with -ffat-lto-objects); the last of -flto and
        // -fno-lto counts.
        #expect(request(["-c", "a.c", "-fstack-usage", "-fcallgraph-info", "-flto"])?.stackUsageOutput == nil)
        #expect(request(["-c", "a.c", "-fcallgraph-info", "-flto=auto"])?.callgraphInfoOutput == nil)
        #expect(request(["-c", "a.c", "-fstack-usage", "-flto", "-fno-lto"])?.stackUsageOutput == "a.su")
        // No preprocessor, no dependency file.
        #expect(request(["-c", "-MD", "a.s"])?.dependencyFile == nil)
        #expect(request(["-c", "-MMD", "-MF", "x.d", "a.i"])?.dependencyFile == nil)
    }

    @Test func nativeTuningIsNoticed() {
        #expect(request(["-c", "a.c", "-march=native"])?.dependsOnHostCPU == true)
        #expect(request(["-c", "a.c", "-march=x86-64"])?.dependsOnHostCPU == false)
    }

    @Test func dependencyPassDropsOutputsAndDependencyOptions() throws {
        let r = try #require(request(["-c", "a.c", "-o", "a.o", "-MMD", "-MF", "a.d", "-MT", "t", "-MP", "-Iinc"]))
        #expect(r.dependencyScanArguments(writingTo: "/tmp/x.d") == ["a.c", "-Iinc", "-M", "-MF", "/tmp/x.d"])
    }
}

@Suite struct InvocationTests {
    func decide(_ argv: [String]) -> Invocation {
        Invocation.decide(argv) { $0 == "gcc" || $0 == "/usr/bin/clang" }
    }

    @Test func forms() {
        #expect(decide(["incrcc", "-s"]) == .command(["-s"]))
        #expect(decide(["incrcc", "-c"]) == .command(["-c"]))
        #expect(decide(["incrcc", "-M", "5G"]) == .command(["-M", "5G"]))
        #expect(decide(["incrcc", "--print-stats", "--format", "json"]) == .command(["--print-stats", "--format", "json"]))
        #expect(decide(["incrcc", "-c", "a.c"]) == .compile(.defaultC, ["-c", "a.c"]))
        #expect(decide(["/x/incrcc++", "-c", "a.cc"]) == .compile(.defaultCXX, ["-c", "a.cc"]))
        #expect(decide(["incrcc", "gcc", "-c", "a.c"]) == .compile(.explicit("gcc"), ["-c", "a.c"]))
        #expect(decide(["incrcc", "/usr/bin/clang", "-c", "a.c"]) == .compile(.explicit("/usr/bin/clang"), ["-c", "a.c"]))
        #expect(decide(["/bin/g++", "-c", "a.cc"]) == .compile(.masquerade("g++"), ["-c", "a.cc"]))
        #expect(decide(["incrcc", "a.c", "-o", "a"]) == .compile(.defaultC, ["a.c", "-o", "a"]))
        #expect(decide(["incrcc", "-M", "a.c"]) == .compile(.defaultC, ["-M", "a.c"]))
    }

    /// Where gcc 12 looks for profile data, as its `-Wmissing-profile` warning named the file (working
    /// directory /tmp/prof/src).
    @Test(arguments: [
        (["-o", "../out/t.o", "-fprofile-use", "-fprofile-dir=pd"], "pd/#tmp#prof#src#^#out#t.gcda"),
        (["-o", "./x.o", "-fprofile-use", "-fprofile-dir=pd"], "pd/#tmp#prof#src#.#x.gcda"),
        (["-o", "/tmp/prof/out/t.o", "-fprofile-use=pd"], "pd//tmp/prof/out/t.gcda"),
        (["-o", "../out/t.o", "-fprofile-use"], "/tmp/prof/src/../out/t.gcda"),
        (["-o", "../out/t.o", "-fbranch-probabilities", "-fprofile-dir=pd"], "pd/#tmp#prof#src#^#out#t.gcda"),
        (["-o", "../out/t.o", "-fprofile-use", "-fprofile-dir=pd", "-fprofile-prefix-path=/tmp/prof/src"], "pd/^#out#t.gcda"),
        (["-o", "../out/t.o", "-fprofile-use", "-fprofile-dir=pd", "-fprofile-prefix-path=/nomatch"], "pd/#tmp#prof#src#^#out#t.gcda"),
        (["-o", "../out/t.o", "-fprofile-use", "-fprofile-dir=pd", "-fprofile-prefix-path=/tmp"], "pd/prof#src#^#out#t.gcda"),
        (["-fprofile-use", "-fprofile-dir=pd"], "pd/#tmp#prof#src#t.gcda"),
        (["-o", "out.x.o", "-fprofile-use", "-fprofile-dir=pd"], "pd/#tmp#prof#src#out.x.gcda"),
        (["-o", "../out/t.o", "-fprofile-use=/tmp/prof/pd3/"], "/tmp/prof/pd3//#tmp#prof#src#^#out#t.gcda"),
        (["-o", "../out/t.o", "-fprofile-use=pd2", "-fprofile-dir=pd"], "pd/#tmp#prof#src#^#out#t.gcda"),
        (["-o", "../out/t.o", "-fprofile-dir=pd", "-fprofile-use=pd2"], "pd2/#tmp#prof#src#^#out#t.gcda"),
    ]) func gccProfileDataPath(options: [String], expected: String) throws {
        guard case .cacheable(let r) = ArgumentClassifier().classify(["-c", "t.c"] + options) else {
            Issue.record("\(options) is not cacheable")
            return
        }
        let profile = try #require(r.profileUse)
        #expect(profile.path(family: CompilerFamily.gcc, object: r.output, currentDirectory: "/tmp/prof/src") == expected)
        // clang follows neither gcc's directory options nor its mangling: such a call is not keyed by a guess.
        if options.contains(where: { $0.hasPrefix("-fprofile-dir") || $0.hasPrefix("-fprofile-prefix-path") }) {
            #expect(profile.path(family: CompilerFamily.clang, object: r.output, currentDirectory: "/tmp/prof/src") == nil)
        }
    }
}

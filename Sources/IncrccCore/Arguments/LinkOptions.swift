/// Which links are cached: compile-and-link calls of one source (`cc [opts] conftest.c -o conftest -lm`, as
/// configure scripts run hundreds of times), and with `link_cache = all` links of objects and shared
/// libraries (`-shared`). Everything the link reads must be found by
/// `LinkInputs` from the linker's own dependency list and the search it was given; an option that makes
/// the link read or write something else, or that this reading does not follow, keeps the call uncached.
enum LinkOptions {
    /// Linker options (items of `-Wl,`) whose effect is on the link's own inputs and output only.
    static let linkerItems: Set<String> = [
        "-O0", "-O1", "-O2", "-O3", "--as-needed", "--no-as-needed", "-z", "relro", "norelro", "now", "lazy",
        "noexecstack", "execstack", "--gc-sections", "--no-gc-sections", "--no-undefined", "-Bsymbolic",
        "-Bsymbolic-functions", "--hash-style=gnu", "--hash-style=sysv", "--hash-style=both", "--build-id",
        "--enable-new-dtags", "--disable-new-dtags", "-E", "--export-dynamic", "--warn-common", "-Bstatic",
        "-Bdynamic", "--push-state", "--pop-state", "--sort-common", "--icf=all", "-s", "--strip-all", "-S",
        "--strip-debug", "--eh-frame-hdr", "--fatal-warnings", "--no-fatal-warnings", "-pie", "-no-pie",
    ]

    /// Driver options that change which files the link reads beyond what `LinkInputs` follows, or write
    /// more than the program: they keep the call uncached.
    static let refusedPrefixes = [
        "-B", "-T", "-Xlinker", "-fwhole-program", "-specs",
        "--specs", "--sysroot", "-isysroot", "-fprofile", "--coverage", "-ftest-coverage",
        "-fsanitize", "-fopenmp", "-fopenacc", "-static-pie", "-nodefaultlibs", "-nolibc", "-mwindows",
        "-fplugin", "-Wl,@", "-gsplit-dwarf", "-save-temps", "--ld-path", "-rtlib", "-unwindlib", "-stdlib",
        "-fxray", "-fcf-protection=none",
    ]

    /// The linkers `-fuse-ld=` may name: each writes the dependency list `LinkInputs` reads (GNU ld, gold 1.16
    /// and lld, checked), and is found as the driver finds it (`ld.<name>`).
    static let followedLinkers: Set<String> = ["bfd", "gold", "lld"]

    /// The file `-Wl,-Map=FILE` names (the last one), nil when none: the link writes it beside the program.
    static func mapFile(_ arguments: [String]) -> String? {
        var found: String?
        for argument in arguments where argument.hasPrefix("-Wl,") {
            for item in argument.dropFirst(4).split(separator: ",") {
                for prefix in ["-Map=", "--Map="] where item.hasPrefix(prefix) { found = String(item.dropFirst(prefix.count)) }
            }
        }
        return found
    }

    /// Whether the link compiles the program's intermediate code (`-flto`, the last of it and `-fno-lto`).
    static func optimizesAtLinkTime(_ arguments: [String]) -> Bool {
        arguments.last { $0 == "-fno-lto" || $0 == "-flto" || $0.hasPrefix("-flto=") } != nil
            && arguments.last { $0 == "-fno-lto" || $0 == "-flto" || $0.hasPrefix("-flto=") } != "-fno-lto"
    }

    /// The linker `-fuse-ld=` chose (the last one given), nil for the default.
    static func chosenLinker(_ arguments: [String]) -> String? {
        arguments.last { $0.hasPrefix("-fuse-ld=") }.map { String($0.dropFirst(9)) }
    }

    /// Driver options refused as they are written (`-p` alone: `-pedantic` and `-pthread` are fine).
    /// `-v` too: its stderr names the temporary files of this run, which a hit would replay stale.
    static let refusedExact: Set<String> = ["-p", "-pg", "-r", "-static-pie", "-nostdlib", "-nostartfiles", "-v",
                                            "--verbose", "-Q", "-time"]

    /// Whether an input of a link of objects is one the linker's dependency list names: an object, an
    /// archive or a shared library (a linker script given as an input is not followed).
    static func isLinkInput(_ path: String) -> Bool {
        let ext = Path.fileExtension(path)
        return ext == "o" || ext == "a" || ext == "so" || Path.baseName(path).holds(".so.")
    }

    /// Why a compile-and-link call cannot be cached; nil when it can.
    static func refusal(_ arguments: [String]) -> String? {
        var index = 0
        while index < arguments.count {
            let argument = arguments[index]
            if argument == "-fno-lto" || argument == "-fno-profile-arcs" {
                index += 1
                continue
            }
            if refusedExact.contains(argument) { return "\(argument) is not followed for links" }
            if argument.hasPrefix("-fuse-ld") {
                guard argument.hasPrefix("-fuse-ld="), followedLinkers.contains(String(argument.dropFirst(9))) else {
                    return "\(argument) is not followed for links"
                }
            }
            if let prefix = refusedPrefixes.first(where: argument.hasPrefix) { return "\(prefix) is not followed for links" }
            if argument.hasPrefix("-Wl,") {
                let items = argument.dropFirst(4).split(separator: ",", omittingEmptySubsequences: false).map(String.init)
                var item = 0
                while item < items.count {
                    let name = items[item]
                    if name == "-rpath" || name == "-rpath-link" || name == "-R" {
                        guard item + 1 < items.count, items[item + 1].hasPrefix("/") else { return "\(name) without a path" }
                        item += 2
                        continue
                    }
                    if name.hasPrefix("-rpath=") && name.dropFirst(7).hasPrefix("/") { item += 1; continue }
                    // A shared library's name: written into it, read from nowhere.
                    if name == "-soname" || name == "-h" {
                        guard item + 1 < items.count, !items[item + 1].isEmpty else { return "\(name) without a name" }
                        item += 2
                        continue
                    }
                    if name.hasPrefix("-soname=") { item += 1; continue }
                    // A version script is a file the linker reads, and its dependency list names it.
                    if name.hasPrefix("--version-script=") && name.count > 17 { item += 1; continue }
                    // The link map is an output (`mapFile`).
                    if (name.hasPrefix("-Map=") || name.hasPrefix("--Map=")) && !name.hasSuffix("=") { item += 1; continue }
                    guard linkerItems.contains(name) else { return "-Wl,\(name) is not followed for links" }
                    item += 1
                }
            }
            if argument == "-z" {
                guard index + 1 < arguments.count, linkerItems.contains(arguments[index + 1]) else { return "-z is not followed" }
                index += 2
                continue
            }
            index += 1
        }
        return nil
    }
}

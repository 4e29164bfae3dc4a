/// clang's C++20 named-module options, as the classifier reads them.
///
/// A module unit's compiled interface (BMI, `.pcm`) is an output like its object; every BMI the compile
/// may load is an input (`ModuleInputs` finds them after the compile, with the ones a BMI imports by the
/// path stored inside it). Measured with clang 16: the BMI does not depend on the names of the object or
/// of the BMI itself, `--precompile` writes the same bytes as `-fmodule-output` (with `-O2`, `-g`, `-fPIC`),
/// and it does depend on the working directory (it is recorded inside, bit-packed).
public struct ModuleOptions: Equatable, Sendable {
    /// One `-fmodule-file=[NAME=]FILE`: with a name, loaded when that module is imported (and then used
    /// instead of any path stored in another BMI); without, loaded at once.
    public struct FileOption: Equatable, Sendable {
        public var name: String?
        public var path: String
    }

    /// Where `-fmodule-output[=FILE]` writes the unit's interface (derived from the object's name when
    /// the option has no value, as clang derives it).
    public var interfaceOutput: String?
    /// `--precompile`: the call's output is the interface itself, and no object is written.
    public var precompiles = false
    /// `-fmodule-file=` options, in command-line order.
    public var files: [FileOption] = []

    public init() {}

    /// Whether the call writes a compiled module interface.
    public var writesInterface: Bool { interfaceOutput != nil || precompiles }

    /// Whether the call writes or reads a compiled module interface.
    public var isUsed: Bool { writesInterface || !files.isEmpty }

    /// The module names the command line maps to files.
    public var mappedNames: [String] { files.compactMap(\.name) }

    /// Whether `argument` may be one of `Option`'s: one byte compare for most arguments, since every
    /// argument of every call passes here (a hit costs about a million instructions in all).
    static func mayBeOption(_ argument: String) -> Bool {
        var bytes = argument.utf8.makeIterator()
        guard bytes.next() == UInt8(ascii: "-"), let second = bytes.next() else { return false }
        return second == UInt8(ascii: "-") ? argument == "--precompile" : second == UInt8(ascii: "f") && bytes.next() == UInt8(ascii: "m")
            || argument.hasPrefix("-fno-modules")
    }

    /// What one argument is, where it is a module option this classifier follows.
    enum Option: Equatable {
        /// `-fmodule-output` (nil: the name derived from the object's) or `-fmodule-output=FILE`.
        case output(String?)
        case precompile
        case file(FileOption)
        /// Options that change the BMI's content only (`-fmodules-reduced-bmi`): keyed as they are.
        case keyedOnly
        /// gcc's modules (`-fmodules-ts`, its module mapper, header units): its `.gcm` files hold the time
        /// they were built, so no compile that reads or writes one is repeatable.
        case gccModules

        init?(_ argument: String) {
            switch argument {
            case "-fmodule-output": self = .output(nil)
            case "--precompile": self = .precompile
            case "-fmodules-reduced-bmi", "-fno-modules-reduced-bmi": self = .keyedOnly
            case "-fmodules-ts", "-fmodule-only", "-fmodule-header": self = .gccModules
            default:
                if argument.hasPrefix("-fmodule-output=") {
                    let path = String(argument.dropFirst("-fmodule-output=".count))
                    guard !path.isEmpty else { return nil }
                    self = .output(path)
                } else if argument.hasPrefix("-fmodule-file=") {
                    let value = argument.dropFirst("-fmodule-file=".count)
                    // `NAME=FILE`; a file name holding `=` cannot be told from a mapping: not followed.
                    let parts = value.split(separator: "=", maxSplits: 1, omittingEmptySubsequences: false)
                    if parts.count == 2 {
                        guard !parts[0].isEmpty, !parts[1].isEmpty, !parts[1].contains("=") else { return nil }
                        self = .file(FileOption(name: String(parts[0]), path: String(parts[1])))
                    } else {
                        guard !value.isEmpty else { return nil }
                        self = .file(FileOption(name: nil, path: String(value)))
                    }
                } else if argument.hasPrefix("-fmodule-mapper=") || argument.hasPrefix("-fmodule-header=") {
                    self = .gccModules
                } else {
                    return nil
                }
            }
        }
    }
}

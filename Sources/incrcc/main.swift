import Glibc
import IncrccCore

/// The executable only hands its arguments to the library and exits with the status it returns.
exit(IncrccMain.run(arguments: CommandLine.arguments))

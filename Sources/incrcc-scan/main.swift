import Glibc
import IncrccCore

/// libclang's include scan, run by incrcc as a child process (see `LibclangScanTool`).
exit(LibclangScanTool.run(arguments: CommandLine.arguments))

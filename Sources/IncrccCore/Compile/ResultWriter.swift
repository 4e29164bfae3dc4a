import Glibc

/// Writes a cached result's files where this call wants them, each atomically, then its console output.
struct ResultWriter {
    var request: CompileRequest

    func write(_ result: CachedResult) throws(SystemError) {
        for file in result.files {
            let bytes = file.bytes
            switch file.kind {
            case .object: try FileSystem.writeAtomically(request.output, bytes)
            case .dependencyWithoutTarget:
                guard let dependency = request.dependencyFile else { continue }
                try FileSystem.writeAtomically(dependency.path, DependencyFile.escapeTarget(request.output) + bytes)
            case .dependencyVerbatim:
                guard let dependency = request.dependencyFile else { continue }
                try FileSystem.writeAtomically(dependency.path, bytes)
            case .splitDwarf:
                if let path = request.splitDwarfOutput { try FileSystem.writeAtomically(path, bytes) }
            case .coverageNotes:
                if let path = request.coverageNotesOutput { try FileSystem.writeAtomically(path, bytes) }
            case .stackUsage:
                if let path = request.stackUsageOutput { try FileSystem.writeAtomically(path, bytes) }
            }
        }
        Console.write(result.stdout, to: 1)
        Console.write(result.stderr, to: 2)
    }
}

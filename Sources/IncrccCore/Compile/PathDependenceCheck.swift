import Glibc

extension CachedCompile {
    /// What a fresh compile read of its moving paths (`PathDependence` has the rule and why it is complete).
    /// Asked when a result is stored under a key with moving parts; the texts are those the compiler read,
    /// and the preprocessor runs again only when one of them names a path macro or builtin or spells a moving
    /// part (including `<assert.h>`, whose `assert` names `__FILE__` but reads it only where it is expanded).
    func pathDependence(_ call: Call, recorded: DependencyRecorder.Recording) -> PathDependence {
        let mapping = call.mapping
        guard !mapping.isEmpty else { return .independent }
        var found = PathDependence.independent
        let filesRead = recorded.files.filter { !$0.isVariable }.map(\.path)
        if let reason = PathDependence.recordsReason(request, currentDirectory: currentDirectory, filesRead: filesRead,
                                                     mapping: mapping)
            ?? PathDependence.sourceNameReason(request, mapping: mapping) {
            found = PathDependence(.compiler, reason)
        }
        guard request.language.isPreprocessed else {
            // Assembly without a preprocessor: its text is the source, read whole.
            if PathDependence.textsMayReadPath([call.source], mapping) {
                return PathDependence(.unit, "\(request.source): the assembly spells a moving path")
            }
            return found
        }
        var texts: [[UInt8]] = [call.source]
        for path in filesRead {
            guard let bytes = try? FileSystem.readFile(path) else {
                return PathDependence(.unit, "\(path) could not be read again to check it")
            }
            texts.append(bytes)
        }
        // Macro definitions on the command line reach the text only where they are expanded.
        var definitions: [String] = []
        request.forEachKeyedOption { option, value in
            if let value, option == "-D" { definitions.append(value) }
            if value == nil, option.hasPrefix("-D") || option.hasPrefix("-Wp,") { definitions.append(option) }
        }
        texts.append(Array(definitions.joined(separator: "\n").utf8))
        guard PathDependence.textsMayReadPath(texts, mapping) else { return found }
        let sink = FileSystem.temporaryName(beside: store.temporaryDirectory + "/pathcheck")
        let preprocessed = sink + ".i"
        defer {
            FileSystem.remove(sink)
            FileSystem.remove(preprocessed)
        }
        let arguments = request.argumentsWithoutOutputs() + ["-E", "-o", preprocessed]
        guard let status = try? ChildProcess.run(compilerPath, [compilerPath] + arguments, stdoutPath: sink, stderrPath: sink),
              status.succeeded, let text = try? FileSystem.readFile(preprocessed) else {
            return PathDependence(.unit, "the preprocessor could not be run again to check what the unit reads")
        }
        if let reason = PathDependence.searchPreprocessed(text, mapping, recording: PathDependence.recordingOption(request) != nil) {
            return PathDependence(.unit, reason)
        }
        return found
    }
}

/// Every statistic incrcc keeps. The raw value is the slot in a stats file, so existing cases never move;
/// new ones are added at the end. Names follow ccache's `--print-stats` keys where the meaning is the same.
public enum Counter: Int, CaseIterable, Sendable, Error {
    case directHit = 0
    case scanHit
    case miss
    case compileFailed
    case calledForLink
    case calledForPreprocessing
    case multipleSourceFiles
    case noInputFile
    case unsupportedSourceLanguage
    case unsupportedCompilerOption
    case outputToStdout
    case stdinInput
    case unsupportedCodeDirective
    case badCompilerArguments
    case couldNotFindCompiler
    case internalError
    case missingCacheFile
    case corruptEntryRemoved
    case recache
    case cleanupsPerformed
    case filesInCache
    case cacheSizeBytes
    case statsZeroedTimestamp
    case responseFile
    case compilerProducedNoOutput
    case disabled
    case tooNewDependency
    case badOutputFile
    case patchedHit
    case patchAgreed
    case patchDisagreed
    case verifySampled
    case verifyMismatch
    case distrustedClasses
    case scanIndexed
    case scanUnsound
    case scanComputedInclude
    case scanEmbeddedFile
    case scanPrecompiledHeader
    case scanUnreadableFile
    case scannerUnavailable
    case scanMiss
    case scanLibclangFailed
    case unsupportedPrecompiledHeader
    case directCacheMiss
    case preprocessedCacheMiss
    case localStorageHit
    case localStorageMiss
    case patchUnitTrustedHit
    case remoteStorageReadHit
    case remoteStorageReadMiss
    case remoteStorageWrite
    case remoteStorageError
    case remoteStorageTimeout
    case unreachedOptionHit
    case skippedGroupHit
    case movedPathDependent
    case verifyInconclusive
    case commentEditHit
    case tokenEditHit
    /// ccache's reads and writes of the local store: a direct-mode lookup reads a manifest and a result.
    case localStorageReadHit
    case localStorageReadMiss
    case localStorageWrite
    /// Results served from, or missed in, the shared tier (ccache's `remote_storage_hit`/`_miss`).
    case remoteStorageHit
    case remoteStorageMiss
    /// Hits of compile-and-link calls (their misses count as `cache_miss`).
    case linkHit
    /// Compile-and-link calls compiled but not stored: what their link read could not be told.
    case linkInputsUnknown
    /// `compiler_check` named a command that failed: the compiler's identity is unknown, so nothing is cached.
    case compilerCheckFailed
    /// gcc's C++ modules (`-fmodules-ts`): its module files hold their build time, so nothing is cached.
    case gccModules
    /// Module units compiled but not stored: which compiled interfaces they read could not be told.
    case moduleInputsUnknown
    /// Hits of module units served in another working directory, whose interface (which records the
    /// directory) the compiler wrote again with `--precompile`.
    case moduleInterfaceRebuilt
    /// A variable that makes the compiler write a dependency file of its own (`DEPENDENCIES_OUTPUT`).
    case unsupportedEnvironmentVariable
    /// A file of `extra_files_to_hash` could not be read.
    case errorHashingExtraFile
    /// The compiler wrote an empty object: not stored.
    case compilerProducedEmptyOutput

    /// The key printed by `--print-stats`.
    public var key: String {
        switch self {
        case .directHit: return "direct_cache_hit"
        case .scanHit: return "preprocessed_cache_hit"
        case .miss: return "cache_miss"
        case .compileFailed: return "compile_failed"
        case .calledForLink: return "called_for_link"
        case .calledForPreprocessing: return "called_for_preprocessing"
        case .multipleSourceFiles: return "multiple_source_files"
        case .noInputFile: return "no_input_file"
        case .unsupportedSourceLanguage: return "unsupported_source_language"
        case .unsupportedCompilerOption: return "unsupported_compiler_option"
        case .outputToStdout: return "output_to_stdout"
        case .stdinInput: return "stdin_input"
        case .unsupportedCodeDirective: return "unsupported_code_directive"
        case .badCompilerArguments: return "bad_compiler_arguments"
        case .couldNotFindCompiler: return "could_not_find_compiler"
        case .internalError: return "internal_error"
        case .missingCacheFile: return "missing_cache_file"
        case .corruptEntryRemoved: return "corrupt_entry_removed"
        case .recache: return "recache"
        case .cleanupsPerformed: return "cleanups_performed"
        case .filesInCache: return "files_in_cache"
        case .cacheSizeBytes: return "cache_size_kibibyte"
        case .statsZeroedTimestamp: return "stats_zeroed_timestamp"
        case .responseFile: return "response_file"
        case .compilerProducedNoOutput: return "compiler_produced_no_output"
        case .disabled: return "disabled"
        case .tooNewDependency: return "modified_input_file"
        case .badOutputFile: return "bad_output_file"
        case .patchedHit: return "patched_hit"
        case .patchAgreed: return "patch_verification_agreed"
        case .patchDisagreed: return "patch_verification_disagreed"
        case .verifySampled: return "verify_sampled"
        case .verifyMismatch: return "verify_mismatch"
        case .distrustedClasses: return "distrusted_classes"
        case .scanIndexed: return "scan_indexed"
        case .scanUnsound: return "scan_unsound"
        case .scanComputedInclude: return "scan_fallback_computed_include"
        case .scanEmbeddedFile: return "scan_fallback_embedded_file"
        case .scanPrecompiledHeader: return "scan_fallback_precompiled_header"
        case .scanUnreadableFile: return "scan_fallback_unreadable_file"
        case .scannerUnavailable: return "scan_libclang_unavailable"
        case .scanMiss: return "scan_miss"
        case .scanLibclangFailed: return "scan_libclang_failed"
        case .unsupportedPrecompiledHeader: return "could_not_use_precompiled_header"
        case .directCacheMiss: return "direct_cache_miss"
        case .preprocessedCacheMiss: return "preprocessed_cache_miss"
        case .localStorageHit: return "local_storage_hit"
        case .localStorageMiss: return "local_storage_miss"
        case .patchUnitTrustedHit: return "patched_hit_unit_agreed"
        case .remoteStorageReadHit: return "remote_storage_read_hit"
        case .remoteStorageReadMiss: return "remote_storage_read_miss"
        case .remoteStorageWrite: return "remote_storage_write"
        case .remoteStorageError: return "remote_storage_error"
        case .remoteStorageTimeout: return "remote_storage_timeout"
        case .unreachedOptionHit: return "direct_cache_hit_options_unreached"
        case .skippedGroupHit: return "direct_cache_hit_skipped_groups"
        case .movedPathDependent: return "miss_moved_path_dependent"
        case .verifyInconclusive: return "verify_inconclusive"
        case .commentEditHit: return "direct_cache_hit_comment_edits"
        case .tokenEditHit: return "direct_cache_hit_token_edits"
        case .localStorageReadHit: return "local_storage_read_hit"
        case .localStorageReadMiss: return "local_storage_read_miss"
        case .localStorageWrite: return "local_storage_write"
        case .remoteStorageHit: return "remote_storage_hit"
        case .remoteStorageMiss: return "remote_storage_miss"
        case .linkHit: return "link_hit"
        case .linkInputsUnknown: return "link_inputs_unknown"
        case .compilerCheckFailed: return "compiler_check_failed"
        case .gccModules: return "gcc_modules"
        case .moduleInputsUnknown: return "module_inputs_unknown"
        case .moduleInterfaceRebuilt: return "module_interface_rebuilt"
        case .unsupportedEnvironmentVariable: return "unsupported_environment_variable"
        case .errorHashingExtraFile: return "error_hashing_extra_file"
        case .compilerProducedEmptyOutput: return "compiler_produced_empty_output"
        }
    }

    /// The line `incrcc -s` shows; `nil` for counters shown elsewhere in the table.
    public var label: String {
        switch self {
        case .directHit: return "direct"
        case .scanHit: return "scan"
        case .miss: return "misses"
        case .compileFailed: return "compile failed"
        case .calledForLink: return "called for link"
        case .calledForPreprocessing: return "called for preprocessing (-E)"
        case .multipleSourceFiles: return "multiple source files"
        case .noInputFile: return "no input file"
        case .unsupportedSourceLanguage: return "unsupported source language"
        case .unsupportedCompilerOption: return "unsupported compiler option"
        case .outputToStdout: return "output to stdout"
        case .stdinInput: return "source from stdin"
        case .unsupportedCodeDirective: return "time macros, .incbin, .include"
        case .badCompilerArguments: return "bad compiler arguments"
        case .couldNotFindCompiler: return "could not find compiler"
        case .internalError: return "cache error (ran uncached)"
        case .missingCacheFile: return "missing cache file"
        case .corruptEntryRemoved: return "corrupt entries removed"
        case .recache: return "recached (INCRCC_RECACHE)"
        case .cleanupsPerformed: return "cleanups performed"
        case .filesInCache: return "files in cache"
        case .cacheSizeBytes: return "cache size"
        case .statsZeroedTimestamp: return "stats zeroed"
        case .responseFile: return "response file (@file)"
        case .compilerProducedNoOutput: return "compiler produced no output"
        case .disabled: return "disabled (INCRCC_DISABLE)"
        case .tooNewDependency: return "input file modified during compile"
        case .badOutputFile: return "output or source is not a regular file"
        case .patchedHit: return "served with paths patched"
        case .patchAgreed: return "patch verified: agreed"
        case .patchDisagreed: return "patch verified: DISAGREED"
        case .verifySampled: return "hits sampled for verification"
        case .verifyMismatch: return "sampled hits that MISMATCHED"
        case .distrustedClasses: return "classes distrusted for patching"
        case .scanIndexed: return "results indexed for scans"
        case .scanUnsound: return "compiler read files the scan missed"
        case .scanComputedInclude: return "fallback: computed #include"
        case .scanEmbeddedFile: return "fallback: #embed or .incbin"
        case .scanPrecompiledHeader: return "fallback: precompiled header"
        case .scanUnreadableFile: return "fallback: unreadable file"
        case .scannerUnavailable: return "libclang could not be loaded"
        case .scanMiss: return "scans that found no result"
        case .scanLibclangFailed: return "libclang scans that failed"
        case .unsupportedPrecompiledHeader: return "precompiled header it cannot follow"
        case .directCacheMiss: return "direct lookups that missed"
        case .preprocessedCacheMiss: return "scan lookups that missed"
        case .localStorageHit: return "local storage hits"
        case .localStorageMiss: return "local storage misses"
        case .patchUnitTrustedHit: return "patched hits trusted by their unit"
        case .remoteStorageReadHit: return "hits"
        case .remoteStorageReadMiss: return "misses"
        case .remoteStorageWrite: return "writes"
        case .remoteStorageError: return "errors"
        case .remoteStorageTimeout: return "timeouts"
        case .unreachedOptionHit: return "hits across options no file reads"
        case .skippedGroupHit: return "hits across edits in skipped groups"
        case .movedPathDependent: return "misses: reads a path that moved"
        case .verifyInconclusive: return "samples voided: input changed after the hit"
        case .commentEditHit: return "hits across edits of comments"
        case .tokenEditHit: return "hits across edits that change no token (lines moved, white space, unused macros)"
        case .localStorageReadHit: return "local storage reads that found an entry"
        case .localStorageReadMiss: return "local storage reads that found none"
        case .localStorageWrite: return "local storage writes"
        case .remoteStorageHit: return "results from remote storage"
        case .remoteStorageMiss: return "results not in remote storage"
        case .linkHit: return "hits of compile-and-link calls"
        case .linkInputsUnknown: return "links not stored: what they read could not be told"
        case .compilerCheckFailed: return "compiler_check command failed"
        case .gccModules: return "gcc C++ modules (-fmodules-ts)"
        case .moduleInputsUnknown: return "module units not stored: what they imported could not be told"
        case .moduleInterfaceRebuilt: return "hits whose module interface was rebuilt for this directory"
        case .unsupportedEnvironmentVariable: return "unsupported environment variable"
        case .errorHashingExtraFile: return "error hashing extra file"
        case .compilerProducedEmptyOutput: return "compiler produced empty output"
        }
    }

    /// Calls that ran the real compiler without the cache, each for its reason.
    public static let uncacheableReasons: [Counter] = [
        .calledForLink, .calledForPreprocessing, .multipleSourceFiles, .noInputFile, .unsupportedSourceLanguage,
        .unsupportedCompilerOption, .outputToStdout, .stdinInput, .responseFile, .badCompilerArguments,
        .unsupportedCodeDirective, .compilerProducedNoOutput, .tooNewDependency, .badOutputFile, .couldNotFindCompiler,
        .internalError, .disabled, .unsupportedPrecompiledHeader, .compilerCheckFailed,
        .gccModules, .unsupportedEnvironmentVariable, .errorHashingExtraFile, .compilerProducedEmptyOutput,
    ]
}

/// A full set of counter values.
public struct CounterValues: Sendable, Equatable {
    public var values: [UInt64]

    public init() { values = Array(repeating: 0, count: Counter.allCases.count) }

    public subscript(counter: Counter) -> UInt64 {
        get { values[counter.rawValue] }
        set { values[counter.rawValue] = newValue }
    }

    public mutating func add(_ other: CounterValues) {
        for counter in Counter.allCases where counter != .statsZeroedTimestamp {
            self[counter] = self[counter].saturatingAdding(other[counter])
        }
        self[.statsZeroedTimestamp] = max(self[.statsZeroedTimestamp], other[.statsZeroedTimestamp])
    }
}

extension UInt64 {
    /// Counters saturate instead of trapping: statistics files are written by many processes and may hold
    /// anything, and `-s` must still print.
    public func saturatingAdding(_ other: UInt64) -> UInt64 {
        let (sum, overflow) = addingReportingOverflow(other)
        return overflow ? .max : sum
    }
}

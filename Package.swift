// swift-tools-version:6.0
import PackageDescription

/// Generic types' metadata through direct accessor calls instead of mangled names the runtime demangles on
/// first use: every call starts a new process, where that demangling was a fifth of a small miss's
/// instructions before the compiler runs (758 K -> 627 K) and 6 % of a direct hit's.
let directMetadata: [SwiftSetting] = [
    .unsafeFlags(["-Xfrontend", "-disable-concrete-type-metadata-mangled-name-accessors"]),
]

/// Release builds lay out first the functions a call runs (`bench/function_order.py` lists them): the kernel
/// maps a static binary's text 64 KiB around each page fault, and with those functions spread over 7 MB a
/// small C hit mapped 4.5 MB of text. `_StringProcessing` and `_Concurrency` are not imported: nothing here
/// needs them, yet their code was linked in, and its large sections held copies of functions a hit runs.
let compactCode: [SwiftSetting] = [
    .unsafeFlags(["-Xfrontend", "-disable-implicit-string-processing-module-import",
                  "-Xfrontend", "-disable-implicit-concurrency-module-import"]),
    .unsafeFlags(["-Xfrontend", "-function-sections"], .when(configuration: .release)),
]
let hitPathLayout: [LinkerSetting] = [
    .unsafeFlags(["-use-ld=lld",
                  "-Xlinker", "--symbol-ordering-file=\(Context.packageDirectory)/Sources/incrcc/function-order.txt",
                  "-Xlinker", "--no-warn-symbol-ordering"], .when(configuration: .release)),
]

let package = Package(
    name: "incrcc",
    products: [
        .executable(name: "incrcc", targets: ["incrcc"]),
        .executable(name: "incrcc-scan", targets: ["incrcc-scan"]),
        .executable(name: "incrcc-storage-redis", targets: ["incrcc-storage-redis"]),
        .executable(name: "incrcc-storage-http", targets: ["incrcc-storage-http"]),
        .library(name: "IncrccCore", targets: ["IncrccCore"]),
        /// What a storage helper built elsewhere needs: the helper side of the protocol and SHA-256
        /// (`Helpers/reapi`, whose gRPC and SwiftNIO stay out of this package and its test build).
        .library(name: "StorageHelperKit", targets: ["StorageHelperServer", "StorageProtocol", "CSHA256"]),
    ],
    targets: [
        .systemLibrary(name: "CZstd", pkgConfig: "libzstd", providers: [.apt(["libzstd-dev"])]),
        .systemLibrary(name: "CXXHash", pkgConfig: "libxxhash", providers: [.apt(["libxxhash-dev"])]),
        /// Function table for libclang, filled by dlopen at run time; libclang is never linked.
        .target(name: "CLibclang", linkerSettings: [.linkedLibrary("dl")]),
        .systemLibrary(name: "CHiredis", pkgConfig: "hiredis", providers: [.apt(["libhiredis-dev"])]),
        /// SHA-256 from libcrypto (static in the static incrcc): the shared tier's keys.
        .target(name: "CSHA256", linkerSettings: [.linkedLibrary("crypto")]),
        .target(name: "CFileExchange"),
        /// libcurl's variadic setters as typed functions Swift can call.
        .target(name: "CCurl", linkerSettings: [.linkedLibrary("curl")]),
        /// ccache's storage-helper protocol: the client in incrcc, the server in the helpers.
        .target(name: "StorageProtocol", swiftSettings: directMetadata + compactCode),
        .target(name: "StorageHelperServer", dependencies: ["StorageProtocol"]),
        .target(name: "IncrccCore", dependencies: ["CZstd", "CXXHash", "CLibclang", "CSHA256", "CFileExchange", "StorageProtocol"],
                swiftSettings: directMetadata + compactCode),
        /// Long-lived storage helpers: they keep the connections incrcc's short-lived calls cannot.
        .executableTarget(name: "incrcc-storage-redis", dependencies: ["StorageHelperServer", "CHiredis"]),
        .executableTarget(name: "incrcc-storage-http", dependencies: ["StorageHelperServer", "CCurl"]),
        .executableTarget(name: "incrcc", dependencies: ["IncrccCore"], exclude: ["function-order.txt"],
                         swiftSettings: directMetadata + compactCode, linkerSettings: hitPathLayout),
        /// libclang's scan in a dynamically linked child: incrcc itself is static and never loads libclang.
        .executableTarget(name: "incrcc-scan", dependencies: ["IncrccCore"]),
        .testTarget(name: "IncrccCoreTests", dependencies: ["IncrccCore", "StorageProtocol", "StorageHelperServer"]),
    ],
    swiftLanguageModes: [.v6]
)

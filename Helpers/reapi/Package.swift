// swift-tools-version:6.0
import PackageDescription

/// incrcc-storage-reapi: a storage helper for Remote Execution API v2 caches (ActionCache + CAS + ByteStream).
/// A package of its own so that gRPC, SwiftNIO and BoringSSL never enter incrcc's package or its test build;
/// it takes the helper side of ccache's storage-helper protocol from incrcc's package by path.
let package = Package(
    name: "incrcc-storage-reapi",
    products: [
        .executable(name: "incrcc-storage-reapi", targets: ["incrcc-storage-reapi"]),
    ],
    dependencies: [
        .package(name: "incrcc", path: "../.."),
        .package(url: "https://github.com/grpc/grpc-swift-2.git", from: "2.4.3"),
        .package(url: "https://github.com/grpc/grpc-swift-nio-transport.git", from: "2.9.2"),
        .package(url: "https://github.com/grpc/grpc-swift-protobuf.git", from: "2.4.1"),
        .package(url: "https://github.com/apple/swift-protobuf.git", from: "1.39.0"),
    ],
    targets: [
        /// Its message and client code is generated from `Protos/` by `Protos/generate` and committed.
        .executableTarget(name: "incrcc-storage-reapi", dependencies: [
            .product(name: "StorageHelperKit", package: "incrcc"),
            .product(name: "GRPCCore", package: "grpc-swift-2"),
            .product(name: "GRPCNIOTransportHTTP2", package: "grpc-swift-nio-transport"),
            .product(name: "GRPCProtobuf", package: "grpc-swift-protobuf"),
            .product(name: "SwiftProtobuf", package: "swift-protobuf"),
        ]),
    ],
    swiftLanguageModes: [.v6]
)

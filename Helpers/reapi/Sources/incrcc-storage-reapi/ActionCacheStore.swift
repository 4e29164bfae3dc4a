import CSHA256
import Foundation
import Glibc
import GRPCCore
import GRPCNIOTransportHTTP2
import StorageHelperServer
import StorageProtocol

typealias Digest = Build_Bazel_Remote_Execution_V2_Digest

/// Entries kept as action results whose one output file's bytes are a CAS blob.
struct ActionCacheStore: Sendable {
    let client: GRPCClient<HTTP2ClientTransport.Posix>
    let target: ReapiTarget

    /// Blobs up to this size travel in one batch message, larger ones through ByteStream in chunks of this
    /// size: well below gRPC's usual 4 MiB message limit, which servers apply to requests and responses.
    static let batchLimit = 1 << 20
    /// The output file's name in the action result.
    static let outputName = "entry"

    private var options: CallOptions {
        var options = CallOptions.defaults
        options.timeout = .milliseconds(Int64(target.operationTimeout))
        options.maxResponseMessageBytes = 2 * Self.batchLimit + 65_536
        // A server that is down fails the call at once (the helper then skips it for a while).
        options.waitForReady = false
        return options
    }

    private var metadata: Metadata {
        var metadata = Metadata()
        for (name, value) in target.metadata { metadata.addString(value, forKey: name) }
        return metadata
    }

    private var actionCache: Build_Bazel_Remote_Execution_V2_ActionCache.Client<HTTP2ClientTransport.Posix> {
        .init(wrapping: client)
    }
    private var storage: Build_Bazel_Remote_Execution_V2_ContentAddressableStorage.Client<HTTP2ClientTransport.Posix> {
        .init(wrapping: client)
    }
    private var byteStream: Google_Bytestream_ByteStream.Client<HTTP2ClientTransport.Posix> { .init(wrapping: client) }

    /// The action digest of a key: a prefix of the helper's own keeps it apart from any real action's.
    static func actionDigest(_ key: [UInt8]) -> Digest {
        Digest.of(Array("incrcc-storage-reapi entry\u{0}".utf8) + key)
    }

    func get(_ key: [UInt8]) async -> BackendReply {
        do {
            guard let file = try await lookUp(key, inline: true) else { return .noop }
            let digest = file.digest
            guard digest.isSHA256, digest.sizeBytes >= 0, UInt64(digest.sizeBytes) <= StorageWire.maximumValue else {
                return .failed("the server's entry names a malformed digest")
            }
            let bytes: [UInt8]
            if !file.contents.isEmpty || digest.sizeBytes == 0 {
                bytes = Array(file.contents)
            } else if let read = try await (digest.sizeBytes <= Self.batchLimit ? batchRead(digest) : streamRead(digest)) {
                bytes = read
            } else {
                return .noop  // the result outlived its blob: a miss
            }
            guard Digest.of(bytes) == digest else { return .failed("the server returned bytes that do not match their digest") }
            return .ok(bytes)
        } catch {
            return Self.reply(for: error)
        }
    }

    func put(_ key: [UInt8], value: [UInt8], overwrite: Bool) async -> BackendReply {
        do {
            if !overwrite, try await lookUp(key, inline: false) != nil { return .noop }
            let digest = Digest.of(value)
            if value.count <= Self.batchLimit {
                try await batchWrite(digest, value)
            } else {
                try await streamWrite(digest, value)
            }
            var file = Build_Bazel_Remote_Execution_V2_OutputFile()
            file.path = Self.outputName
            file.digest = digest
            var result = Build_Bazel_Remote_Execution_V2_ActionResult()
            result.outputFiles = [file]
            try await update(key, result)
            return .ok([])
        } catch {
            return Self.reply(for: error)
        }
    }

    /// The API has no delete: the key's result is replaced by one without the output file.
    func remove(_ key: [UInt8]) async -> BackendReply {
        do {
            guard try await lookUp(key, inline: false) != nil else { return .noop }
            try await update(key, Build_Bazel_Remote_Execution_V2_ActionResult())
            return .ok([])
        } catch {
            return Self.reply(for: error)
        }
    }

    func exists(_ key: [UInt8]) async -> BackendReply {
        do {
            return .ok([try await lookUp(key, inline: false) != nil ? 1 : 0])
        } catch {
            return Self.reply(for: error)
        }
    }

    /// The key's output file, nil when the key has none; its contents inlined when asked and the server agrees.
    private func lookUp(_ key: [UInt8], inline: Bool) async throws -> Build_Bazel_Remote_Execution_V2_OutputFile? {
        var request = Build_Bazel_Remote_Execution_V2_GetActionResultRequest()
        request.instanceName = target.instance
        request.actionDigest = Self.actionDigest(key)
        if inline { request.inlineOutputFiles = [Self.outputName] }
        do {
            let result = try await actionCache.getActionResult(request, metadata: metadata, options: options)
            return result.outputFiles.first { $0.path == Self.outputName }
        } catch let error as RPCError where error.code == .notFound {
            return nil
        }
    }

    private func update(_ key: [UInt8], _ result: Build_Bazel_Remote_Execution_V2_ActionResult) async throws {
        var request = Build_Bazel_Remote_Execution_V2_UpdateActionResultRequest()
        request.instanceName = target.instance
        request.actionDigest = Self.actionDigest(key)
        request.actionResult = result
        _ = try await actionCache.updateActionResult(request, metadata: metadata, options: options)
    }

    private func batchRead(_ digest: Digest) async throws -> [UInt8]? {
        var request = Build_Bazel_Remote_Execution_V2_BatchReadBlobsRequest()
        request.instanceName = target.instance
        request.digests = [digest]
        let response = try await storage.batchReadBlobs(request, metadata: metadata, options: options)
        guard let item = response.responses.first(where: { $0.digest == digest }) else {
            throw RPCError(code: .internalError, message: "the server's batch answer left out the blob")
        }
        if item.status.code == RPCError.Code.notFound.rawValue { return nil }
        guard item.status.code == 0 else { throw RPCError(code: .unknown, message: "reading a blob: \(item.status.message)") }
        return Array(item.data)
    }

    private func batchWrite(_ digest: Digest, _ bytes: [UInt8]) async throws {
        var blob = Build_Bazel_Remote_Execution_V2_BatchUpdateBlobsRequest.Request()
        blob.digest = digest
        blob.data = Data(bytes)
        var request = Build_Bazel_Remote_Execution_V2_BatchUpdateBlobsRequest()
        request.instanceName = target.instance
        request.requests = [blob]
        let response = try await storage.batchUpdateBlobs(request, metadata: metadata, options: options)
        for item in response.responses where item.status.code != 0 {
            throw RPCError(code: .unknown, message: "storing a blob: \(item.status.message)")
        }
    }

    /// A large blob in chunks; nil when the server does not have it. More bytes than the digest's size are
    /// refused as they arrive.
    private func streamRead(_ digest: Digest) async throws -> [UInt8]? {
        var request = Google_Bytestream_ReadRequest()
        request.resourceName = target.resource("blobs/\(digest.hash)/\(digest.sizeBytes)")
        let size = Int(digest.sizeBytes)
        do {
            return try await byteStream.read(request, metadata: metadata, options: options) { response in
                var bytes: [UInt8] = []
                bytes.reserveCapacity(size)
                for try await message in response.messages {
                    guard bytes.count + message.data.count <= size else {
                        throw RPCError(code: .outOfRange, message: "the server sent more bytes than the blob holds")
                    }
                    bytes.append(contentsOf: message.data)
                }
                return bytes
            }
        } catch let error as RPCError where error.code == .notFound {
            return nil
        }
    }

    private func streamWrite(_ digest: Digest, _ bytes: [UInt8]) async throws {
        let resource = target.resource("uploads/\(Self.uuid())/blobs/\(digest.hash)/\(digest.sizeBytes)")
        let chunk = Self.batchLimit
        let response = try await byteStream.write(metadata: metadata, options: options, requestProducer: { writer in
            var offset = 0
            repeat {
                let end = min(offset + chunk, bytes.count)
                var request = Google_Bytestream_WriteRequest()
                if offset == 0 { request.resourceName = resource }
                request.writeOffset = Int64(offset)
                request.data = Data(bytes[offset..<end])
                request.finishWrite = end == bytes.count
                try await writer.write(request)
                offset = end
            } while offset < bytes.count
        })
        // A server that already had the blob may stop the upload early and report its full size.
        guard response.committedSize == digest.sizeBytes else {
            throw RPCError(code: .dataLoss, message: "the server committed \(response.committedSize) of \(digest.sizeBytes) bytes")
        }
    }

    /// A version 4 UUID for an upload's resource name.
    static func uuid() -> String {
        var generator = SystemRandomNumberGenerator()
        var bytes = (0..<16).map { _ in UInt8.random(in: 0...255, using: &generator) }
        bytes[6] = bytes[6] & 0x0f | 0x40
        bytes[8] = bytes[8] & 0x3f | 0x80
        let hex = hexKey(bytes)
        let cut = [8, 12, 16, 20].map { hex.index(hex.startIndex, offsetBy: $0) }
        return "\(hex[..<cut[0]])-\(hex[cut[0]..<cut[1]])-\(hex[cut[1]..<cut[2]])-\(hex[cut[2]..<cut[3]])-\(hex[cut[3]...])"
    }

    /// A short message for the client; a server's own text is cut, since it reaches a compile's log.
    static func reply(for error: any Error) -> BackendReply {
        guard let error = error as? RPCError else { return .failed(String(describing: error).prefix(200).description) }
        let message = String(error.message.prefix(200))
        switch error.code {
        case .deadlineExceeded: return .timedOut("the server did not answer in time")
        case .unavailable: return .failed("cannot reach the server: \(message)")
        case .unauthenticated, .permissionDenied: return .failed("the server refused the request: \(message)")
        default: return .failed("\(error.code): \(message)")
        }
    }
}

extension Digest {
    /// The SHA-256 digest of `bytes`, as the API writes it: lowercase hex and the length.
    static func of(_ bytes: [UInt8]) -> Digest {
        var state = incrcc_sha256_state()
        incrcc_sha256_init(&state)
        bytes.withUnsafeBytes { incrcc_sha256_update(&state, $0.baseAddress, $0.count) }
        var sum = [UInt8](repeating: 0, count: 32)
        incrcc_sha256_final(&state, &sum)
        var digest = Digest()
        digest.hash = hexKey(sum)
        digest.sizeBytes = Int64(bytes.count)
        return digest
    }

    /// 64 lowercase hex digits: nothing else may reach a resource name.
    var isSHA256: Bool {
        hash.utf8.count == 64 && hash.utf8.allSatisfy { ($0 >= 0x30 && $0 <= 0x39) || ($0 >= 0x61 && $0 <= 0x66) }
    }
}

/// ccache's storage-helper protocol, version 1: the request codes, capabilities and status bytes.
public enum StorageWire {
    public static let version: UInt8 = 1

    public enum Capability: UInt8, Sendable {
        case getPutRemove = 0
        case info = 1
        case exists = 2
    }

    public enum Operation: UInt8, Sendable {
        case get = 0
        case put = 1
        case remove = 2
        case stop = 3
        case info = 4
        case exists = 5
    }

    public enum Status: UInt8, Sendable {
        case ok = 0
        case noop = 1
        case error = 2
    }

    /// Put's flag: replace what is stored (a hint; a helper may store anyway).
    public static let overwriteFlag: UInt8 = 1

    /// The largest value either side accepts in one message: bigger than any object file a compile writes.
    public static let maximumValue: UInt64 = 1 << 31
}

/// One request as a helper reads it.
public enum StorageRequest: Equatable, Sendable {
    case get(key: [UInt8])
    case put(key: [UInt8], overwrite: Bool, value: [UInt8])
    case remove(key: [UInt8])
    case stop
    case info
    case exists(key: [UInt8])

    /// Reads the next request; nil when the client closed the connection between requests.
    public static func read(from channel: borrowing Channel) throws(ChannelError) -> StorageRequest? {
        let code: UInt8
        do {
            code = try channel.readByte()
        } catch .closed {
            return nil
        }
        guard let operation = StorageWire.Operation(rawValue: code) else {
            throw .malformed("unknown request \(code)")
        }
        switch operation {
        case .get: return .get(key: try channel.readShort())
        case .remove: return .remove(key: try channel.readShort())
        case .exists: return .exists(key: try channel.readShort())
        case .stop: return .stop
        case .info: return .info
        case .put:
            let key = try channel.readShort()
            let flags = try channel.readByte()
            let length = try channel.readUInt64()
            guard length <= StorageWire.maximumValue else { throw .malformed("value of \(length) bytes") }
            let value = try channel.read(Int(length))
            return .put(key: key, overwrite: flags & StorageWire.overwriteFlag != 0, value: value)
        }
    }

    public var encoded: [UInt8] {
        var writer = WireWriter()
        switch self {
        case .get(let key):
            writer.byte(StorageWire.Operation.get.rawValue)
            writer.short(key)
        case .put(let key, let overwrite, let value):
            writer.byte(StorageWire.Operation.put.rawValue)
            writer.short(key)
            writer.byte(overwrite ? StorageWire.overwriteFlag : 0)
            writer.value(value)
        case .remove(let key):
            writer.byte(StorageWire.Operation.remove.rawValue)
            writer.short(key)
        case .stop:
            writer.byte(StorageWire.Operation.stop.rawValue)
        case .info:
            writer.byte(StorageWire.Operation.info.rawValue)
        case .exists(let key):
            writer.byte(StorageWire.Operation.exists.rawValue)
            writer.short(key)
        }
        return writer.bytes
    }
}

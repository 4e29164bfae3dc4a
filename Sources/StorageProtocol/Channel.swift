import Glibc

/// Why an exchange with the other end ended early.
public enum ChannelError: Error, Equatable, Sendable {
    /// The deadline passed first.
    case timeout
    /// The other end closed the connection.
    case closed
    /// The peer sent something the protocol does not allow.
    case malformed(String)
    case system(Int32)

    public var description: String {
        switch self {
        case .timeout: return "timed out"
        case .closed: return "connection closed"
        case .malformed(let what): return "protocol error: \(what)"
        case .system(let code): return String(cString: strerror(code))
        }
    }
}

/// A connected stream socket read and written with one deadline for a whole exchange: a peer that stops
/// answering costs at most the time left, never a hang.
public struct Channel: ~Copyable {
    public let descriptor: Int32
    /// Monotonic nanoseconds after which every call throws `.timeout`; nil waits as long as it takes.
    public var deadline: Int64?

    public init(descriptor: Int32, deadline: Int64? = nil) {
        self.descriptor = descriptor
        self.deadline = deadline
    }

    deinit { close(descriptor) }

    public static func monotonicNanoseconds() -> Int64 {
        var now = timespec()
        clock_gettime(CLOCK_MONOTONIC, &now)
        return Int64(now.tv_sec) * 1_000_000_000 + Int64(now.tv_nsec)
    }

    /// Sets the deadline `milliseconds` from now.
    public mutating func expire(afterMilliseconds milliseconds: Int) {
        deadline = Self.monotonicNanoseconds() + Int64(milliseconds) * 1_000_000
    }

    /// Waits until the socket is ready for `events`, within the deadline.
    func wait(for events: Int16) throws(ChannelError) {
        while true {
            var timeout: Int32 = -1
            if let deadline {
                let left = deadline - Self.monotonicNanoseconds()
                if left <= 0 { throw .timeout }
                timeout = Int32(clamping: (left + 999_999) / 1_000_000)
            }
            var entry = pollfd(fd: descriptor, events: events, revents: 0)
            let ready = poll(&entry, 1, timeout)
            if ready > 0 { return }
            if ready == 0 { throw .timeout }
            if errno != EINTR { throw .system(errno) }
        }
    }

    public func write(_ bytes: [UInt8]) throws(ChannelError) {
        let failure: ChannelError? = bytes.withUnsafeBytes { buffer in
            do throws(ChannelError) { try write(raw: buffer) } catch { return error }
            return nil
        }
        if let failure { throw failure }
    }

    public func write(raw buffer: UnsafeRawBufferPointer) throws(ChannelError) {
        var offset = 0
        while offset < buffer.count {
            let written = send(descriptor, buffer.baseAddress! + offset, buffer.count - offset,
                               Int32(MSG_NOSIGNAL | MSG_DONTWAIT))
            if written > 0 {
                offset += written
            } else if written < 0 && (errno == EAGAIN || errno == EWOULDBLOCK) {
                try wait(for: Int16(POLLOUT))
            } else if written < 0 && errno == EINTR {
                continue
            } else {
                throw errno == EPIPE || errno == ECONNRESET ? .closed : .system(errno)
            }
        }
    }

    /// Exactly `count` bytes. Memory grows only with what arrives, so a length the peer claims but never
    /// sends allocates nothing.
    public func read(_ count: Int) throws(ChannelError) -> [UInt8] {
        var out: [UInt8] = []
        out.reserveCapacity(min(count, 1 << 20))
        var chunk = [UInt8](repeating: 0, count: min(max(count, 1), 1 << 20))
        while out.count < count {
            let want = min(chunk.count, count - out.count)
            let got = chunk.withUnsafeMutableBytes { recv(descriptor, $0.baseAddress, want, Int32(MSG_DONTWAIT)) }
            if got > 0 {
                out.append(contentsOf: chunk[0..<got])
            } else if got == 0 {
                throw .closed
            } else if errno == EAGAIN || errno == EWOULDBLOCK {
                try wait(for: Int16(POLLIN))
            } else if errno != EINTR {
                throw errno == ECONNRESET ? .closed : .system(errno)
            }
        }
        return out
    }

    public func readByte() throws(ChannelError) -> UInt8 { try read(1)[0] }

    public func readUInt64() throws(ChannelError) -> UInt64 {
        let bytes = try read(8)
        var value: UInt64 = 0
        withUnsafeMutableBytes(of: &value) { $0.copyBytes(from: bytes) }
        return value
    }

    /// A u8 length and that many bytes (keys and messages).
    public func readShort() throws(ChannelError) -> [UInt8] {
        let count = Int(try readByte())
        return count == 0 ? [] : try read(count)
    }
}

/// Builds one message in the protocol's encoding (integers in host byte order).
public struct WireWriter {
    public var bytes: [UInt8] = []

    public init() {}

    public mutating func byte(_ value: UInt8) { bytes.append(value) }

    public mutating func uint64(_ value: UInt64) {
        withUnsafeBytes(of: value) { bytes.append(contentsOf: $0) }
    }

    /// A key or message: at most 255 bytes (longer messages are cut at a character boundary).
    public mutating func short(_ value: [UInt8]) {
        var value = value
        if value.count > 255 {
            var end = 255
            while end > 0 && value[end] & 0xC0 == 0x80 { end -= 1 }
            value = Array(value[..<end])
        }
        bytes.append(UInt8(value.count))
        bytes.append(contentsOf: value)
    }

    public mutating func value(_ value: [UInt8]) {
        uint64(UInt64(value.count))
        bytes.append(contentsOf: value)
    }
}

/// The parts of a storage URL the helpers need: scheme, user information, host, port, path and query,
/// percent-decoded where they may be percent-encoded.
public struct HelperURL: Sendable {
    public var scheme: String
    public var user: String?
    public var password: String?
    public var host: String
    public var port: Int?
    public var path: String
    public var query: [(name: String, value: String)]

    public init(_ text: String) throws(StartError) {
        guard let colon = text.firstIndex(of: ":") else { throw StartError("not a URL") }
        scheme = text[..<colon].lowercased()
        var rest = Substring(text[text.index(after: colon)...])
        query = []
        if let mark = rest.firstIndex(of: "?") {
            for pair in rest[rest.index(after: mark)...].split(separator: "&") {
                let parts = pair.split(separator: "=", maxSplits: 1, omittingEmptySubsequences: false)
                query.append((Self.decode(parts[0]), parts.count > 1 ? Self.decode(parts[1]) : ""))
            }
            rest = rest[..<mark]
        }
        host = ""
        if rest.hasPrefix("//") {
            rest = rest.dropFirst(2)
            let authorityEnd = rest.firstIndex(of: "/") ?? rest.endIndex
            var authority = rest[..<authorityEnd]
            rest = rest[authorityEnd...]
            if let at = authority.lastIndex(of: "@") {
                let information = authority[..<at]
                authority = authority[authority.index(after: at)...]
                if let separator = information.firstIndex(of: ":") {
                    let name = Self.decode(information[..<separator])
                    user = name.isEmpty ? nil : name
                    password = Self.decode(information[information.index(after: separator)...])
                } else {
                    user = Self.decode(information)
                }
            }
            if authority.hasPrefix("["), let close = authority.firstIndex(of: "]") {
                host = String(authority[authority.index(after: authority.startIndex)..<close])
                authority = authority[authority.index(after: close)...]
                if authority.hasPrefix(":") { port = try Self.port(authority.dropFirst()) }
            } else if let separator = authority.lastIndex(of: ":") {
                host = String(authority[..<separator])
                port = try Self.port(authority[authority.index(after: separator)...])
            } else {
                host = String(authority)
            }
        }
        path = Self.decode(rest)
    }

    static func port(_ text: Substring) throws(StartError) -> Int {
        guard let number = Int(text), number > 0, number < 65536 else { throw StartError("bad port '\(text)'") }
        return number
    }

    /// `%XX` sequences decoded; anything else kept as written.
    public static func decode(_ text: Substring) -> String {
        var out: [UInt8] = []
        var bytes = Array(text.utf8)[...]
        while let first = bytes.first {
            if first == UInt8(ascii: "%"), bytes.count >= 3,
               let value = UInt8(String(decoding: bytes.dropFirst().prefix(2), as: UTF8.self), radix: 16) {
                out.append(value)
                bytes = bytes.dropFirst(3)
            } else {
                out.append(first)
                bytes = bytes.dropFirst()
            }
        }
        return String(decoding: out, as: UTF8.self)
    }
}

/// Lowercase hex of a binary key: how helpers name entries on servers.
public func hexKey(_ key: [UInt8]) -> String {
    let digits = Array("0123456789abcdef".utf8)
    var out: [UInt8] = []
    out.reserveCapacity(key.count * 2)
    for byte in key {
        out.append(digits[Int(byte >> 4)])
        out.append(digits[Int(byte & 0xf)])
    }
    return String(decoding: out, as: UTF8.self)
}

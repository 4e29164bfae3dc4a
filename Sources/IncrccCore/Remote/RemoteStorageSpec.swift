/// One entry of `remote_storage`, in ccache's syntax: `URL|attribute=value|…`.
///
/// incrcc acts on `read-only`, `shards`, `helper` and `idle-timeout`; every other attribute goes to the
/// storage helper as a custom attribute (`connect-timeout`, `operation-timeout`, `layout`, `bearer-token`,
/// `header`, `ca-file` for incrcc's own helpers).
public struct RemoteStorageSpec: Equatable, Sendable {
    public var url: String
    public var attributes: [Attribute]
    public var readOnly = false
    /// Names the `*` in the URL stands for, with their weights (`shards=a(3),b,c(1.5)`).
    public var shards: [Shard] = []
    /// A helper program named explicitly (`helper=/path`), instead of the one for the URL's scheme.
    public var helper: String?
    /// Seconds an idle helper waits for clients before it exits (0: never).
    public var idleTimeout = 600

    public struct Attribute: Equatable, Sendable {
        public var key: String
        public var value: String

        public init(key: String, value: String) {
            self.key = key
            self.value = value
        }
    }

    public struct Shard: Equatable, Sendable {
        public var name: String
        public var weight: Double
    }

    /// The URL's scheme, lowercased; `crsh` for a helper someone else started (`crsh:/path/to/socket`).
    public var scheme: String {
        guard let colon = url.firstIndex(of: ":") else { return "" }
        return url[..<colon].lowercased()
    }

    /// Attributes that hold secrets: never printed.
    static let secretAttributes: Set<String> = ["bearer-token", "header", "password"]

    /// Parses a space-separated list; throws a message naming the bad entry (with secrets hidden).
    public static func parseList(_ text: String) throws(ConfigurationError) -> [RemoteStorageSpec] {
        var specs: [RemoteStorageSpec] = []
        for word in text.split(whereSeparator: { $0 == " " || $0 == "\t" || $0 == "\n" }) {
            specs.append(try parse(String(word)))
        }
        return specs
    }

    public static func parse(_ text: String) throws(ConfigurationError) -> RemoteStorageSpec {
        let parts = text.split(separator: "|", omittingEmptySubsequences: false).map(String.init)
        var spec = RemoteStorageSpec(url: parts[0], attributes: [])
        var shown: String { Self.redact(url: parts[0]) }
        guard spec.url.contains(":"), !spec.scheme.isEmpty else {
            throw ConfigurationError("remote_storage: '\(shown)' is not a URL")
        }
        for part in parts.dropFirst() where !part.isEmpty {
            let key: String
            let value: String
            if let equals = part.firstIndex(of: "=") {
                key = String(part[..<equals])
                value = String(part[part.index(after: equals)...])
            } else {
                key = part
                value = "true"
            }
            switch key {
            case "read-only":
                guard let flag = Self.flag(value) else {
                    throw ConfigurationError("remote_storage \(shown): read-only='\(value)' is not true or false")
                }
                spec.readOnly = flag
            case "shards":
                spec.shards = try Self.shards(value, url: shown)
            case "helper":
                spec.helper = value
            case "idle-timeout":
                guard let seconds = Int(value), seconds >= 0 else {
                    throw ConfigurationError("remote_storage \(shown): idle-timeout='\(value)' is not seconds")
                }
                spec.idleTimeout = seconds
            default:
                spec.attributes.append(Attribute(key: key, value: value))
            }
        }
        if !spec.shards.isEmpty && !spec.url.contains("*") {
            throw ConfigurationError("remote_storage \(shown): shards need a '*' in the URL")
        }
        if spec.scheme == "crsh" && spec.url.count <= 5 {
            throw ConfigurationError("remote_storage: crsh: needs a socket path")
        }
        return spec
    }

    static func flag(_ value: String) -> Bool? {
        switch value.lowercased() {
        case "true", "yes", "1", "on": return true
        case "false", "no", "0", "off": return false
        default: return nil
        }
    }

    static func shards(_ value: String, url: String) throws(ConfigurationError) -> [Shard] {
        var shards: [Shard] = []
        for item in value.split(separator: ",") {
            var name = Substring(item)
            var weight = 1.0
            if name.hasSuffix(")"), let open = name.firstIndex(of: "(") {
                guard let number = Double(name[name.index(after: open)..<name.index(before: name.endIndex)]),
                      number > 0, number.isFinite else {
                    throw ConfigurationError("remote_storage \(url): bad shard weight in '\(item)'")
                }
                weight = number
                name = name[..<open]
            }
            guard !name.isEmpty else { throw ConfigurationError("remote_storage \(url): empty shard name") }
            shards.append(Shard(name: String(name), weight: weight))
        }
        return shards
    }

    /// The URL for one shard (`*` replaced), or the URL itself.
    public func url(shard: Shard?) -> String {
        guard let shard else { return url }
        return url.replacingAll("*", with: shard.name)
    }

    /// The URL with any password replaced by `***`: what logs, `-p` and messages show.
    public static func redact(url: String) -> String {
        guard let start = url.range(of: "://") else { return url }
        let rest = url[start.upperBound...]
        let authorityEnd = rest.firstIndex(of: "/") ?? rest.endIndex
        guard let at = rest[..<authorityEnd].lastIndex(of: "@") else { return url }
        let information = rest[..<at]
        let shownInformation = information.firstIndex(of: ":").map { information[..<$0] + ":***" } ?? information
        return String(url[..<start.upperBound]) + shownInformation + String(rest[at...])
    }

    /// The entry as `-p` prints it: password and secret attributes hidden.
    public var redacted: String {
        var text = Self.redact(url: url)
        for attribute in attributes {
            let value = Self.secretAttributes.contains(attribute.key) ? "***" : attribute.value
            text += "|\(attribute.key)=\(value)"
        }
        if readOnly { text += "|read-only" }
        if !shards.isEmpty {
            text += "|shards=" + shards.map { $0.weight == 1 ? $0.name : "\($0.name)(\($0.weight))" }.joined(separator: ",")
        }
        if let helper { text += "|helper=\(helper)" }
        if idleTimeout != 600 { text += "|idle-timeout=\(idleTimeout)" }
        return text
    }
}

extension String {
    func replacingAll(_ target: Character, with replacement: String) -> String {
        var out = ""
        for character in self {
            if character == target { out += replacement } else { out.append(character) }
        }
        return out
    }

    func range(of needle: String) -> Range<String.Index>? {
        var index = startIndex
        while index < endIndex {
            if self[index...].hasPrefix(needle) { return index..<self.index(index, offsetBy: needle.count) }
            index = self.index(after: index)
        }
        return nil
    }
}

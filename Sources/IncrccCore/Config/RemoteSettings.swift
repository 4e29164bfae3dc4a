/// The shared tier's settings, under ccache's names: where it is, and how this machine uses it.
public struct RemoteSettings: Sendable, Equatable {
    /// `remote_storage`: space-separated `URL|attribute=value|…` entries, read in order.
    public var storage: [RemoteStorageSpec] = []
    /// `remote_only`: no local entries are read or written; everything goes through the shared tier.
    public var remoteOnly = false
    /// `reshare`: a local hit is also written to the shared tier (after returning).
    public var reshare = false
    /// `namespace`: part of every shared key, so projects or branches can share one server apart.
    public var namespace = ""

    public init() {}

    static let names: [(name: String, variable: String)] = [
        ("remote_storage", "INCRCC_REMOTE_STORAGE"), ("remote_only", "INCRCC_REMOTE_ONLY"),
        ("reshare", "INCRCC_RESHARE"), ("namespace", "INCRCC_NAMESPACE"),
    ]

    /// Whether calls use the shared tier at all.
    public var isEnabled: Bool { !storage.isEmpty }

    /// Sets `name`; false when it is not one of these settings.
    mutating func set(_ name: String, _ value: String, origin: SettingOrigin) throws(ConfigurationError) -> Bool {
        switch name {
        case "remote_storage": storage = try RemoteStorageSpec.parseList(value)
        case "remote_only": remoteOnly = try Configuration.boolean(name, value, origin: origin)
        case "reshare": reshare = try Configuration.boolean(name, value, origin: origin)
        case "namespace": namespace = value
        default: return false
        }
        return true
    }

    /// The value `-p` prints; secrets are hidden.
    func value(of name: String) -> String? {
        switch name {
        case "remote_storage": return storage.map(\.redacted).joined(separator: " ")
        case "remote_only": return String(remoteOnly)
        case "reshare": return String(reshare)
        case "namespace": return namespace
        default: return nil
        }
    }
}

/// ccache's booleans read from the environment by their presence, and their `NO` forms.
extension Configuration {
    /// The variables ccache reads as booleans by their presence (`CCACHE_DISABLE=1`, and `CCACHE_NODISABLE`
    /// for false): set at all, they mean true, as with ccache; incrcc's own (`INCRCC_BACKGROUND_STORE`)
    /// take true or false. Spelled out, not derived: building the names on every call cost 80 K instructions
    /// of a 1 M instruction hit (callgrind).
    static let presenceBooleans: [(setting: String, variable: String, negative: String)] = [
        ("disable", "INCRCC_DISABLE", "INCRCC_NODISABLE"), ("recache", "INCRCC_RECACHE", "INCRCC_NORECACHE"),
        ("direct_mode", "INCRCC_DIRECT", "INCRCC_NODIRECT"), ("stats", "INCRCC_STATS", "INCRCC_NOSTATS"),
        ("hash_dir", "INCRCC_HASHDIR", "INCRCC_NOHASHDIR"), ("depend_mode", "INCRCC_DEPEND", "INCRCC_NODEPEND"),
        ("remote_only", "INCRCC_REMOTE_ONLY", "INCRCC_NOREMOTE_ONLY"), ("reshare", "INCRCC_RESHARE", "INCRCC_NORESHARE"),
        ("read_only", "INCRCC_READONLY", "INCRCC_NOREADONLY"),
    ]

    /// A presence boolean's value: true, unless it reads as a "no" (`0`, `false`, `disable`, `no`), whose
    /// meaning is in doubt, which ccache refuses with an error too. `other` is its opposite's name.
    static func presenceBoolean(_ variable: String, _ value: String, other: String) throws(ConfigurationError) -> Bool {
        switch value.lowercased() {
        case "0", "false", "disable", "no":
            throw ConfigurationError("\(variable): invalid boolean value '\(value)': any value means true "
                                     + "(unset it, or set \(other)=1)", isFatal: true)
        default:
            return true
        }
    }

    /// ccache's negative forms: `INCRCC_NODIRECT` (set to anything but a doubtful value) turns direct_mode off.
    mutating func applyNegativeForms(lookup: (String) -> String?) throws(ConfigurationError) {
        for boolean in Self.presenceBooleans {
            guard let value = lookup(boolean.negative) else { continue }
            _ = try Self.presenceBoolean(boolean.negative, value, other: boolean.variable)
            try set(boolean.setting, "false", origin: .file(boolean.negative))
            setOrigin(boolean.setting, .environment(boolean.negative))
        }
    }
}

/// Sizes as users write them, the way ccache reads them: a number with an optional suffix, k/M/G/T decimal
/// and Ki/Mi/Gi/Ti binary (a trailing B is allowed); a bare number means gigabytes; 0 means no limit.
public enum SizeText {
    public static func parse(_ text: String) -> UInt64? {
        var digits = ""
        var rest = Substring(text.trimmingSpaces())
        while let c = rest.first, c.isNumber || c == "." {
            digits.append(c)
            rest.removeFirst()
        }
        guard let number = Double(digits), number >= 0 else { return nil }
        var suffix = String(rest.trimmingSpaces())
        var bytesNamed = false
        if suffix.hasSuffix("B") || suffix.hasSuffix("b") {
            suffix.removeLast()
            bytesNamed = true
        }
        let multiplier: Double
        switch suffix {
        // A bare number is gigabytes, as with ccache; `B` alone names bytes (`-M 1b` was a gigabyte).
        case "": multiplier = bytesNamed ? 1 : 1e9
        case "k", "K": multiplier = 1e3
        case "M": multiplier = 1e6
        case "G": multiplier = 1e9
        case "T": multiplier = 1e12
        case "Ki": multiplier = 1024
        case "Mi": multiplier = 1024 * 1024
        case "Gi": multiplier = 1024 * 1024 * 1024
        case "Ti": multiplier = 1024.0 * 1024 * 1024 * 1024
        default: return nil
        }
        let bytes = number * multiplier
        guard bytes < 1.8e19 else { return nil }
        return UInt64(bytes)
    }

    /// A short human form: 5.0 GB, 312.4 MB, 12.0 kB, or "unlimited" for 0 as a limit.
    public static func format(_ bytes: UInt64) -> String {
        let value = Double(bytes)
        let units: [(Double, String)] = [(1e12, "TB"), (1e9, "GB"), (1e6, "MB"), (1e3, "kB")]
        for (size, name) in units where value >= size {
            return oneDecimal(value / size) + " " + name
        }
        return String(bytes) + " B"
    }

    static func oneDecimal(_ value: Double) -> String {
        let tenths = Int((value * 10).rounded())
        return String(tenths / 10) + "." + String(tenths % 10)
    }
}

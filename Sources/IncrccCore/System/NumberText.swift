/// Integers as text without the standard library's generic formatting (`String(_:radix:)`, `description`):
/// a hit that named its stats file and its temporary outputs that way ran code from five 64 KiB windows of
/// text it touched for nothing else, 320 KiB of its peak RSS (callgrind's addresses of a C++ hit).
enum NumberText {
    static func hex(_ value: UInt64) -> String {
        digits(value, base: 16)
    }

    static func decimal(_ value: Int) -> String {
        value < 0 ? "-" + digits(UInt64(value.magnitude), base: 10) : digits(UInt64(value), base: 10)
    }

    /// A non-negative decimal number of at most 18 digits; nil for anything else.
    static func decimalValue(_ text: String) -> Int? {
        guard !text.isEmpty, text.utf8.count <= 18 else { return nil }
        var value = 0
        for byte in text.utf8 {
            guard byte >= UInt8(ascii: "0"), byte <= UInt8(ascii: "9") else { return nil }
            value = value * 10 + Int(byte - UInt8(ascii: "0"))
        }
        return value
    }

    private static func digits(_ value: UInt64, base: UInt64) -> String {
        var bytes: [UInt8] = []
        var rest = value
        repeat {
            let digit = UInt8(truncatingIfNeeded: rest % base)
            bytes.append(digit < 10 ? UInt8(ascii: "0") + digit : UInt8(ascii: "a") + digit - 10)
            rest /= base
        } while rest > 0
        bytes.reverse()
        return String(decoding: bytes, as: UTF8.self)
    }
}

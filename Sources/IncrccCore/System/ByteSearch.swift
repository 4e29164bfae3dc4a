import Glibc

/// Finding a byte string inside another. Glibc's `memmem` is not visible to Swift without `_GNU_SOURCE`;
/// `memchr` on the needle's first byte plus `memcmp` is as fast for the needles searched here (store paths,
/// placeholders), whose first byte is rare in the data.
enum ByteSearch {
    /// Offset of the first `needle` at or after `from`, or nil.
    static func find(_ needle: UnsafeRawBufferPointer, in haystack: UnsafeRawBufferPointer, from: Int) -> Int? {
        guard let pin = needle.baseAddress, let base = haystack.baseAddress, !needle.isEmpty else { return nil }
        let length = needle.count
        let first = Int32(needle[0])
        var offset = from
        while offset + length <= haystack.count {
            guard let hit = memchr(base + offset, first, haystack.count - offset - length + 1) else { return nil }
            let position = base.distance(to: UnsafeRawPointer(hit))
            if memcmp(hit, pin, length) == 0 { return position }
            offset = position + 1
        }
        return nil
    }

    static func find(_ needle: [UInt8], in bytes: [UInt8], from: Int = 0) -> Int? {
        bytes.withUnsafeBytes { hay in needle.withUnsafeBytes { pin in find(pin, in: hay, from: from) } }
    }
}

extension String {
    /// Whether `text` occurs in this string, byte for byte: the library does not import `_StringProcessing`,
    /// where `String.contains(String)` lives (see `Package.swift`).
    func holds(_ text: String) -> Bool {
        text.isEmpty || ByteSearch.find(Array(text.utf8), in: Array(utf8)) != nil
    }
}

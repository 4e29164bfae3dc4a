/// Whether a path missing from an output's bytes is really missing from it. Compressed debug sections
/// (`-gz`, `--compress-debug-sections`) and LTO bytecode hold paths in a form no byte search sees, and
/// other formats are not known well enough to say. Only an ELF file without such sections is transparent:
/// for it, "no path part found" means the bytes do not depend on where the paths point.
public enum ObjectTransparency {
    static let compressedFlag: UInt64 = 0x800

    public static func isTransparent(_ bytes: [UInt8]) -> Bool {
        guard bytes.count >= 52, bytes[0] == 0x7f, bytes[1] == UInt8(ascii: "E"), bytes[2] == UInt8(ascii: "L"),
              bytes[3] == UInt8(ascii: "F"), bytes[5] == 1 else { return false }
        let wide = bytes[4] == 2
        guard wide || bytes[4] == 1, !wide || bytes.count >= 64 else { return false }
        func read(_ offset: Int, _ size: Int) -> UInt64? {
            guard offset >= 0, size <= 8, offset + size <= bytes.count else { return nil }
            var value: UInt64 = 0
            for i in (0..<size).reversed() { value = value << 8 | UInt64(bytes[offset + i]) }
            return value
        }
        guard let tableOffset = read(wide ? 0x28 : 0x20, wide ? 8 : 4),
              let entrySize = read(wide ? 0x3A : 0x2E, 2), let count = read(wide ? 0x3C : 0x30, 2),
              let namesIndex = read(wide ? 0x3E : 0x32, 2),
              count > 0, namesIndex < count, entrySize >= (wide ? 64 : 40),
              tableOffset < UInt64(bytes.count), count * entrySize <= UInt64(bytes.count) - tableOffset
        else { return false }
        func header(_ index: UInt64) -> (name: Int, flags: UInt64, offset: Int, size: Int)? {
            let base = Int(tableOffset + index * entrySize)
            guard let name = read(base, 4), let flags = read(base + 8, wide ? 8 : 4),
                  let offset = read(base + (wide ? 24 : 16), wide ? 8 : 4),
                  let size = read(base + (wide ? 32 : 20), wide ? 8 : 4),
                  offset <= UInt64(bytes.count), size <= UInt64(bytes.count) else { return nil }
            return (Int(name), flags, Int(offset), Int(size))
        }
        guard let names = header(namesIndex) else { return false }
        for index in 0..<count {
            guard let section = header(index) else { return false }
            if section.flags & compressedFlag != 0 { return false }
            let start = names.offset + section.name
            guard start < names.offset + names.size, start < bytes.count else { return false }
            let name = bytes[start..<min(bytes.count, start + 16)]
            for opaque in [".zdebug", ".gnu.lto_", ".gnu.debuglto_", ".llvm.lto", ".llvmbc"] where name.starts(with: opaque.utf8) {
                return false
            }
        }
        return true
    }
}

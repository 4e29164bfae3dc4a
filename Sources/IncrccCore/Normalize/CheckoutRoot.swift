/// The checkout a call builds in, for `base_dir`: the deepest directory holding both the working directory
/// and the source file, when that directory lies under `base_dir`. CMake passes absolute source and `-I`
/// paths inside the checkout and builds in a directory inside it, so replacing this root by a token makes
/// two checkouts of one project key alike, whatever their paths' lengths.
public enum CheckoutRoot {
    ///
    /// `baseDirectory` may list several directories separated by colons; `/` takes every checkout.
    public static func find(baseDirectory: String, currentDirectory: String, source: String) -> String? {
        guard !baseDirectory.isEmpty, currentDirectory.hasPrefix("/") else { return nil }
        let sourcePath = Path.absolute(source, cwd: currentDirectory)
        let cwdParts = currentDirectory.split(separator: "/")
        let sourceParts = sourcePath.split(separator: "/").dropLast()
        var common: [Substring] = []
        for (a, b) in zip(cwdParts, sourceParts) {
            guard a == b, a != "..", a != "." else { break }
            common.append(a)
        }
        guard !common.isEmpty else { return nil }
        let root = "/" + common.joined(separator: "/")
        for base in baseDirectory.split(separator: ":") {
            if base == "/" || root == base || root.hasPrefix(base) && root.utf8.dropFirst(base.utf8.count).first == UInt8(ascii: "/") {
                return root
            }
        }
        return nil
    }
}

import Glibc

/// Whether a cache directory may be trusted by this user: their own, or shared on purpose with a group they
/// are in (group-writable, as the manual's Nix setup makes it). A directory someone else made where the
/// cache was expected (`/tmp/…` with `HOME` unset) could hand out anything.
enum CacheOwnership {
    static func problem(with directory: String) -> String? {
        var s = stat()
        guard stat(directory, &s) == 0 else { return nil }
        let user = geteuid()
        if s.st_uid == user || s.st_uid == 0 && s.st_mode & S_IWOTH == 0 { return nil }
        if s.st_mode & S_IWGRP != 0 && s.st_mode & S_IWOTH == 0 && isMember(of: s.st_gid) { return nil }
        return "cache directory \(directory) belongs to another user (uid \(s.st_uid)) and is not shared with a group of yours"
    }

    static func isMember(of group: gid_t) -> Bool {
        if getegid() == group { return true }
        let count = getgroups(0, nil)
        guard count > 0 else { return false }
        var groups = [gid_t](repeating: 0, count: Int(count))
        let filled = getgroups(count, &groups)
        return filled > 0 && groups.prefix(Int(filled)).contains(group)
    }
}

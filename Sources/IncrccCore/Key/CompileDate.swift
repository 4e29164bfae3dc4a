import Glibc

/// `__DATE__` without `SOURCE_DATE_EPOCH`: the compiler expands it to the local date it runs on (gcc 12 and
/// clang 16: `time()` through `localtime()`, as `"%b %e %Y"` spells it, e.g. `Dec  8 2026`). A result that
/// read it is recorded with that date as a pseudo-variable, so it is served on the same local day only.
enum CompileDate {
    /// The manifest's name for it: parentheses, which no environment variable's name holds.
    static let variableName = "(__DATE__)"

    static let months = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"]

    /// The date `__DATE__` expands to at `nanoseconds` since the epoch, in the local time zone.
    static func text(atNanoseconds nanoseconds: Int64) -> String {
        var seconds = time_t(nanoseconds / 1_000_000_000)
        var parts = tm()
        guard localtime_r(&seconds, &parts) != nil, parts.tm_mon >= 0, parts.tm_mon < 12 else { return "" }
        let day = Int(parts.tm_mday)
        return months[Int(parts.tm_mon)] + (day < 10 ? "  " : " ") + String(day) + " " + String(Int(parts.tm_year) + 1900)
    }
}

/// The libclang route (filled in below).
extension CachedCompile {
    func libclangGraph(_ call: Call) -> Result<IncludeGraph, Counter> { .failure(.scannerUnavailable) }
    func libclangScanAndServe(_ call: Call, _ index: ScanIndex) -> Outcome? { nil }
}

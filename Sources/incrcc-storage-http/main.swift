import CCurl
import Glibc
import StorageHelperServer

/// incrcc-storage-http: a storage helper (ccache's protocol) for `http://` and `https://` servers that take
/// GET, HEAD, PUT and DELETE (nginx with WebDAV, Apache mod_dav, bazel-remote). Attributes: `layout`
/// (`subdirs`, the default, `flat` or `bazel`), `bearer-token`, `header=Name=Value` (repeatable),
/// `ca-file` (a CA bundle for https), `connect-timeout` and `operation-timeout` (milliseconds). Basic
/// authentication comes from the URL's user information.
///
/// libcurl rather than AsyncHTTPClient: blocking calls on one thread per client fit the helper's model, and
/// the helper stays a small C-library program (measured in bench/RESULTS.md).
struct HTTPBackend: StorageBackend {
    enum Layout: String, Sendable { case subdirs, flat, bazel }

    /// The URL without user information, ending without a slash.
    var base: String
    var user: String?
    var password: String?
    var layout: Layout
    var headers: [String]
    var caFile: String?
    var connectTimeout: Int
    var operationTimeout: Int
    let identity = "incrcc-storage-http 1 (libcurl)"

    init(url text: String, attributes: HelperAttributes) throws(StartError) {
        let url = try HelperURL(text)
        guard url.scheme == "http" || url.scheme == "https" else { throw StartError("unsupported scheme '\(url.scheme)'") }
        guard !url.host.isEmpty else { throw StartError("URL without a host") }
        user = url.user
        password = url.password
        // Rebuilt without the user information, which goes to libcurl separately and never into a message.
        let host = url.host.contains(":") ? "[\(url.host)]" : url.host
        var path = url.path
        while path.hasSuffix("/") { path.removeLast() }
        base = "\(url.scheme)://\(host)" + (url.port.map { ":\($0)" } ?? "") + path
        let layoutText = attributes.value("layout") ?? "subdirs"
        guard let layout = Layout(rawValue: layoutText) else { throw StartError("unknown layout '\(layoutText)'") }
        self.layout = layout
        headers = ["Expect:", "Content-Type: application/octet-stream"]
        if let token = attributes.value("bearer-token") { headers.append("Authorization: Bearer \(token)") }
        for header in attributes.values("header") {
            guard let equals = header.firstIndex(of: "="), equals != header.startIndex else {
                throw StartError("header attribute is not Name=Value")
            }
            headers.append("\(header[..<equals]): \(header[header.index(after: equals)...])")
        }
        caFile = attributes.value("ca-file")
        connectTimeout = try attributes.milliseconds("connect-timeout", fallback: 100)
        operationTimeout = try attributes.milliseconds("operation-timeout", fallback: 5_000)
    }

    func location(of key: [UInt8]) -> String {
        let hex = hexKey(key)
        switch layout {
        case .flat: return base + "/" + hex
        case .subdirs: return base + "/" + hex.prefix(2) + "/" + hex.dropFirst(2)
        case .bazel:
            // bazel-remote's action cache takes 64 hex digits: a shorter key is padded.
            let padded = hex.count >= 64 ? String(hex.prefix(64)) : hex + String(repeating: "0", count: 64 - hex.count)
            return base + "/ac/" + padded
        }
    }

    func makeSession() -> Result<StorageSession, StartError> {
        guard let handle = curl_easy_init() else { return .failure(StartError("cannot create a libcurl handle")) }
        return .success(HTTPSession(backend: self, handle: handle))
    }
}

/// What a transfer received, with a bound on its size.
final class ResponseBody {
    var bytes: [UInt8] = []
    var overflowed = false
    let limit: Int

    init(limit: Int) { self.limit = limit }
}

final class HTTPSession: StorageSession {
    let backend: HTTPBackend
    let handle: UnsafeMutableRawPointer
    var headerList: UnsafeMutablePointer<curl_slist>?

    init(backend: HTTPBackend, handle: UnsafeMutableRawPointer) {
        self.backend = backend
        self.handle = handle
        for header in backend.headers { headerList = curl_slist_append(headerList, header) }
    }

    deinit {
        curl_slist_free_all(headerList)
        curl_easy_cleanup(handle)
    }

    enum Method { case get, head, put, delete }

    /// One request; the handle's connection is kept for the next.
    func perform(_ method: Method, _ key: [UInt8], body: [UInt8] = []) -> (status: Int, body: [UInt8])? {
        curl_easy_reset(handle)
        let location = backend.location(of: key)
        let received = ResponseBody(limit: 1 << 31)
        let context = Unmanaged.passRetained(received)
        defer { context.release() }
        incrcc_curl_set_pointer(handle, CURLOPT_URL, location)
        incrcc_curl_set_long(handle, CURLOPT_NOSIGNAL, 1)
        incrcc_curl_set_long(handle, CURLOPT_CONNECTTIMEOUT_MS, backend.connectTimeout)
        incrcc_curl_set_long(handle, CURLOPT_TIMEOUT_MS, backend.operationTimeout)
        // A server that stops sending (stopped, hung) is given up on after a second without progress,
        // whatever the transfer's size (libcurl counts the low-speed time in whole seconds).
        incrcc_curl_set_long(handle, CURLOPT_LOW_SPEED_LIMIT, 1)
        incrcc_curl_set_long(handle, CURLOPT_LOW_SPEED_TIME, 1)
        incrcc_curl_set_pointer(handle, CURLOPT_HTTPHEADER, UnsafeRawPointer(headerList))
        if let user = backend.user { incrcc_curl_set_pointer(handle, CURLOPT_USERNAME, user) }
        if let password = backend.password { incrcc_curl_set_pointer(handle, CURLOPT_PASSWORD, password) }
        if let caFile = backend.caFile { incrcc_curl_set_pointer(handle, CURLOPT_CAINFO, caFile) }
        incrcc_curl_set_write(handle, { data, size, count, raw in
            let body = Unmanaged<ResponseBody>.fromOpaque(raw!).takeUnretainedValue()
            let total = size * count
            if body.bytes.count + total > body.limit {
                body.overflowed = true
                return 0
            }
            if let data { body.bytes.append(contentsOf: UnsafeRawBufferPointer(start: data, count: total)) }
            return total
        }, context.toOpaque())
        let code: CURLcode = body.withUnsafeBytes { raw in
            switch method {
            case .get:
                break
            case .head:
                incrcc_curl_set_long(handle, CURLOPT_NOBODY, 1)
            case .delete:
                incrcc_curl_set_pointer(handle, CURLOPT_CUSTOMREQUEST, "DELETE")
            case .put:
                incrcc_curl_set_pointer(handle, CURLOPT_CUSTOMREQUEST, "PUT")
                incrcc_curl_set_offset(handle, CURLOPT_POSTFIELDSIZE_LARGE, curl_off_t(raw.count))
                incrcc_curl_set_pointer(handle, CURLOPT_POSTFIELDS, raw.baseAddress ?? UnsafeRawPointer(bitPattern: 1))
            }
            return curl_easy_perform(handle)
        }
        lastError = nil
        guard code == CURLE_OK else {
            lastError = (code, String(cString: curl_easy_strerror(code)))
            return nil
        }
        return (incrcc_curl_response_code(handle), received.bytes)
    }

    var lastError: (code: CURLcode, message: String)?

    /// The reply for a transfer that did not complete, or a status that means neither yes nor no.
    func failure(status: Int?) -> BackendReply {
        if let status { return .failed("HTTP status \(status)") }
        guard let (code, message) = lastError else { return .failed("transfer failed") }
        return code == CURLE_OPERATION_TIMEDOUT ? .timedOut(message) : .failed(message)
    }

    func get(_ key: [UInt8]) -> BackendReply {
        guard let (status, body) = perform(.get, key) else { return failure(status: nil) }
        switch status {
        case 200: return .ok(body)
        case 404: return .noop
        default: return failure(status: status)
        }
    }

    func put(_ key: [UInt8], value: [UInt8], overwrite: Bool) -> BackendReply {
        if !overwrite, case .ok([1]) = exists(key) { return .noop }
        guard let (status, _) = perform(.put, key, body: value) else { return failure(status: nil) }
        return (200..<300).contains(status) ? .ok([]) : failure(status: status)
    }

    func remove(_ key: [UInt8]) -> BackendReply {
        guard let (status, _) = perform(.delete, key) else { return failure(status: nil) }
        if status == 404 { return .noop }
        return (200..<300).contains(status) ? .ok([]) : failure(status: status)
    }

    func exists(_ key: [UInt8]) -> BackendReply {
        guard let (status, _) = perform(.head, key) else { return failure(status: nil) }
        switch status {
        case 200: return .ok([1])
        case 404: return .ok([0])
        default: return failure(status: status)
        }
    }
}

curl_global_init(Int(CURL_GLOBAL_ALL))
StorageHelperServer.main { (url, attributes) throws(StartError) in try HTTPBackend(url: url, attributes: attributes) }

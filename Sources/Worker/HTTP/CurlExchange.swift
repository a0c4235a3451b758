import CCurl
import Foundation
import Synchronization

/// One HTTP exchange over libcurl's easy interface, on a thread of its own and a new connection.
///
/// `curl_easy_perform` blocks in poll(2) until the answer, the timeout or a cancel, so it never spins; on a
/// `Thread` of its own it holds no thread of the Swift concurrency pool. Requests in flight are few (a long poll, a
/// model call, a send or two), so a thread each costs little. A new connection for every request means a body never
/// needs rewinding for a retry on a dropped keep-alive connection.
final class CurlExchange: Sendable {
    /// The largest response body accepted; a larger one fails the exchange.
    static let maximumBodySize = 32 << 20

    let request: HTTPRequest
    let timeoutMilliseconds: Int
    /// How long the exchange may go without receiving a byte before it times out; nil sets no such limit.
    let idleTimeout: Duration?
    private let cancelled = Atomic<Bool>(false)

    /// libcurl's global setup, once per process before the first handle (a lazy `static let` runs exactly once).
    private static let globalInit: CURLcode = curl_global_init(ccurl_global_all())

    /// - Parameters:
    ///   - timeout: the limit of the whole exchange.
    ///   - idleTimeout: the longest the exchange may go without receiving a byte, checked in libcurl's progress
    ///     callback (so to about a second).
    init(request: HTTPRequest, timeout: Duration, idleTimeout: Duration? = nil) {
        self.request = request
        let (seconds, attoseconds) = timeout.components
        timeoutMilliseconds = max(1, Int(seconds) * 1000 + Int(attoseconds / 1_000_000_000_000_000))
        self.idleTimeout = idleTimeout
    }

    /// Whether `cancel()` was called.
    var isCancelled: Bool { cancelled.load(ordering: .relaxed) }

    /// Asks the exchange to stop with `.cancelled`.
    ///
    /// libcurl reads the flag in its progress callback, which it calls on activity and about once a second while
    /// waiting, so a waiting request ends within about a second (prompt enough for a cancelled run or a shutdown).
    func cancel() {
        cancelled.store(true, ordering: .relaxed)
    }

    /// Runs the exchange on a new thread named "autonous-http" and calls `completion` on it with the outcome.
    ///
    /// - Parameter receiver: when given, gets the status and header fields, then the body in pieces as they arrive,
    ///   all on the exchange's thread; the response `completion` gets then has an empty body.
    func start(
        receiver: CurlBodyReceiver? = nil,
        _ completion: @escaping @Sendable (Result<HTTPResponse, TransportError>) -> Void
    ) {
        let thread = Thread { [self] in
            Thread.current.name = "autonous-http"
            completion(perform(receiver: receiver))
        }
        thread.start()
    }

    /// Runs the exchange on the calling thread, blocking it until the exchange ends.
    func perform(receiver: CurlBodyReceiver? = nil) -> Result<HTTPResponse, TransportError> {
        guard Self.globalInit == CURLE_OK else { return .failure(.connectionFailed("libcurl failed to initialise")) }
        guard !isCancelled else { return .failure(.cancelled) }
        guard let handle = curl_easy_init() else { return .failure(.connectionFailed("cannot create a curl handle")) }
        defer { curl_easy_cleanup(handle) }
        var headerList: UnsafeMutablePointer<curl_slist>?
        defer { curl_slist_free_all(headerList) }
        // No "Expect: 100-continue" wait before a body.
        for line in request.headerFields.map({ "\($0.name): \($0.value)" }) + ["Expect:"] {
            guard !line.contains(where: { $0 == "\r" || $0 == "\n" || $0 == "\0" }) else {
                return .failure(.connectionFailed("a header field contains a line break"))
            }
            guard let appended = curl_slist_append(headerList, line) else {
                return .failure(.connectionFailed("out of memory for the header fields"))
            }
            headerList = appended
        }
        let sink = ResponseSink(exchange: self, handle: handle, receiver: receiver)
        return withExtendedLifetime(sink) {
            let context = Unmanaged.passUnretained(sink).toOpaque()
            guard configure(handle, headers: headerList, context: context) else {
                return .failure(.connectionFailed("libcurl refused an option"))
            }
            let code = curl_easy_perform(handle)
            guard code == CURLE_OK else { return .failure(error(for: code, sink: sink)) }
            var status = 0
            guard ccurl_getinfo_long(handle, CURLINFO_RESPONSE_CODE, &status) == CURLE_OK, status > 0 else {
                return .failure(.connectionFailed("bad server response"))
            }
            sink.deliverHead(status: status)
            return .success(HTTPResponse(status: status, headers: sink.headers, body: sink.body))
        }
    }

    /// Sets the options of one exchange; false when libcurl refuses one.
    private func configure(
        _ handle: UnsafeMutableRawPointer, headers: UnsafeMutablePointer<curl_slist>?,
        context: UnsafeMutableRawPointer
    ) -> Bool {
        var results = [
            ccurl_setopt_string(handle, CURLOPT_URL, request.url.absoluteString),
            ccurl_setopt_string(handle, CURLOPT_PROTOCOLS_STR, "http,https"),
            ccurl_setopt_long(handle, CURLOPT_FOLLOWLOCATION, 1),
            ccurl_setopt_long(handle, CURLOPT_MAXREDIRS, 5),
            ccurl_setopt_string(handle, CURLOPT_REDIR_PROTOCOLS_STR, "http,https"),
            // No signals (SIGALRM for DNS timeouts): this is one thread of many.
            ccurl_setopt_long(handle, CURLOPT_NOSIGNAL, 1),
            ccurl_setopt_long(handle, CURLOPT_TIMEOUT_MS, timeoutMilliseconds),
            ccurl_setopt_long(handle, CURLOPT_FORBID_REUSE, 1),
            ccurl_setopt_string(handle, CURLOPT_ACCEPT_ENCODING, ""),
            ccurl_setopt_string(handle, CURLOPT_USERAGENT, "autonous"),
            ccurl_setopt_list(handle, CURLOPT_HTTPHEADER, headers),
            ccurl_setopt_write_function(handle, CURLOPT_WRITEFUNCTION) { data, size, count, context in
                guard let context else { return 0 }
                return Unmanaged<ResponseSink>.fromOpaque(context).takeUnretainedValue().append(data, size * count)
            },
            ccurl_setopt_pointer(handle, CURLOPT_WRITEDATA, context),
            ccurl_setopt_write_function(handle, CURLOPT_HEADERFUNCTION) { data, size, count, context in
                guard let context else { return 0 }
                return Unmanaged<ResponseSink>.fromOpaque(context).takeUnretainedValue().header(data, size * count)
            },
            ccurl_setopt_pointer(handle, CURLOPT_HEADERDATA, context),
            ccurl_setopt_long(handle, CURLOPT_NOPROGRESS, 0),
            // Non-zero aborts the transfer with CURLE_ABORTED_BY_CALLBACK.
            ccurl_setopt_xferinfo_function(handle) { context, _, _, _, _ in
                guard let context else { return 0 }
                return Unmanaged<ResponseSink>.fromOpaque(context).takeUnretainedValue().shouldAbort() ? 1 : 0
            },
            ccurl_setopt_pointer(handle, CURLOPT_XFERINFODATA, context),
        ]
        let method = request.httpMethod.uppercased()
        if let body = request.httpBody {
            // Size first: COPYPOSTFIELDS copies that many bytes (the body may hold NULs).
            results.append(ccurl_setopt_offset(handle, CURLOPT_POSTFIELDSIZE_LARGE, curl_off_t(body.count)))
            results.append(
                body.withUnsafeBytes { bytes in
                    guard let base = bytes.baseAddress else {
                        return ccurl_setopt_string(handle, CURLOPT_COPYPOSTFIELDS, "")
                    }
                    return ccurl_setopt_pointer(handle, CURLOPT_COPYPOSTFIELDS, UnsafeMutableRawPointer(mutating: base))
                })
            if method != "POST" { results.append(ccurl_setopt_string(handle, CURLOPT_CUSTOMREQUEST, method)) }
        } else if method == "POST" {
            results.append(ccurl_setopt_offset(handle, CURLOPT_POSTFIELDSIZE_LARGE, 0))
            results.append(ccurl_setopt_string(handle, CURLOPT_COPYPOSTFIELDS, ""))
        } else if method == "HEAD" {
            results.append(ccurl_setopt_long(handle, CURLOPT_NOBODY, 1))
        } else if method != "GET" {
            results.append(ccurl_setopt_string(handle, CURLOPT_CUSTOMREQUEST, method))
        }
        return results.allSatisfy { $0 == CURLE_OK }
    }

    /// The transport error for a failed `curl_easy_perform`; never with the URL (Telegram URLs carry the token).
    private func error(for code: CURLcode, sink: ResponseSink) -> TransportError {
        switch code {
        case CURLE_OPERATION_TIMEDOUT: return .timedOut
        case CURLE_ABORTED_BY_CALLBACK: return sink.idleExpired ? .timedOut : .cancelled
        case CURLE_WRITE_ERROR where sink.tooLarge:
            return .connectionFailed("response body larger than \(Self.maximumBodySize >> 20) MiB")
        default: return .connectionFailed(Self.describe(code))
        }
    }

    /// A short description of a libcurl error, worded as the URLSession-based transport worded them.
    static func describe(_ code: CURLcode) -> String {
        switch code {
        case CURLE_COULDNT_CONNECT: return "cannot connect to host (connection refused)"
        case CURLE_COULDNT_RESOLVE_HOST: return "cannot resolve host"
        case CURLE_COULDNT_RESOLVE_PROXY: return "cannot resolve proxy"
        case CURLE_SEND_ERROR, CURLE_RECV_ERROR, CURLE_GOT_NOTHING, CURLE_PARTIAL_FILE: return "connection lost"
        case CURLE_SSL_CONNECT_ERROR: return "TLS handshake failed"
        case CURLE_PEER_FAILED_VERIFICATION, CURLE_SSL_CACERT_BADFILE: return "TLS certificate not trusted"
        case CURLE_WEIRD_SERVER_REPLY, CURLE_TOO_MANY_REDIRECTS: return "bad server response"
        case CURLE_URL_MALFORMAT, CURLE_UNSUPPORTED_PROTOCOL: return "bad URL"
        default: return "curl error \(code.rawValue): \(String(cString: curl_easy_strerror(code)))"
        }
    }
}

/// Where a streamed exchange delivers its response as it arrives, on the exchange's thread.
struct CurlBodyReceiver: Sendable {
    /// The final response's status and header fields, once, before its first body piece (or at its end).
    var head: @Sendable (_ status: Int, _ headers: [String: String]) -> Void
    /// One piece of the body.
    var body: @Sendable (Data) -> Void
}

/// What libcurl hands back while one exchange runs: the body and the header fields of the last response.
///
/// Used only on the exchange's own thread, from libcurl's callbacks.
private final class ResponseSink {
    let exchange: CurlExchange
    let handle: UnsafeMutableRawPointer
    let receiver: CurlBodyReceiver?
    var body = Data()
    var received = 0
    var headDelivered = false
    var headers: [String: String] = [:]
    var tooLarge = false
    /// When a byte last arrived (or the exchange began), for the idle timeout.
    var lastActivity = ContinuousClock.now
    var idleExpired = false

    init(exchange: CurlExchange, handle: UnsafeMutableRawPointer, receiver: CurlBodyReceiver?) {
        self.exchange = exchange
        self.handle = handle
        self.receiver = receiver
    }

    /// Whether libcurl should abort the transfer: a cancel, or no byte for longer than the idle timeout.
    func shouldAbort() -> Bool {
        if exchange.isCancelled { return true }
        if let idle = exchange.idleTimeout, ContinuousClock.now - lastActivity > idle {
            idleExpired = true
            return true
        }
        return false
    }

    /// Takes body bytes; returns how many were taken (fewer than given aborts the transfer).
    func append(_ data: UnsafeMutablePointer<CChar>?, _ count: Int) -> Int {
        guard let data, count > 0 else { return count }
        guard received + count <= CurlExchange.maximumBodySize else {
            tooLarge = true
            return 0
        }
        received += count
        lastActivity = ContinuousClock.now
        let bytes = UnsafeRawPointer(data).assumingMemoryBound(to: UInt8.self)
        guard let receiver else {
            body.append(bytes, count: count)
            return count
        }
        if !headDelivered {
            // Body bytes come only for the final response (libcurl skips those of redirects it follows).
            var status = 0
            _ = ccurl_getinfo_long(handle, CURLINFO_RESPONSE_CODE, &status)
            deliverHead(status: status)
        }
        receiver.body(Data(bytes: bytes, count: count))
        return count
    }

    /// Hands the status and header fields to the receiver, once.
    func deliverHead(status: Int) {
        guard let receiver, !headDelivered else { return }
        headDelivered = true
        receiver.head(status, headers)
    }

    /// Takes one header line; a status line starts a new response (after a redirect or a 1xx).
    /// A header field's name or value without the spaces, tabs and line ends around it (HTTP's whitespace; the
    /// Unicode-aware `trimmingCharacters` cost more than the rest of reading a response's header).
    static func trimmed(_ text: Substring) -> String {
        // "\r\n" is one Character in Swift.
        let whitespace: Set<Character> = [" ", "\t", "\r", "\n", "\r\n"]
        var trimmed = text
        while let first = trimmed.first, whitespace.contains(first) { trimmed.removeFirst() }
        while let last = trimmed.last, whitespace.contains(last) { trimmed.removeLast() }
        return String(trimmed)
    }

    func header(_ data: UnsafeMutablePointer<CChar>?, _ count: Int) -> Int {
        guard let data, count > 0 else { return count }
        lastActivity = ContinuousClock.now
        let line = String(decoding: UnsafeRawBufferPointer(start: data, count: count), as: UTF8.self)
        if line.hasPrefix("HTTP/") {
            headers = [:]
        } else if let colon = line.firstIndex(of: ":") {
            let name = Self.trimmed(line[..<colon])
            let value = Self.trimmed(line[line.index(after: colon)...])
            if let key = headers.keys.first(where: { $0.lowercased() == name.lowercased() }), let old = headers[key] {
                headers[key] = old + ", " + value
            } else {
                headers[name] = value
            }
        }
        return count
    }
}

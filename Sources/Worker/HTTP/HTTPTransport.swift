import Foundation

/// What came back from an HTTP request.
struct HTTPResponse: Sendable {
    var status: Int
    var headers: [String: String]
    var body: Data

    /// A header by case-insensitive name.
    func header(_ name: String) -> String? {
        headers.first { $0.key.lowercased() == name.lowercased() }?.value
    }
}

/// Why an HTTP exchange produced no response at all.
enum TransportError: Error, Sendable, CustomStringConvertible {
    case timedOut
    case connectionFailed(String)
    case cancelled

    var description: String {
        switch self {
        case .timedOut: return "timed out"
        case .connectionFailed(let reason): return "connection failed: \(reason)"
        case .cancelled: return "cancelled"
        }
    }
}

/// Sends HTTP requests with libcurl, each on a thread of its own and a new connection (see `CurlExchange`).
///
/// Not FoundationNetworking's URLSession, which has two bugs that hit us: its `_MultiHandle` registers a dispatch
/// write source on the socket while libcurl connects and never cancels it once libcurl waits only to read, so the
/// always-writable socket fires it in a loop and a request on a new connection burns most of a core until its answer
/// (29 s of CPU during a 30 s Telegram long poll); and when a server drops a reused keep-alive connection without
/// answering, libcurl re-sends the request on a new one but URLSession cannot rewind the body: the retry stalls until
/// the timeout and then goes out empty ("400 message text is empty"). Here `curl_easy_perform` waits in poll(2), and
/// no connection is reused, so a drop fails at once and our own retry policy takes over.
final class HTTPTransport: Sendable {
    init() {}

    /// Sends one request with a whole-exchange timeout, following up to 5 redirects.
    ///
    /// Cancelling the calling task ends the exchange with `.cancelled` within about a second (libcurl reads the
    /// flag in its progress callback). An HTTP error status is a response, not an error.
    ///
    /// - Throws: `TransportError`; the message never contains the URL (Telegram URLs carry the bot token).
    func send(_ request: HTTPRequest, timeout: Duration) async throws(TransportError) -> HTTPResponse {
        let exchange = CurlExchange(request: request, timeout: timeout)
        let result = await withTaskCancellationHandler {
            await withCheckedContinuation { continuation in
                exchange.start { continuation.resume(returning: $0) }
            }
        } onCancel: {
            exchange.cancel()
        }
        return try result.get()
    }
}

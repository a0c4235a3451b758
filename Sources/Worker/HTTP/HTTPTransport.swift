import Foundation
import FoundationNetworking

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

/// Sends HTTP requests with URLSession (libcurl underneath): bodiless requests on a session that reuses its
/// connections, requests with a body on one that never does.
///
/// When a server drops a reused keep-alive connection without answering, libcurl re-sends the request on a new
/// one, but FoundationNetworking cannot rewind a body: the retry stalls until the timeout and then goes out empty
/// (seen against the fake Bot API with httpBody and with upload(for:from:) alike: a 30 s hang, then "400 message
/// text is empty"; against a model server the same would turn a dropped connection into a failed answer). A
/// `Connection: close` header alone is not enough: libcurl may still pick a pooled connection left by a GET for the
/// request. So bodies go through a session whose every request says `Connection: close`, whose pool therefore
/// never holds a connection to reuse: a drop fails at once and our own retry policy takes over.
final class HTTPTransport: Sendable {
    private let session: URLSession
    private let bodySession: URLSession

    init() {
        func make() -> URLSession {
            let configuration = URLSessionConfiguration.ephemeral
            configuration.httpMaximumConnectionsPerHost = 4
            configuration.requestCachePolicy = .reloadIgnoringLocalCacheData
            configuration.urlCache = nil
            configuration.httpCookieStorage = nil
            return URLSession(configuration: configuration)
        }
        session = make()
        bodySession = make()
    }

    /// Sends one request with a whole-exchange timeout.
    ///
    /// - Throws: `TransportError`; the message never contains the URL (Telegram URLs carry the bot token).
    func send(_ request: URLRequest, timeout: Duration) async throws(TransportError) -> HTTPResponse {
        var request = request
        request.timeoutInterval = Double(timeout.components.seconds) + Double(timeout.components.attoseconds) / 1e18
        var session = self.session
        if request.httpBody != nil {
            request.setValue("close", forHTTPHeaderField: "Connection")
            session = bodySession
        }
        do {
            let (data, response) = try await session.data(for: request)
            guard let http = response as? HTTPURLResponse else {
                throw TransportError.connectionFailed("not an HTTP response")
            }
            var headers: [String: String] = [:]
            for (key, value) in http.allHeaderFields {
                if let key = key as? String, let value = value as? String { headers[key] = value }
            }
            return HTTPResponse(status: http.statusCode, headers: headers, body: data)
        } catch let error as TransportError {
            throw error
        } catch let error as URLError {
            switch error.code {
            case .timedOut: throw .timedOut
            case .cancelled: throw .cancelled
            default: throw .connectionFailed(Self.describe(error.code))
            }
        } catch is CancellationError {
            throw .cancelled
        } catch {
            throw .connectionFailed("\(type(of: error))")
        }
    }

    /// A short description of a URLError code without its URL.
    static func describe(_ code: URLError.Code) -> String {
        switch code {
        case .cannotConnectToHost: return "cannot connect to host (connection refused)"
        case .cannotFindHost: return "cannot resolve host"
        case .networkConnectionLost: return "connection lost"
        case .notConnectedToInternet: return "no network"
        case .secureConnectionFailed: return "TLS handshake failed"
        case .badServerResponse: return "bad server response"
        case .dnsLookupFailed: return "DNS lookup failed"
        default: return "URLError \(code.rawValue)"
        }
    }
}

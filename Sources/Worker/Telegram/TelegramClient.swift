import AutonousCore
import Foundation

/// Calls the Telegram Bot API (`POST <api>/bot<token>/<method>` with a JSON body) and decodes its
/// `{"ok": …, "result": …}` envelope.
struct TelegramClient: Sendable {
    let apiURL: URL
    let token: Secret
    let transport: HTTPTransport

    /// Methods with small parameters, sent as GET with a query string (no body to send).
    static let queryMethods: Set<String> = ["getUpdates", "getMe", "sendChatAction", "answerCallbackQuery"]

    /// Calls a method and returns its `result`.
    ///
    /// getUpdates and other small calls go as GET with the parameters in the query (each value JSON-encoded where
    /// it is not a plain string or number, as the Bot API accepts); the rest as POST with a JSON body.
    ///
    /// - Parameter timeout: the whole exchange; for getUpdates, the long-poll timeout plus a margin.
    func call(_ method: String, _ parameters: [String: JSONValue], timeout: Duration) async throws(TelegramError)
        -> JSONValue
    {
        guard var components = URLComponents(string: "\(apiURL.absoluteString)/bot\(token.value)/\(method)") else {
            throw .malformed("cannot build the URL for \(method)")
        }
        let asQuery = Self.queryMethods.contains(method)
        if asQuery {
            components.queryItems = parameters.sorted { $0.key < $1.key }.map { key, value in
                switch value {
                case .string(let text): URLQueryItem(name: key, value: text)
                default: URLQueryItem(name: key, value: value.jsonText)
                }
            }
        }
        guard let url = components.url else { throw .malformed("cannot build the URL for \(method)") }
        var request = HTTPRequest(url: url)
        if asQuery {
            request.httpMethod = "GET"
        } else {
            request.httpMethod = "POST"
            request.setValue("application/json", forHTTPHeaderField: "Content-Type")
            request.httpBody = Data(JSONValue.object(parameters).jsonText.utf8)
        }
        let response: HTTPResponse
        do {
            response = try await transport.send(request, timeout: timeout)
        } catch {
            throw .transport(error)
        }
        return try Self.decodeEnvelope(response)
    }

    /// Decodes the Bot API envelope, mapping `ok: false` to `.api` with its `retry_after`.
    static func decodeEnvelope(_ response: HTTPResponse) throws(TelegramError) -> JSONValue {
        guard let body = try? JSONValue(parsing: response.body),
            let envelope = body.objectValue
        else {
            if response.status != 200 { throw .http(status: response.status) }
            throw .malformed("body is not JSON (\(response.body.count) bytes)")
        }
        guard case .bool(let ok)? = envelope["ok"] else {
            if response.status != 200 { throw .http(status: response.status) }
            throw .malformed("no 'ok' field")
        }
        if ok {
            guard let result = envelope["result"] else { throw .malformed("'ok' is true but there is no 'result'") }
            return result
        }
        let code = envelope["error_code"]?.intValue.map(Int.init) ?? response.status
        let description = envelope["description"]?.stringValue ?? "no description"
        let retryAfter = envelope["parameters"]?["retry_after"]?.intValue.map(Int.init)
        throw .api(code: code, description: description, retryAfter: retryAfter)
    }
}

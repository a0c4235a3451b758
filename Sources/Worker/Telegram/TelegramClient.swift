import AutonousCore
import Foundation
import FoundationNetworking

/// Calls the Telegram Bot API (`POST <api>/bot<token>/<method>` with a JSON body) and decodes its
/// `{"ok": …, "result": …}` envelope.
struct TelegramClient: Sendable {
    let apiURL: URL
    let token: Secret
    let transport: HTTPTransport

    /// Calls a method and returns its `result`.
    ///
    /// - Parameter timeout: the whole exchange; for getUpdates, the long-poll timeout plus a margin.
    func call(_ method: String, _ parameters: [String: JSONValue], timeout: Duration) async throws(TelegramError)
        -> JSONValue
    {
        guard let url = URL(string: "\(apiURL.absoluteString)/bot\(token.value)/\(method)") else {
            throw .malformed("cannot build the URL for \(method)")
        }
        var request = URLRequest(url: url)
        request.httpMethod = "POST"
        request.setValue("application/json", forHTTPHeaderField: "Content-Type")
        request.httpBody = Data(JSONValue.object(parameters).jsonText.utf8)
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
        guard let body = try? JSONCoding.decoder.decode(JSONValue.self, from: response.body),
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

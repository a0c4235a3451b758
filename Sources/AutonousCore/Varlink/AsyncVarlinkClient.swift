import Foundation

/// A varlink client for async code on one connection: calls wait for their replies without holding a thread, and
/// concurrent calls take turns (an `AsyncLock`), so replies never mix.
///
/// A call cancelled while it waits for its reply leaves the connection out of step: close it and connect anew.
public final class AsyncVarlinkClient: Sendable {
    /// The connection the calls go over.
    public let connection: AsyncVarlinkConnection
    private let turn = AsyncLock()

    /// Connects to the unix socket at `path`.
    public init(path: String) throws {
        connection = AsyncVarlinkConnection(socket: try AsyncUnixSocket.connect(path: path))
    }

    /// Calls a method and decodes the single reply.
    ///
    /// - Throws: `VarlinkError` for an error reply; `AutonousError(.protocolViolation)` when the connection closes
    ///   or the reply is not varlink; `CancellationError`.
    public func call<Parameters: Encodable & Sendable, Result: Decodable & Sendable>(
        _ method: String, _ parameters: Parameters, as type: Result.Type
    ) async throws -> Result {
        try await turn.withLock {
            let request = VarlinkRequest(method: method, parameters: try JSONValue.encode(parameters))
            try await connection.write(request)
            return try VarlinkReply.decodeParameters(try await readReply(method), as: type, method: method)
        }
    }

    /// Calls with `more: true` and hands each reply to `onReply` until the last one, or until it returns false.
    /// Other calls on this client wait until the stream ends: give a stream its own client.
    public func stream<Parameters: Encodable & Sendable>(
        _ method: String, _ parameters: Parameters, onReply: (JSONValue) async throws -> Bool
    ) async throws {
        try await turn.withLock {
            let request = VarlinkRequest(
                method: method, parameters: try JSONValue.encode(parameters), more: true)
            try await connection.write(request)
            while true {
                let reply = try await readReply(method)
                guard try await onReply(reply.parameters ?? .object([:])) else { return }
                if reply.continues != true { return }
            }
        }
    }

    private func readReply(_ method: String) async throws -> VarlinkReply {
        guard let data = try await connection.readMessage() else {
            throw AutonousError(.protocolViolation, "the service closed the connection during \(method)")
        }
        return try VarlinkReply.checked(data, method: method)
    }

    /// Hangs up.
    public func close() {
        connection.socket.close()
    }
}

extension VarlinkReply {
    /// Decodes a reply to `method`; an error reply becomes a thrown `VarlinkError`.
    static func checked(_ data: Data, method: String) throws -> VarlinkReply {
        let reply: VarlinkReply
        do {
            reply = try JSONCoding.decoder.decode(VarlinkReply.self, from: data)
        } catch {
            throw AutonousError(.protocolViolation, "reply to \(method) is not a varlink message", cause: error)
        }
        if let name = reply.error {
            throw VarlinkError(name, reply.parameters?.objectValue ?? [:])
        }
        return reply
    }

    /// The reply's parameters as `type`.
    static func decodeParameters<Result: Decodable>(_ reply: VarlinkReply, as type: Result.Type, method: String)
        throws -> Result
    {
        do {
            return try (reply.parameters ?? .object([:])).decode(type)
        } catch {
            throw AutonousError(
                .protocolViolation, "reply to \(method) has an unexpected shape: \(JSONCoding.describe(error))")
        }
    }
}

import Foundation

/// A blocking varlink client on one connection, for command-line tools; calls on one client are serialised by
/// the caller. Async code uses `AsyncVarlinkClient`.
public final class VarlinkClient: Sendable {
    public let connection: VarlinkConnection

    /// Connects to the unix socket at `path`.
    public init(path: String) throws {
        connection = VarlinkConnection(socket: try UnixSocket.connect(path: path))
    }

    /// Calls a method and decodes the single reply.
    ///
    /// - Throws: `VarlinkError` for an error reply; `AutonousError(.protocolViolation)` when the connection closes
    ///   or the reply is not varlink.
    public func call<Parameters: Encodable, Result: Decodable>(
        _ method: String, _ parameters: Parameters, as type: Result.Type
    ) throws -> Result {
        let request = VarlinkRequest(method: method, parameters: try JSONValue.encode(parameters))
        try connection.write(request)
        let reply = try readReply(method)
        return try VarlinkReply.decodeParameters(reply, as: type, method: method)
    }

    /// Calls with `more: true` and hands each reply to `onReply` until the last one, or until it returns false.
    public func stream<Parameters: Encodable>(
        _ method: String, _ parameters: Parameters, onReply: (JSONValue) throws -> Bool
    ) throws {
        let request = VarlinkRequest(method: method, parameters: try JSONValue.encode(parameters), more: true)
        try connection.write(request)
        while true {
            let reply = try readReply(method)
            guard try onReply(reply.parameters ?? .object([:])) else { return }
            if reply.continues != true { return }
        }
    }

    private func readReply(_ method: String) throws -> VarlinkReply {
        guard let data = try connection.readMessage() else {
            throw AutonousError(.protocolViolation, "the service closed the connection during \(method)")
        }
        return try VarlinkReply.checked(data, method: method)
    }

    /// Hangs up.
    public func close() {
        connection.socket.shutdown()
        connection.socket.close()
    }
}

/// An empty parameters object.
public struct NoParameters: Codable, Sendable, Equatable {
    public init() {}
}

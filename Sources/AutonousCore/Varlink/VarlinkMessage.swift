import Foundation

/// A varlink method call as it arrives on the wire.
public struct VarlinkRequest: Sendable, Codable, Equatable {
    public var method: String
    public var parameters: JSONValue?
    public var more: Bool?
    public var oneway: Bool?
    public var upgrade: Bool?

    public init(method: String, parameters: JSONValue? = nil, more: Bool? = nil, oneway: Bool? = nil) {
        self.method = method
        self.parameters = parameters
        self.more = more
        self.oneway = oneway
    }
}

/// A varlink reply or error reply as it goes on the wire.
public struct VarlinkReply: Sendable, Codable, Equatable {
    public var parameters: JSONValue?
    public var continues: Bool?
    public var error: String?

    public init(parameters: JSONValue? = nil, continues: Bool? = nil, error: String? = nil) {
        self.parameters = parameters
        self.continues = continues
        self.error = error
    }
}

/// A varlink error: a fully qualified name (`io.autonous.Control.WorkerUnavailable`) and its parameters.
public struct VarlinkError: Error, Sendable, Equatable, CustomStringConvertible {
    public var name: String
    public var parameters: [String: JSONValue]

    public init(_ name: String, _ parameters: [String: JSONValue] = [:]) {
        self.name = name
        self.parameters = parameters
    }

    public var description: String {
        parameters.isEmpty ? name : "\(name) \(JSONValue.object(parameters).jsonText)"
    }

    /// A human sentence for CLIs: the `message` parameter when there is one, else the name and parameters.
    public var message: String {
        if let text = parameters["message"]?.stringValue { return text }
        return description
    }

    public static func methodNotFound(_ method: String) -> VarlinkError {
        VarlinkError("org.varlink.service.MethodNotFound", ["method": .string(method)])
    }

    public static func interfaceNotFound(_ interface: String) -> VarlinkError {
        VarlinkError("org.varlink.service.InterfaceNotFound", ["interface": .string(interface)])
    }

    public static func invalidParameter(_ parameter: String) -> VarlinkError {
        VarlinkError("org.varlink.service.InvalidParameter", ["parameter": .string(parameter)])
    }

    public static func expectedMore() -> VarlinkError {
        VarlinkError("org.varlink.service.ExpectedMore")
    }

    public static func permissionDenied() -> VarlinkError {
        VarlinkError("org.varlink.service.PermissionDenied")
    }
}

/// One call handed to a handler: the method, its parameters, the flags and who is calling.
public struct VarlinkCall: Sendable {
    /// The fully qualified method name.
    public var method: String
    /// The parameters object (an empty object when the caller sent none).
    public var parameters: JSONValue
    public var more: Bool
    public var oneway: Bool
    public var peer: PeerCredentials

    /// The interface part of the method name.
    public var interface: String {
        guard let dot = method.lastIndex(of: ".") else { return "" }
        return String(method[..<dot])
    }

    /// The member part of the method name.
    public var memberName: String {
        guard let dot = method.lastIndex(of: ".") else { return method }
        return String(method[method.index(after: dot)...])
    }

    /// Decodes the parameters, turning a mismatch into `org.varlink.service.InvalidParameter` naming the field.
    public func decode<T: Decodable>(_ type: T.Type) throws -> T {
        do {
            return try parameters.decode(type)
        } catch let error as DecodingError {
            throw VarlinkError.invalidParameter(Self.parameterName(of: error))
        }
    }

    static func parameterName(of error: DecodingError) -> String {
        switch error {
        case .keyNotFound(let key, let context):
            return (context.codingPath + [key]).map(\.stringValue).joined(separator: ".")
        case .typeMismatch(_, let context), .valueNotFound(_, let context), .dataCorrupted(let context):
            let name = context.codingPath.map(\.stringValue).joined(separator: ".")
            return name.isEmpty ? "parameters" : name
        @unknown default:
            return "parameters"
        }
    }
}

/// Which of a handler's wait and its caller's hang-up came first.
private enum ListenOutcome<T: Sendable>: Sendable {
    case finished(T)
    case hungUp
}

/// Sends the replies of one call: any number of `continues` replies (when the caller asked for `more`), then the
/// final one, which the server sends from the handler's return value.
public struct VarlinkReplier: Sendable {
    /// Thrown by `whileCallerListens` when the caller hung up first; the server then just closes the connection.
    public struct CallerHungUp: Error, Sendable {}

    let connection: AsyncVarlinkConnection
    let more: Bool

    /// Sends an intermediate reply. Only valid when the call had `more: true`.
    public func send<T: Encodable>(_ parameters: T) async throws {
        guard more else { throw VarlinkError.expectedMore() }
        try await connection.write(VarlinkReply(parameters: try JSONValue.encode(parameters), continues: true))
    }

    /// Returns when the caller hangs up (shuts its writing half down, or the connection fails); a call the caller
    /// pipelined behind this one does not count.
    public func waitForHangUp() async throws {
        try await connection.socket.waitForHangUp()
    }

    /// Runs `body` until it returns, or cancels it when the caller hangs up first and throws `CallerHungUp`.
    ///
    /// For handlers that wait for something (an answer, the next notice): the hang-up is an event that ends the
    /// wait, so a caller that gives up never leaves a waiter behind.
    public func whileCallerListens<T: Sendable>(_ body: @escaping @Sendable () async throws -> T) async throws -> T {
        try await withThrowingTaskGroup(of: ListenOutcome<T>.self) { group in
            group.addTask { .finished(try await body()) }
            group.addTask {
                do {
                    try await waitForHangUp()
                } catch is CancellationError {
                    throw CancellationError()
                } catch {
                    // The socket failed: as good as a hang-up.
                }
                return .hungUp
            }
            defer { group.cancelAll() }
            guard let first = try await group.next() else { throw CancellationError() }
            switch first {
            case .finished(let value): return value
            case .hungUp: throw CallerHungUp()
            }
        }
    }
}

import Foundation
import Synchronization

/// A varlink peer over an `AsyncUnixSocket`: reads and writes NUL-terminated JSON messages without holding a thread.
///
/// One task reads at a time and one task writes at a time; the server and `AsyncVarlinkClient` keep to that.
public final class AsyncVarlinkConnection: Sendable {
    public let socket: AsyncUnixSocket
    private let readBuffer = Mutex(VarlinkFrameBuffer())

    public init(socket: AsyncUnixSocket) {
        self.socket = socket
    }

    /// Reads the next message; nil at end of stream.
    ///
    /// - Throws: `AutonousError(.protocolViolation)` for an oversized message or a stream that ends mid-message;
    ///   `CancellationError` when the task is cancelled while waiting.
    public func readMessage() async throws -> Data? {
        while true {
            if let message = try readBuffer.withLock({ try $0.nextMessage() }) { return message }
            let chunk = try await socket.receive()
            if chunk.isEmpty {
                if let error = readBuffer.withLock({ $0.endOfStreamError() }) { throw error }
                return nil
            }
            readBuffer.withLock { $0.append(chunk) }
        }
    }

    /// Writes one message (the JSON text plus its NUL terminator).
    public func writeMessage(_ json: Data) async throws {
        var framed = json
        framed.append(0)
        try await socket.send(framed)
    }

    /// Encodes and writes one message.
    public func write<T: Encodable>(_ value: T) async throws {
        try await writeMessage(try JSONCoding.encoder.encode(value))
    }
}

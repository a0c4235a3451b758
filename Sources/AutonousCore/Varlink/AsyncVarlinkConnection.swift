import Foundation
import Synchronization

/// A varlink peer over an `AsyncUnixSocket`: reads and writes NUL-terminated JSON messages without holding a thread.
///
/// One task reads at a time and one task writes at a time; the server and `AsyncVarlinkClient` keep to that.
public final class AsyncVarlinkConnection: Sendable {
    /// The socket the messages go over.
    public let socket: AsyncUnixSocket
    /// How long one message may take to write; nil waits as long as it takes.
    public let sendTimeout: Duration?
    private let readBuffer = Mutex(VarlinkFrameBuffer())

    /// - Parameter sendTimeout: a peer that stops reading fails a write after this long, so it cannot hold a
    ///   streaming reply (and what it waits for) forever.
    public init(socket: AsyncUnixSocket, sendTimeout: Duration? = nil) {
        self.socket = socket
        self.sendTimeout = sendTimeout
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
    ///
    /// - Throws: `Errno` when the peer is gone; `AutonousError(.timeout)` after `sendTimeout`.
    public func writeMessage(_ json: Data) async throws {
        var framed = json
        framed.append(0)
        guard let sendTimeout else {
            try await socket.send(framed)
            return
        }
        let (socket, message) = (socket, framed)
        try await withDeadline(sendTimeout, "writing a varlink message") { try await socket.send(message) }
    }

    /// Encodes and writes one message.
    public func write<T: Encodable>(_ value: T) async throws {
        try await writeMessage(try JSONCoding.encoder.encode(value))
    }
}

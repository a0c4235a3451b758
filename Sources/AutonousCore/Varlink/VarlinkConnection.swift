import Foundation
import Synchronization

/// A varlink peer over a `UnixSocket`: messages are JSON objects each followed by one NUL byte.
///
/// Reading is done by one thread at a time; writes are serialised by a lock so replies from several threads never
/// interleave.
public final class VarlinkConnection: Sendable {
    /// The largest message accepted; a peer that sends more without a NUL is cut off.
    public static let maximumMessageSize = 8 * 1024 * 1024

    public let socket: UnixSocket
    private let readBuffer = Mutex<Data>(Data())
    private let writeLock = Mutex<Void>(())

    public init(socket: UnixSocket) {
        self.socket = socket
    }

    /// Reads the next message; nil at end of stream.
    ///
    /// - Throws: `AutonousError(.protocolViolation)` for an oversized message or a stream that ends mid-message.
    public func readMessage() throws -> Data? {
        while true {
            let message: Data? = readBuffer.withLock { buffer in
                guard let nul = buffer.firstIndex(of: 0) else { return nil }
                let message = buffer[buffer.startIndex ..< nul]
                buffer = Data(buffer[(nul + 1)...])
                return Data(message)
            }
            if let message { return message }
            let pending = readBuffer.withLock { $0.count }
            guard pending <= Self.maximumMessageSize else {
                throw AutonousError(
                    .protocolViolation, "varlink message longer than \(Self.maximumMessageSize) bytes without a NUL")
            }
            let chunk = try socket.receive()
            if chunk.isEmpty {
                if pending > 0 {
                    throw AutonousError(.protocolViolation, "connection closed in the middle of a varlink message")
                }
                return nil
            }
            readBuffer.withLock { $0.append(chunk) }
        }
    }

    /// Writes one message (the JSON text plus its NUL terminator).
    public func writeMessage(_ json: Data) throws {
        var framed = json
        framed.append(0)
        try writeLock.withLock { _ in try socket.send(framed) }
    }

    /// Encodes and writes one message.
    public func write<T: Encodable>(_ value: T) throws {
        try writeMessage(try JSONCoding.encoder.encode(value))
    }
}

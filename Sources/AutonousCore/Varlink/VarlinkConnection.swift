import Foundation
import Synchronization

/// A blocking varlink peer over a `UnixSocket`: messages are JSON objects each followed by one NUL byte.
///
/// Reading is done by one thread at a time; writes are serialised by a lock so replies from several threads never
/// interleave. Async code uses `AsyncVarlinkConnection` instead.
public final class VarlinkConnection: Sendable {
    /// The largest message accepted; a peer that sends more without a NUL is cut off.
    public static let maximumMessageSize = VarlinkFrameBuffer.maximumMessageSize

    public let socket: UnixSocket
    private let readBuffer = Mutex(VarlinkFrameBuffer())
    private let writeLock = Mutex<Void>(())

    public init(socket: UnixSocket) {
        self.socket = socket
    }

    /// Reads the next message; nil at end of stream.
    ///
    /// - Throws: `AutonousError(.protocolViolation)` for an oversized message or a stream that ends mid-message.
    public func readMessage() throws -> Data? {
        while true {
            if let message = try readBuffer.withLock({ try $0.nextMessage() }) { return message }
            let chunk = try socket.receive()
            if chunk.isEmpty {
                if let error = readBuffer.withLock({ $0.endOfStreamError() }) { throw error }
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

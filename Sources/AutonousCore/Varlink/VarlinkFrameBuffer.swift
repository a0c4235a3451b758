import Foundation

/// Bytes read from a varlink stream, cut into messages: each message is JSON text followed by one NUL byte.
struct VarlinkFrameBuffer {
    /// The largest message accepted; a peer that sends more without a NUL is cut off.
    static let maximumMessageSize = 8 * 1024 * 1024

    private var bytes = Data()

    /// True when no partial message is buffered.
    var isEmpty: Bool { bytes.isEmpty }

    mutating func append(_ chunk: Data) {
        bytes.append(chunk)
    }

    /// The next complete message, or nil when more bytes are needed.
    ///
    /// - Throws: `AutonousError(.protocolViolation)` when more than `maximumMessageSize` bytes came without a NUL.
    mutating func nextMessage() throws -> Data? {
        if let nul = bytes.firstIndex(of: 0) {
            let message = Data(bytes[bytes.startIndex ..< nul])
            bytes = Data(bytes[(nul + 1)...])
            return message
        }
        guard bytes.count <= Self.maximumMessageSize else {
            throw AutonousError(
                .protocolViolation, "varlink message longer than \(Self.maximumMessageSize) bytes without a NUL")
        }
        return nil
    }

    /// What to throw when the stream ends: nil at a message boundary, else the truncation error.
    func endOfStreamError() -> AutonousError? {
        isEmpty ? nil : AutonousError(.protocolViolation, "connection closed in the middle of a varlink message")
    }
}

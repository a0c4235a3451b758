import Foundation
import Synchronization

/// A response whose body is read as it arrives.
struct HTTPStream: Sendable {
    var status: Int
    var headers: [String: String]
    /// The body in pieces, in order; a failure is the last element. The stream ends after the last piece, or early
    /// when the task reading it is cancelled (which also ends the exchange).
    var body: AsyncStream<Piece>

    /// One element of the body stream.
    enum Piece: Sendable {
        case data(Data)
        /// The exchange failed after the head arrived (a dropped connection, a timeout, a cancel).
        case failed(TransportError)
    }

    /// A header by case-insensitive name.
    func header(_ name: String) -> String? {
        headers.first { $0.key.lowercased() == name.lowercased() }?.value
    }

    /// The rest of the body at once (an error status's body, say).
    func collect() async throws(TransportError) -> Data {
        var data = Data()
        for await piece in body {
            switch piece {
            case .data(let bytes): data.append(bytes)
            case .failed(let error): throw error
            }
        }
        if Task.isCancelled { throw .cancelled }
        return data
    }
}

extension HTTPTransport {
    /// Sends one request and returns as soon as the response's status and header fields are in; the body follows
    /// through `HTTPStream.body` as libcurl receives it.
    ///
    /// The exchange runs on a thread of its own, as `send` does; pieces are buffered until read, so the thread
    /// never waits on the reader. Cancelling the calling task, or dropping or cancelling the reading of the body,
    /// ends the exchange with `.cancelled`.
    ///
    /// - Parameters:
    ///   - idleTimeout: the longest the exchange may go without receiving a byte (a server that stopped).
    ///   - timeout: the limit of the whole exchange, body included.
    func stream(_ request: HTTPRequest, idleTimeout: Duration, timeout: Duration) async throws(TransportError)
        -> HTTPStream
    {
        let exchange = CurlExchange(request: request, timeout: timeout, idleTimeout: idleTimeout)
        let (body, pieces) = AsyncStream.makeStream(of: HTTPStream.Piece.self)
        pieces.onTermination = { termination in
            if case .cancelled = termination { exchange.cancel() }
        }
        let head = HeadLatch()
        let result = await withTaskCancellationHandler {
            await withCheckedContinuation { continuation in
                head.wait(with: continuation)
                let receiver = CurlBodyReceiver(
                    head: { status, headers in head.resume(.success((status, headers))) },
                    body: { pieces.yield(.data($0)) })
                exchange.start(receiver: receiver) { result in
                    switch result {
                    case .success(let response): head.resume(.success((response.status, response.headers)))
                    case .failure(let error):
                        head.resume(.failure(error))
                        pieces.yield(.failed(error))
                    }
                    pieces.finish()
                }
            }
        } onCancel: {
            exchange.cancel()
        }
        let (status, headers) = try result.get()
        return HTTPStream(status: status, headers: headers, body: body)
    }
}

/// Resumes the task waiting for a streamed response's head exactly once: at the head, or at the end of an exchange
/// that failed before one.
private final class HeadLatch: Sendable {
    typealias Head = Result<(Int, [String: String]), TransportError>
    private let waiting = Mutex<CheckedContinuation<Head, Never>?>(nil)

    func wait(with continuation: CheckedContinuation<Head, Never>) {
        waiting.withLock { $0 = continuation }
    }

    func resume(_ head: Head) {
        let continuation = waiting.withLock { waiting in
            defer { waiting = nil }
            return waiting
        }
        continuation?.resume(returning: head)
    }
}

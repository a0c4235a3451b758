import CLinux
import Foundation
import Synchronization

#if canImport(Glibc)
import Glibc
#endif

/// A non-blocking AF_UNIX stream socket for async code: every call tries the syscall and, when it would block,
/// awaits readiness from an `IOEventLoop` instead of holding a thread.
///
/// Cancelling the task that waits ends the wait with `CancellationError`. The socket is closed once, by `close()`
/// or deinit, after it was removed from the event loop.
public final class AsyncUnixSocket: Sendable {
    /// The socket itself (for peer credentials and `shutdown`); read and write through this wrapper.
    public let socket: UnixSocket
    private let loop: IOEventLoop
    private let closed = Atomic<Bool>(false)

    /// The descriptor number (for logs and tables).
    public var fd: Int32 { socket.fd }

    /// Takes `socket` over and makes it non-blocking.
    public init(_ socket: UnixSocket, loop: IOEventLoop = .shared) throws {
        let flags = fcntl(socket.fd, F_GETFL)
        guard flags >= 0, fcntl(socket.fd, F_SETFL, flags | O_NONBLOCK) == 0 else {
            throw Errno(errno, "fcntl(O_NONBLOCK)")
        }
        self.socket = socket
        self.loop = loop
    }

    deinit {
        close()
    }

    /// Binds and listens on `path` (see `UnixSocket.listen`), non-blocking.
    public static func listen(path: String, mode: mode_t, loop: IOEventLoop = .shared) throws -> AsyncUnixSocket {
        try AsyncUnixSocket(try UnixSocket.listen(path: path, mode: mode), loop: loop)
    }

    /// Connects to `path`. A unix socket connects at once or fails (a full backlog fails with EAGAIN).
    public static func connect(path: String, loop: IOEventLoop = .shared) throws -> AsyncUnixSocket {
        try AsyncUnixSocket(try UnixSocket.connect(path: path), loop: loop)
    }

    /// Accepts the next connection (returned blocking, close-on-exec); throws `CancellationError` when cancelled.
    public func accept() async throws -> UnixSocket {
        while true {
            let client = cl_accept_cloexec(fd)
            if client >= 0 { return UnixSocket(fd: client) }
            switch -client {
            case EINTR: continue
            case EAGAIN, EWOULDBLOCK: try await loop.wait(for: .readable, on: fd)
            default: throw Errno(-client, "accept")
            }
        }
    }

    /// Reads up to `count` bytes; an empty Data at end of stream.
    public func receive(maximum count: Int = 65536) async throws -> Data {
        var buffer = [UInt8](repeating: 0, count: count)
        while true {
            let n = buffer.withUnsafeMutableBytes { raw in Glibc.recv(fd, raw.baseAddress, count, 0) }
            if n >= 0 { return Data(buffer[0 ..< n]) }
            switch errno {
            case EINTR: continue
            case EAGAIN, EWOULDBLOCK: try await loop.wait(for: .readable, on: fd)
            case let code: throw Errno(code, "recv")
            }
        }
    }

    /// Writes all of `data`, waiting for room as needed; never raises SIGPIPE.
    public func send(_ data: Data) async throws {
        var offset = 0
        while offset < data.count {
            let n = data.withUnsafeBytes { (buffer: UnsafeRawBufferPointer) -> Int in
                guard let base = buffer.baseAddress else { return 0 }
                return Glibc.send(fd, base + offset, buffer.count - offset, Int32(MSG_NOSIGNAL))
            }
            if n >= 0 {
                offset += n
                continue
            }
            switch errno {
            case EINTR: continue
            case EAGAIN, EWOULDBLOCK: try await loop.wait(for: .writable, on: fd)
            case let code: throw Errno(code, "send")
            }
        }
    }

    /// Returns when the peer has shut its writing half down or the socket failed (data waiting to be read does not
    /// count); throws `CancellationError` when cancelled first.
    public func waitForHangUp() async throws {
        if socket.peerHasClosed { return }
        try await loop.wait(for: .hangUp, on: fd)
    }

    /// Removes the socket from the event loop (failing whoever waits on it) and closes it. Call it from the task that
    /// uses the socket, or while that task waits: a task between two syscalls could otherwise reach a descriptor
    /// number that already names another file.
    public func close() {
        // Once only: afterwards the descriptor number may belong to another socket.
        guard closed.compareExchange(expected: false, desired: true, ordering: .acquiringAndReleasing).exchanged
        else { return }
        loop.forget(fd)
        socket.shutdown()
        socket.close()
    }
}

import CLinux
import Foundation
import Synchronization

#if canImport(Glibc)
import Glibc
#endif

/// The identity of the process on the other end of a unix socket, from SO_PEERCRED.
public struct PeerCredentials: Sendable, Equatable, Codable {
    public var pid: Int32
    public var uid: UInt32
    public var gid: UInt32

    public init(pid: Int32, uid: UInt32, gid: UInt32) {
        self.pid = pid
        self.uid = uid
        self.gid = gid
    }
}

/// A blocking AF_UNIX stream socket (`AsyncUnixSocket` makes one non-blocking for async code). The descriptor is closed exactly once, by `close()` or deinit.
///
/// To wake a thread blocked in `receive` or `accept`, call `shutdown()` from another thread; close only after
/// that thread is done with the socket, so the descriptor number is never reused under it.
public final class UnixSocket: Sendable {
    public let fd: Int32
    private let closed = Atomic<Bool>(false)

    init(fd: Int32) {
        self.fd = fd
    }

    deinit {
        close()
    }

    /// Creates, binds and listens on `path`, replacing a stale socket file but never any other kind of file.
    ///
    /// - Parameter mode: permission bits of the socket file (0660 for control.sock, 0600 for worker.sock).
    public static func listen(path: String, mode: mode_t, backlog: Int32 = 64) throws -> UnixSocket {
        var info = stat()
        if lstat(path, &info) == 0 {
            guard (info.st_mode & S_IFMT) == S_IFSOCK else {
                throw AutonousError(.io, "\(path) exists and is not a socket; refusing to replace it")
            }
            unlink(path)
        }
        let socket = try make()
        var address = try socketAddress(path)
        _ = try withUnsafePointer(to: &address) { pointer in
            try pointer.withMemoryRebound(to: sockaddr.self, capacity: 1) { addr in
                try retryingSyscall("bind \(path)") {
                    Glibc.bind(socket.fd, addr, socklen_t(MemoryLayout<sockaddr_un>.size))
                }
            }
        }
        try retryingSyscall("chmod \(path)") { chmod(path, mode) }
        try retryingSyscall("listen \(path)") { Glibc.listen(socket.fd, backlog) }
        return socket
    }

    /// Connects to the socket at `path`.
    public static func connect(path: String) throws -> UnixSocket {
        let socket = try make()
        var address = try socketAddress(path)
        _ = try withUnsafePointer(to: &address) { pointer in
            try pointer.withMemoryRebound(to: sockaddr.self, capacity: 1) { addr in
                try retryingSyscall("connect \(path)") {
                    Glibc.connect(socket.fd, addr, socklen_t(MemoryLayout<sockaddr_un>.size))
                }
            }
        }
        return socket
    }

    private static func make() throws -> UnixSocket {
        let fd = try retryingSyscall("socket(AF_UNIX)") {
            Glibc.socket(AF_UNIX, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
        }
        return UnixSocket(fd: fd)
    }

    static func socketAddress(_ path: String) throws -> sockaddr_un {
        var address = sockaddr_un()
        address.sun_family = sa_family_t(AF_UNIX)
        let bytes = Array(path.utf8)
        let capacity = MemoryLayout.size(ofValue: address.sun_path)
        guard bytes.count < capacity else {
            throw AutonousError(.invalidArgument, "socket path \(path) is longer than \(capacity - 1) bytes")
        }
        withUnsafeMutableBytes(of: &address.sun_path) { raw in
            raw.copyBytes(from: bytes)
            raw[bytes.count] = 0
        }
        return address
    }

    /// Accepts one connection; throws when the listening socket was shut down.
    public func accept() throws -> UnixSocket {
        while true {
            let client = cl_accept_cloexec(fd)
            if client >= 0 { return UnixSocket(fd: client) }
            if -client == EINTR { continue }
            throw Errno(-client, "accept")
        }
    }

    /// The peer's pid, uid and gid.
    public func peerCredentials() throws -> PeerCredentials {
        var pid: pid_t = 0
        var uid: uid_t = 0
        var gid: gid_t = 0
        let result = cl_peer_credentials(fd, &pid, &uid, &gid)
        guard result == 0 else { throw Errno(-result, "getsockopt(SO_PEERCRED)") }
        return PeerCredentials(pid: pid, uid: uid, gid: gid)
    }

    /// Writes all of `data`; never raises SIGPIPE.
    public func send(_ data: Data) throws {
        try data.withUnsafeBytes { (buffer: UnsafeRawBufferPointer) in
            guard let base = buffer.baseAddress else { return }
            var offset = 0
            while offset < buffer.count {
                let written = try retryingSyscall("send") {
                    Glibc.send(fd, base + offset, buffer.count - offset, Int32(MSG_NOSIGNAL))
                }
                offset += written
            }
        }
    }

    /// Reads up to `count` bytes; returns an empty Data at end of stream.
    public func receive(maximum count: Int = 65536) throws -> Data {
        var buffer = [UInt8](repeating: 0, count: count)
        let n = try buffer.withUnsafeMutableBytes { raw in
            try retryingSyscall("recv") { Glibc.recv(fd, raw.baseAddress, count, 0) }
        }
        return Data(buffer[0 ..< n])
    }

    /// True when the peer has closed its end (or the socket failed), checked without blocking or reading.
    public var peerHasClosed: Bool {
        var descriptor = pollfd(fd: fd, events: cl_pollrdhup(), revents: 0)
        guard poll(&descriptor, 1, 0) > 0 else { return false }
        return descriptor.revents & (cl_pollrdhup() | Int16(POLLHUP) | Int16(POLLERR)) != 0
    }

    /// Shuts both directions down, waking any thread blocked in accept, recv or send on this socket.
    public func shutdown() {
        _ = Glibc.shutdown(fd, Int32(SHUT_RDWR))
    }

    /// Closes the descriptor (once).
    public func close() {
        if closed.compareExchange(expected: false, desired: true, ordering: .acquiringAndReleasing).exchanged {
            _ = Glibc.close(fd)
        }
    }
}

import CLinux

#if canImport(Glibc)
import Glibc
#endif

/// The network tier's destination check, run by the sandbox's pid 1 on the seccomp user-notification listener of
/// the command's filter.
///
/// Every connect(2) and listen(2) of the command (and its descendants) stops in the kernel until the gate answers.
/// The gate copies the address out of the caller's memory once, decides on that copy, and when it allows the call
/// makes it itself on a duplicate of the caller's socket (pidfd_getfd): the socket is shared, so the caller ends up
/// connected, and no later change of the caller's memory can swap the destination (seccomp's CONTINUE would re-read
/// it, which is why the gate never uses it). A connect may block for long, so it runs in a short-lived child while
/// pid 1 goes on serving.
///
/// - inet: allowed when the address and port are on the allowlist, else EPERM and one line on stderr naming the
///   destination.
/// - AF_UNIX: named sockets are reached as the filesystem allows (relative to the caller's working directory);
///   abstract ones are refused, because the network tier shares the host's network namespace and with it the host's
///   abstract sockets.
/// - listen on an inet socket is refused (the tier makes outbound connections only); on AF_UNIX it is done.
final class NetworkGate {
    let listener: Int32
    let endpoints: [NetworkAllowlist.Endpoint]
    /// Refusals so far; only the first `maximumReports` get a line on stderr.
    private var refusals = 0

    /// Refusal lines at most: a command that keeps trying must not fill its stderr (a tool's output file).
    static let maximumReports = 20

    init(listener: Int32, endpoints: [NetworkAllowlist.Endpoint]) {
        self.listener = listener
        self.endpoints = endpoints
    }

    /// The stderr line for the `count`th refusal (from 1), or nil once the lines have stopped.
    static func reportLine(refusal count: Int, reason: String) -> String? {
        if count <= maximumReports { return "autonous-sandbox: \(reason)\n" }
        if count == maximumReports + 1 {
            return "autonous-sandbox: more connections were refused; they are not reported one by one\n"
        }
        return nil
    }

    private func report(_ reason: String) {
        refusals += 1
        if let line = Self.reportLine(refusal: refusals, reason: reason) { Posix.writeAll(2, line) }
    }

    /// What to do with one connect(2).
    enum Decision: Equatable {
        case connect
        case deny(reason: String)
    }

    /// Decides on a connect(2) to the socket address `bytes`, exactly as long as the caller said.
    static func decide(address bytes: [UInt8], endpoints: [NetworkAllowlist.Endpoint]) -> Decision {
        guard bytes.count >= 2 else { return .connect }
        let family = Int32(UInt16(bytes[0]) | UInt16(bytes[1]) << 8)
        switch family {
        case AF_INET, AF_INET6:
            // A shorter address fails in the kernel with EINVAL before any packet leaves; let the kernel say so.
            let addressRange = family == AF_INET ? 4 ..< 8 : 8 ..< 24
            guard bytes.count >= addressRange.upperBound else { return .connect }
            let port = UInt16(bytes[2]) << 8 | UInt16(bytes[3])
            let address = Array(bytes[addressRange])
            if NetworkAllowlist.allows(endpoints, address: address, port: port) { return .connect }
            let shown = NetworkAllowlist.Endpoint(address: NetworkAllowlist.unmapped(address), port: port)
            return .deny(reason: "connection to \(shown) refused: not in the network allowlist (--net-allow)")
        case AF_UNIX:
            if bytes.count > 2 && bytes[2] == 0 {
                return .deny(reason: "connection to an abstract unix socket refused in the network tier")
            }
            return .connect
        default:
            return .connect
        }
    }

    /// Serves one pending notification.
    func serveOne() {
        var note = cl_notification()
        guard cl_notify_receive(listener, &note) == 0 else { return }
        switch note.nr {
        case CL_SYS_CONNECT: connect(note)
        case CL_SYS_LISTEN: listen(note)
        default: _ = cl_notify_respond(listener, note.id, 0, ENOSYS)
        }
    }

    private func connect(_ note: cl_notification) {
        let length = Int(UInt32(truncatingIfNeeded: note.args.2))
        guard length <= MemoryLayout<sockaddr_storage>.size else {
            _ = cl_notify_respond(listener, note.id, 0, EINVAL)
            return
        }
        var bytes = [UInt8](repeating: 0, count: length)
        if length > 0 {
            let read = bytes.withUnsafeMutableBytes {
                cl_process_vm_read(note.pid, note.args.1, $0.baseAddress, length)
            }
            guard read == length else {
                _ = cl_notify_respond(listener, note.id, 0, read < 0 ? Int32(-read) : EFAULT)
                return
            }
        }
        switch Self.decide(address: bytes, endpoints: endpoints) {
        case .deny(let reason):
            guard cl_notify_id_valid(listener, note.id) == 0 else { return }
            report(reason)
            _ = cl_notify_respond(listener, note.id, 0, EPERM)
        case .connect:
            guard let socket = duplicateSocket(note) else { return }
            let family = bytes.count >= 2 ? Int32(UInt16(bytes[0]) | UInt16(bytes[1]) << 8) : AF_UNSPEC
            let child = cl_fork()
            if child == 0 {
                // A relative socket path means the caller's working directory.
                if family == AF_UNIX {
                    let directory = open("/proc/\(note.pid)/cwd", O_RDONLY | O_DIRECTORY | O_CLOEXEC)
                    if directory >= 0 { _ = fchdir(directory) }
                }
                let result = bytes.withUnsafeBytes { raw in
                    Glibc.connect(
                        socket, raw.baseAddress?.assumingMemoryBound(to: sockaddr.self), socklen_t(length))
                }
                _ = cl_notify_respond(listener, note.id, 0, result == 0 ? 0 : errno)
                _exit(0)
            }
            if child < 0 { _ = cl_notify_respond(listener, note.id, 0, EAGAIN) }
            close(socket)
        }
    }

    private func listen(_ note: cl_notification) {
        guard let socket = duplicateSocket(note) else { return }
        defer { close(socket) }
        var domain: Int32 = 0
        var size = socklen_t(MemoryLayout<Int32>.size)
        guard getsockopt(socket, SOL_SOCKET, SO_DOMAIN, &domain, &size) == 0 else {
            _ = cl_notify_respond(listener, note.id, 0, errno)
            return
        }
        if domain == AF_INET || domain == AF_INET6 {
            report("listening on an inet socket refused: the network tier only connects out")
            _ = cl_notify_respond(listener, note.id, 0, EPERM)
            return
        }
        let result = Glibc.listen(socket, Int32(truncatingIfNeeded: note.args.1))
        _ = cl_notify_respond(listener, note.id, 0, result == 0 ? 0 : errno)
    }

    /// A duplicate of the socket descriptor (argument 0) of the waiting caller, or nil after answering the call
    /// with the error. The notification is checked again after the pidfd is opened, so a pid reused by another
    /// process in the meantime cannot be mistaken for the caller.
    private func duplicateSocket(_ note: cl_notification) -> Int32? {
        let process = Self.threadGroup(of: note.pid)
        let pidfd = cl_pidfd_open(process)
        guard pidfd >= 0 else {
            _ = cl_notify_respond(listener, note.id, 0, ESRCH)
            return nil
        }
        defer { close(pidfd) }
        guard cl_notify_id_valid(listener, note.id) == 0 else { return nil }
        let socket = cl_pidfd_getfd(pidfd, Int32(truncatingIfNeeded: note.args.0))
        guard socket >= 0 else {
            _ = cl_notify_respond(listener, note.id, 0, -socket)
            return nil
        }
        return socket
    }

    /// The process a thread belongs to (a notification names the calling thread; pidfd_open wants a process).
    static func threadGroup(of thread: pid_t) -> pid_t {
        guard let status = Posix.readFile("/proc/\(thread)/status") else { return thread }
        for line in status.split(separator: "\n") where line.hasPrefix("Tgid:") {
            if let tgid = pid_t(line.dropFirst(5).trimmingSpaces) { return tgid }
        }
        return thread
    }
}

extension Substring {
    fileprivate var trimmingSpaces: Substring {
        drop(while: { $0 == " " || $0 == "\t" })
    }
}

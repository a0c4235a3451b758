import Foundation

#if canImport(Glibc)
import Glibc
#endif

/// Sends sd_notify messages (`READY=1`, `STATUS=…`, `WATCHDOG=1`, `STOPPING=1`) to `$NOTIFY_SOCKET`.
///
/// Without `$NOTIFY_SOCKET` (not started by systemd with Type=notify) every call does nothing.
public struct SystemdNotifier: Sendable {
    public let socketPath: String?
    /// Half the watchdog timeout systemd asked for (`$WATCHDOG_USEC`), when it asked for one for this pid.
    public let watchdogInterval: Duration?

    public init(environment: [String: String] = ProcessInfo.processInfo.environment) {
        socketPath = environment["NOTIFY_SOCKET"].flatMap { $0.isEmpty ? nil : $0 }
        if let usec = environment["WATCHDOG_USEC"].flatMap(UInt64.init), usec > 0,
            environment["WATCHDOG_PID"].flatMap(Int32.init).map({ $0 == getpid() }) ?? true
        {
            watchdogInterval = .microseconds(Int64(usec / 2))
        } else {
            watchdogInterval = nil
        }
    }

    /// Sends a raw notify message of newline-separated assignments; returns false when it could not be sent.
    ///
    /// Never blocks: a unix datagram socket whose reader is behind (its queue holds `net.unix.max_dgram_qlen`
    /// messages, 10 by default) would block a plain send, and with it the supervisor's loop that pings. A message
    /// that finds the queue full is retried `retries` times, 10 ms apart, then dropped: a lost WATCHDOG=1 or
    /// STATUS= is replaced by the next one; READY=1 and STOPPING=1 get retries.
    @discardableResult
    public func notify(_ message: String, retries: Int = 0) -> Bool {
        for attempt in 0 ... max(0, retries) {
            if attempt > 0 { usleep(10_000) }
            switch send(message) {
            case .sent: return true
            case .full: continue
            case .failed: return false
            }
        }
        return false
    }

    private enum SendResult { case sent, full, failed }

    private func send(_ message: String) -> SendResult {
        guard let path = socketPath else { return .failed }
        let fd = socket(AF_UNIX, Int32(SOCK_DGRAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
        guard fd >= 0 else { return .failed }
        defer { close(fd) }
        var address = sockaddr_un()
        address.sun_family = sa_family_t(AF_UNIX)
        var bytes = Array(path.utf8)
        // A leading '@' names an abstract socket: the name starts with a NUL byte.
        if bytes.first == UInt8(ascii: "@") { bytes[0] = 0 }
        guard bytes.count < MemoryLayout.size(ofValue: address.sun_path) else { return .failed }
        withUnsafeMutableBytes(of: &address.sun_path) { $0.copyBytes(from: bytes) }
        let length = socklen_t(MemoryLayout<sa_family_t>.size + bytes.count + (bytes.first == 0 ? 0 : 1))
        let sent = message.withCString { text in
            withUnsafePointer(to: &address) { pointer in
                pointer.withMemoryRebound(to: sockaddr.self, capacity: 1) { addr in
                    sendto(fd, text, strlen(text), Int32(MSG_NOSIGNAL | MSG_DONTWAIT), addr, length)
                }
            }
        }
        if sent >= 0 { return .sent }
        return errno == EAGAIN || errno == EWOULDBLOCK ? .full : .failed
    }

    public func ready(status: String) { notify("READY=1\nSTATUS=\(status)\nMAINPID=\(getpid())", retries: 100) }
    public func status(_ text: String) { notify("STATUS=\(text)") }
    public func watchdog() { notify("WATCHDOG=1") }
    public func stopping(status: String) { notify("STOPPING=1\nSTATUS=\(status)", retries: 100) }
}

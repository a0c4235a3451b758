import CLinux
import Foundation
import Logging

#if canImport(Glibc)
import Glibc
#endif

/// A swift-log handler that writes to journald over its native protocol, one datagram per entry, with the logger's
/// metadata as structured fields (`worker.revision` becomes `AUTONOUS_WORKER_REVISION`).
///
/// Every field is written in the binary-safe form (name, newline, 64-bit little-endian length, value, newline), so
/// values may hold newlines. An entry too large for one datagram is passed as a sealed memfd, as sd_journal_send does.
public struct JournaldLogHandler: LogHandler {
    /// The journal's native socket.
    public static let defaultSocketPath = "/run/systemd/journal/socket"

    public var metadata: Logger.Metadata = [:]
    public var logLevel: Logger.Level
    private let identifier: String
    private let label: String
    private let sink: JournaldSink

    /// - Parameters:
    ///   - identifier: SYSLOG_IDENTIFIER, the program name journalctl shows.
    ///   - sink: the datagram socket to the journal; shared by every handler of the process.
    public init(label: String, identifier: String, level: Logger.Level, sink: JournaldSink) {
        self.label = label
        self.identifier = identifier
        self.logLevel = level
        self.sink = sink
    }

    public subscript(metadataKey key: String) -> Logger.Metadata.Value? {
        get { metadata[key] }
        set { metadata[key] = newValue }
    }

    public func log(event: LogEvent) {
        var fields: [(String, String)] = [
            ("MESSAGE", Redactor.shared.redact(event.message.description)),
            ("PRIORITY", String(Self.priority(event.level))),
            ("SYSLOG_IDENTIFIER", identifier),
            ("CODE_FILE", event.file),
            ("CODE_LINE", String(event.line)),
            ("CODE_FUNC", event.function),
            ("AUTONOUS_LOGGER", label),
        ]
        var merged = metadata
        if let extra = event.metadata { merged.merge(extra) { _, new in new } }
        for (key, value) in merged.sorted(by: { $0.key < $1.key }) {
            fields.append((Self.fieldName(for: key), Redactor.shared.redact(value.description)))
        }
        sink.send(Self.encode(fields))
    }

    /// The syslog priority journald stores for a swift-log level.
    public static func priority(_ level: Logger.Level) -> Int {
        switch level {
        case .trace, .debug: return 7
        case .info: return 6
        case .notice: return 5
        case .warning: return 4
        case .error: return 3
        case .critical: return 2
        }
    }

    /// A journal field name for a metadata key: `AUTONOUS_` plus the key in upper case, other characters as `_`.
    public static func fieldName(for key: String) -> String {
        let cleaned = key.uppercased().map { character -> Character in
            (character.isASCII && (character.isLetter || character.isNumber)) ? character : "_"
        }
        return String(("AUTONOUS_" + String(cleaned)).prefix(64))
    }

    /// Serialises fields in the native protocol's binary-safe form.
    public static func encode(_ fields: [(String, String)]) -> Data {
        var data = Data()
        for (name, value) in fields {
            data.append(contentsOf: Array(name.utf8))
            data.append(0x0A)
            var length = UInt64(value.utf8.count).littleEndian
            withUnsafeBytes(of: &length) { data.append(contentsOf: $0) }
            data.append(contentsOf: Array(value.utf8))
            data.append(0x0A)
        }
        return data
    }
}

/// The process's datagram socket to journald.
public final class JournaldSink: Sendable {
    public let socketPath: String
    private let fd: Int32

    /// Opens an unconnected datagram socket for `socketPath`; nil when the socket cannot be created.
    public init?(socketPath: String = JournaldLogHandler.defaultSocketPath) {
        self.socketPath = socketPath
        let fd = socket(AF_UNIX, Int32(SOCK_DGRAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
        guard fd >= 0 else { return nil }
        var size: Int32 = 8 * 1024 * 1024
        setsockopt(fd, SOL_SOCKET, SO_SNDBUF, &size, socklen_t(MemoryLayout<Int32>.size))
        self.fd = fd
    }

    deinit {
        close(fd)
    }

    /// True when a journal socket exists at the path.
    public static func isAvailable(_ path: String = JournaldLogHandler.defaultSocketPath) -> Bool {
        var info = stat()
        return stat(path, &info) == 0 && (info.st_mode & S_IFMT) == S_IFSOCK
    }

    /// Entries larger than this go as a memfd rather than one datagram (the kernel's own limit depends on the
    /// host's wmem_max, so a fixed threshold keeps the behaviour the same everywhere).
    public static let datagramLimit = 128 * 1024

    /// Sends one entry; entries over the datagram limit, or that the kernel refuses as too large, go through a
    /// sealed memfd. Failures are dropped silently: logging must never take the daemon down.
    public func send(_ entry: Data) {
        guard var address = try? UnixSocket.socketAddress(socketPath) else { return }
        let length = socklen_t(MemoryLayout<sockaddr_un>.size)
        if entry.count <= Self.datagramLimit {
            let sent = entry.withUnsafeBytes { bytes in
                withUnsafePointer(to: &address) { pointer in
                    pointer.withMemoryRebound(to: sockaddr.self, capacity: 1) { addr in
                        sendto(fd, bytes.baseAddress, bytes.count, Int32(MSG_NOSIGNAL), addr, length)
                    }
                }
            }
            guard sent < 0, errno == EMSGSIZE || errno == ENOBUFS else { return }
        }
        let memfd = cl_memfd_create("journal-entry")
        guard memfd >= 0 else { return }
        defer { close(memfd) }
        let written = entry.withUnsafeBytes { write(memfd, $0.baseAddress, $0.count) }
        guard written == entry.count, cl_memfd_seal(memfd) == 0 else { return }
        withUnsafePointer(to: &address) { pointer in
            _ = cl_send_with_fd(fd, nil, 0, pointer, UInt32(length), memfd)
        }
    }
}

import Foundation
import Logging
import Testing

@testable import AutonousCore

/// Parses the journal's native protocol (binary-safe form and plain `KEY=value` lines) as journald does.
func parseJournalEntry(_ data: Data) -> [String: String] {
    var fields: [String: String] = [:]
    var bytes = [UInt8](data)[...]
    while !bytes.isEmpty {
        guard let newline = bytes.firstIndex(of: 0x0A) else { break }
        let line = bytes[bytes.startIndex ..< newline]
        if let equals = line.firstIndex(of: UInt8(ascii: "=")) {
            fields[String(decoding: line[..<equals], as: UTF8.self)] = String(
                decoding: line[(equals + 1)...], as: UTF8.self)
            bytes = bytes[(newline + 1)...]
        } else {
            let name = String(decoding: line, as: UTF8.self)
            let lengthStart = newline + 1
            var length: UInt64 = 0
            for i in 0 ..< 8 { length |= UInt64(bytes[lengthStart + i]) << (8 * UInt64(i)) }
            let valueStart = lengthStart + 8
            let valueEnd = valueStart + Int(length)
            fields[name] = String(decoding: bytes[valueStart ..< valueEnd], as: UTF8.self)
            bytes = bytes[(valueEnd + 1)...]
        }
    }
    return fields
}

@Suite(.serialized) struct LoggingTests {
    @Test func fieldsAreBinarySafeAndMetadataBecomesAutonousFields() {
        let data = JournaldLogHandler.encode([("MESSAGE", "two\nlines"), ("AUTONOUS_RUN_ID", "r-1")])
        let fields = parseJournalEntry(data)
        #expect(fields["MESSAGE"] == "two\nlines")
        #expect(fields["AUTONOUS_RUN_ID"] == "r-1")
        #expect(JournaldLogHandler.fieldName(for: "run_id") == "AUTONOUS_RUN_ID")
        #expect(JournaldLogHandler.fieldName(for: "worker.revision") == "AUTONOUS_WORKER_REVISION")
        #expect(JournaldLogHandler.fieldName(for: "tx") == "AUTONOUS_TX")
    }

    @Test func entriesReachAJournalSocketWithPriorityIdentifierAndFields() throws {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent(
            "j-" + UUID().uuidString.prefix(8)
        ).path
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let path = directory + "/journal.sock"
        let listener = try DatagramSocket(bindingTo: path)
        let sink = try #require(JournaldSink(socketPath: path))
        Redactor.shared.register(Secret("super-secret-token-123"))
        var handler = JournaldLogHandler(label: "test", identifier: "autonous-test", level: .debug, sink: sink)
        handler[metadataKey: "revision"] = "bootstrap-abc"
        let logger = Logger(label: "test") { _ in handler }
        logger.warning("bad token super-secret-token-123 seen", metadata: ["run_id": "run-9"])
        let fields = parseJournalEntry(try #require(listener.receive()))
        #expect(fields["MESSAGE"] == "bad token <redacted> seen")
        #expect(fields["PRIORITY"] == "4")
        #expect(fields["SYSLOG_IDENTIFIER"] == "autonous-test")
        #expect(fields["AUTONOUS_RUN_ID"] == "run-9")
        #expect(fields["AUTONOUS_REVISION"] == "bootstrap-abc")
        #expect(fields["CODE_FILE"]?.hasSuffix("LoggingTests.swift") == true)

        // An entry larger than a datagram travels as a sealed memfd.
        logger.info("\(String(repeating: "x", count: 1_000_000))")
        let big = try #require(listener.receiveWithDescriptor())
        #expect(big.data.isEmpty)
        let fd = try #require(big.descriptor)
        defer { close(fd) }
        var contents = Data()
        var buffer = [UInt8](repeating: 0, count: 65536)
        lseek(fd, 0, SEEK_SET)
        while case let n = read(fd, &buffer, buffer.count), n > 0 { contents.append(contentsOf: buffer[0 ..< n]) }
        #expect(parseJournalEntry(contents)["MESSAGE"]?.count == 1_000_000)
    }

    @Test func stderrIsTheJournalOnlyWhenJournalStreamMatchesIt() {
        #expect(LoggingSetup.stderrIsJournalStream([:]) == false)
        #expect(LoggingSetup.stderrIsJournalStream(["JOURNAL_STREAM": "1:2"]) == false)
        var info = stat()
        fstat(2, &info)
        #expect(LoggingSetup.stderrIsJournalStream(["JOURNAL_STREAM": "\(info.st_dev):\(info.st_ino)"]))
    }

    @Test func notifyMessagesReachTheSocketIncludingAbstractOnes() throws {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent(
            "n-" + UUID().uuidString.prefix(8)
        ).path
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let listener = try DatagramSocket(bindingTo: directory + "/notify")
        let notifier = SystemdNotifier(environment: [
            "NOTIFY_SOCKET": directory + "/notify", "WATCHDOG_USEC": "4000000",
        ])
        notifier.ready(status: "up")
        let text = String(decoding: try #require(listener.receive()), as: UTF8.self)
        #expect(text.hasPrefix("READY=1\nSTATUS=up\nMAINPID="))
        #expect(notifier.watchdogInterval == .seconds(2))
        let abstractName = "@autonous-test-\(getpid())"
        let abstract = try DatagramSocket(bindingTo: abstractName)
        SystemdNotifier(environment: ["NOTIFY_SOCKET": abstractName]).watchdog()
        #expect(String(decoding: try #require(abstract.receive()), as: UTF8.self) == "WATCHDOG=1")
        #expect(SystemdNotifier(environment: [:]).notify("READY=1") == false)
    }
}

/// A bound datagram socket (a path, or `@name` for the abstract namespace) that receives with a timeout.
final class DatagramSocket {
    let fd: Int32

    init(bindingTo path: String) throws {
        fd = socket(AF_UNIX, Int32(SOCK_DGRAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
        var address = sockaddr_un()
        address.sun_family = sa_family_t(AF_UNIX)
        var bytes = Array(path.utf8)
        if bytes.first == UInt8(ascii: "@") { bytes[0] = 0 }
        withUnsafeMutableBytes(of: &address.sun_path) { $0.copyBytes(from: bytes) }
        let length = socklen_t(MemoryLayout<sa_family_t>.size + bytes.count + (bytes.first == 0 ? 0 : 1))
        let result = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, length) }
        }
        guard result == 0 else { throw Errno(errno, "bind \(path)") }
        var timeout = timeval(tv_sec: 5, tv_usec: 0)
        setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &timeout, socklen_t(MemoryLayout<timeval>.size))
    }

    deinit {
        close(fd)
    }

    func receive() -> Data? {
        receiveWithDescriptor().map(\.data)
    }

    /// One datagram and the descriptor passed with it (SCM_RIGHTS), if any.
    func receiveWithDescriptor() -> (data: Data, descriptor: Int32?)? {
        var buffer = [UInt8](repeating: 0, count: 1 << 20)
        var control = [UInt8](repeating: 0, count: 64)
        return buffer.withUnsafeMutableBytes { bufferPointer in
            control.withUnsafeMutableBytes { controlPointer in
                var iov = iovec(iov_base: bufferPointer.baseAddress, iov_len: bufferPointer.count)
                return withUnsafeMutablePointer(to: &iov) { iovPointer in
                    var message = msghdr()
                    message.msg_iov = iovPointer
                    message.msg_iovlen = 1
                    message.msg_control = controlPointer.baseAddress
                    message.msg_controllen = controlPointer.count
                    let n = recvmsg(fd, &message, 0)
                    guard n >= 0 else { return nil }
                    var descriptor: Int32?
                    if message.msg_controllen >= 16 + 4 {
                        // struct cmsghdr { size_t len; int level; int type; } then the fd.
                        let level = controlPointer.load(fromByteOffset: 8, as: Int32.self)
                        let type = controlPointer.load(fromByteOffset: 12, as: Int32.self)
                        // 1 is SCM_RIGHTS.
                        if level == SOL_SOCKET && type == 1 {
                            descriptor = controlPointer.load(fromByteOffset: 16, as: Int32.self)
                        }
                    }
                    return (Data(bufferPointer[0 ..< n]), descriptor)
                }
            }
        }
    }
}

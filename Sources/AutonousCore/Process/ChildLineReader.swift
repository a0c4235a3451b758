import Foundation
import Logging
import Synchronization

#if canImport(Glibc)
import Glibc
#endif

/// Reads a child's stdout and stderr pipes on a dedicated thread (never the concurrency pool) and hands them on line
/// by line (to a logger, or to this process's stderr), until both reach end of file.
final class ChildLineReader: Sendable {
    private let finished = Mutex(false)
    private let condition = NSCondition()

    private init() {}

    /// Where each line goes: `stderr` is false for a stdout line.
    typealias Sink = @Sendable (_ line: String, _ stderr: Bool) -> Void

    /// Starts the reader thread that logs each line; it closes both descriptors when done.
    static func start(
        stdout: Int32, stderr: Int32, pid: Int32, logger: Logger, prefix: String, lineLimit: Int
    ) -> ChildLineReader {
        start(stdout: stdout, stderr: stderr, pid: pid, logger: logger, lineLimit: lineLimit) { line, isStderr in
            let metadata: Logger.Metadata = ["child.stream": isStderr ? "stderr" : "stdout", "child.pid": "\(pid)"]
            logger.log(level: isStderr ? .notice : .info, "\(prefix)\(line)", metadata: metadata)
        }
    }

    /// Starts the reader thread that hands each line to `sink`; it closes both descriptors when done. `logger`
    /// reports a failure to read.
    static func start(
        stdout: Int32, stderr: Int32, pid: Int32, logger: Logger, lineLimit: Int, sink: @escaping Sink
    ) -> ChildLineReader {
        let reader = ChildLineReader()
        let thread = Thread {
            reader.read(stdout: stdout, stderr: stderr, pid: pid, logger: logger, lineLimit: lineLimit, sink: sink)
        }
        thread.name = "output-\(pid)"
        thread.start()
        return reader
    }

    /// Waits on the calling thread (a reaper, not the pool) until both streams ended, at most `timeout`; false if
    /// they had not (a grandchild may keep a pipe open after the child exited).
    func waitUntilFinished(timeout: Duration) -> Bool {
        let deadline = Date(timeIntervalSinceNow: Double(timeout.wholeMilliseconds) / 1000)
        condition.lock()
        defer { condition.unlock() }
        while !finished.withLock({ $0 }) {
            if !condition.wait(until: deadline) { return finished.withLock { $0 } }
        }
        return true
    }

    private func read(stdout: Int32, stderr: Int32, pid: Int32, logger: Logger, lineLimit: Int, sink: Sink) {
        defer {
            condition.lock()
            finished.withLock { $0 = true }
            condition.broadcast()
            condition.unlock()
        }
        var streams = [
            Stream(fd: stdout, isStderr: false, splitter: LineSplitter(limit: lineLimit)),
            Stream(fd: stderr, isStderr: true, splitter: LineSplitter(limit: lineLimit)),
        ]
        var buffer = [UInt8](repeating: 0, count: 64 * 1024)
        while streams.contains(where: { $0.open }) {
            var polled = streams.filter(\.open).map { pollfd(fd: $0.fd, events: Int16(POLLIN), revents: 0) }
            let ready = poll(&polled, nfds_t(polled.count), -1)
            if ready < 0 {
                if errno == EINTR { continue }
                logger.error(
                    "cannot poll the child's output; the rest of it is lost",
                    metadata: ["child.pid": "\(pid)", "error": "\(Errno(errno, "poll"))"])
                break
            }
            for entry in polled where entry.revents != 0 {
                guard let index = streams.firstIndex(where: { $0.fd == entry.fd }) else { continue }
                let count = buffer.withUnsafeMutableBytes { Glibc.read(entry.fd, $0.baseAddress, $0.count) }
                if count < 0 && errno == EINTR { continue }
                let lines: [String]
                if count > 0 {
                    lines = streams[index].splitter.feed(buffer[..<count])
                } else {
                    lines = streams[index].splitter.finish().map { [$0] } ?? []
                    streams[index].open = false
                }
                for line in lines { sink(line, streams[index].isStderr) }
            }
        }
        for stream in streams { close(stream.fd) }
    }

    private struct Stream {
        let fd: Int32
        let isStderr: Bool
        var splitter: LineSplitter
        var open = true
    }
}

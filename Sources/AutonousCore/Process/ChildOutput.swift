import Foundation
import Logging
import Synchronization

#if canImport(Glibc)
import Glibc
#endif

/// The last lines a child wrote, newest last: a bounded ring kept by `ChildOutput.passThrough`.
public final class LineTail: Sendable {
    private let lines = Mutex<[String]>([])
    public let capacity: Int

    public init(capacity: Int = 20) {
        self.capacity = max(1, capacity)
    }

    public func append(_ line: String) {
        lines.withLock { lines in
            lines.append(line)
            if lines.count > capacity { lines.removeFirst(lines.count - capacity) }
        }
    }

    /// The kept lines, oldest first.
    public var snapshot: [String] { lines.withLock { $0 } }

    public func clear() {
        lines.withLock { $0.removeAll() }
    }
}

/// Where a `ChildProcess` writes its stdout and stderr.
public enum ChildOutput: Sendable {
    /// Both streams shared with this process (the journal stream under systemd): the worker's default.
    case inherit
    /// Both streams appended to one file, created 0640 if missing.
    case file(String)
    /// stdout and stderr appended to their own files, each created 0640 if missing.
    case files(stdout: String, stderr: String)
    /// Each line of either stream logged as `prefix + line`, stdout at `.info` and stderr at `.notice`, with the
    /// metadata `child.stream` (`stdout`/`stderr`) and `child.pid`. A line longer than `lineLimit` bytes is logged
    /// in pieces of at most that many; a last line without a newline is logged when the stream ends. The pipes are
    /// read by a dedicated thread, never by the concurrency pool.
    case logger(Logger, prefix: String, lineLimit: Int = ChildOutput.defaultLineLimit)
    /// Each line of either stream written on to this process's stderr as it is (so the journal stream, or a
    /// terminal, sees the child's lines unchanged) and kept in `tail`, which holds the last lines for reports
    /// such as why a worker revision was reverted. `logger` reports a failure to read.
    case passThrough(LineTail, logger: Logger, lineLimit: Int = ChildOutput.defaultLineLimit)

    /// The longest line `.logger` logs in one piece.
    public static let defaultLineLimit = 4096

    /// The descriptors a child gets as 1 and 2, and what the parent keeps (the read ends of `.logger`'s pipes).
    struct Opened {
        var stdout: Int32 = 1
        var stderr: Int32 = 2
        /// Descriptors the parent closes once the child is spawned (files, pipes' write ends).
        var closeAfterSpawn: [Int32] = []
        /// The read ends for the line reader: (stdout, stderr).
        var pipes: (stdout: Int32, stderr: Int32)?

        /// Closes everything the parent opened (after a failed spawn).
        func closeAll() {
            for fd in closeAfterSpawn { close(fd) }
            if let pipes {
                close(pipes.stdout)
                close(pipes.stderr)
            }
        }
    }

    /// Opens what this output needs, every descriptor O_CLOEXEC (the spawn dups them onto 1 and 2).
    func open() throws -> Opened {
        var made: [Int32] = []
        do {
            switch self {
            case .inherit:
                return Opened()
            case .file(let path):
                made.append(try Self.openLog(path))
                return Opened(stdout: made[0], stderr: made[0], closeAfterSpawn: made)
            case .files(let stdoutPath, let stderrPath):
                made.append(try Self.openLog(stdoutPath))
                made.append(try Self.openLog(stderrPath))
                return Opened(stdout: made[0], stderr: made[1], closeAfterSpawn: made)
            case .logger, .passThrough:
                let out = try Self.pipe("the child's stdout")
                made += [out.read, out.write]
                let err = try Self.pipe("the child's stderr")
                made += [err.read, err.write]
                return Opened(
                    stdout: out.write, stderr: err.write, closeAfterSpawn: [out.write, err.write],
                    pipes: (out.read, err.read))
            }
        } catch {
            for fd in made { close(fd) }
            throw error
        }
    }

    /// Opens `path` for appending, creating it 0640 (whatever the umask) if it does not exist.
    static func openLog(_ path: String) throws -> Int32 {
        let flags = O_WRONLY | O_APPEND | O_CLOEXEC
        var fd = try retryingSyscall("create the child's log file \(path)") {
            let created = Glibc.open(path, flags | O_CREAT | O_EXCL, 0o640)
            return created == -1 && errno == EEXIST ? -2 : created
        }
        if fd == -2 {
            fd = try retryingSyscall("open the child's log file \(path)") { Glibc.open(path, flags) }
        } else if fchmod(fd, 0o640) != 0 {
            let code = errno
            close(fd)
            throw Errno(code, "chmod 0640 the child's log file \(path)")
        }
        return fd
    }

    /// A pipe whose ends are close-on-exec. Swift does not see glibc's `pipe2` (declared only under _GNU_SOURCE), so
    /// the flag is set right after `pipe`; a spawn on another thread in between cannot inherit the ends, since every
    /// spawn here (`cl_spawn`, Foundation's `Process`) closes the descriptors above 2 in the child, but for the one
    /// that spawn was given to pass.
    ///
    /// - Parameter purpose: what it is for, for the error ("the child's stdout").
    public static func pipe(_ purpose: String) throws -> (read: Int32, write: Int32) {
        var fds: [Int32] = [-1, -1]
        try retryingSyscall("pipe for \(purpose)") { Glibc.pipe(&fds) }
        for fd in fds where fcntl(fd, F_SETFD, FD_CLOEXEC) != 0 {
            let code = errno
            for end in fds { close(end) }
            throw Errno(code, "close-on-exec for the pipe for \(purpose)")
        }
        return (fds[0], fds[1])
    }
}

import CLinux
import Foundation
import Synchronization

#if canImport(Glibc)
import Glibc
#endif

/// How a child process ended.
public enum ExitStatus: Sendable, Equatable, CustomStringConvertible {
    case exited(Int32)
    case signaled(Int32)

    init(waitStatus status: Int32) {
        // WIFEXITED / WEXITSTATUS / WTERMSIG are macros; these are their definitions.
        if status & 0x7f == 0 {
            self = .exited((status >> 8) & 0xff)
        } else {
            self = .signaled(status & 0x7f)
        }
    }

    public var description: String {
        switch self {
        case .exited(let code): return "exited with status \(code)"
        case .signaled(let signal): return "killed by signal \(signal) (\(Self.signalName(signal)))"
        }
    }

    /// SIGKILL, SIGTERM … for the signals a supervisor meets.
    public static func signalName(_ signal: Int32) -> String {
        switch signal {
        case SIGKILL: return "SIGKILL"
        case SIGTERM: return "SIGTERM"
        case SIGINT: return "SIGINT"
        case SIGSEGV: return "SIGSEGV"
        case SIGABRT: return "SIGABRT"
        case SIGILL: return "SIGILL"
        case SIGBUS: return "SIGBUS"
        case SIGTRAP: return "SIGTRAP"
        case SIGSYS: return "SIGSYS"
        case SIGPIPE: return "SIGPIPE"
        case SIGHUP: return "SIGHUP"
        default: return "signal \(signal)"
        }
    }
}

/// A child started with posix_spawn in its own process group, reaped by one thread that waits for its pid only;
/// its output inherited, appended to log files, or logged line by line (`ChildOutput`).
///
/// The supervisor uses this one reaping model everywhere: never `waitpid(-1)`, so children other code starts
/// (and reaps) are never stolen.
public final class ChildProcess: Sendable {
    public let pid: Int32
    /// Set by the reaper the moment the child is reaped, before `onExit` runs (which may wait for a lock).
    private let reaped = Atomic<Bool>(false)

    private init(pid: Int32) {
        self.pid = pid
    }

    /// True once the child has ended, even while the report of it (`onExit`) is still on its way.
    public var hasExited: Bool { reaped.load(ordering: .acquiring) }

    /// How long the reaper waits, after the child exited, for `.logger` output still in the pipes before it reports
    /// the exit anyway (a grandchild may hold a pipe open; its lines are still logged as they come).
    static let outputDrainLimit: Duration = .seconds(2)

    /// Spawns `executable` with exactly `environment` (nothing inherited), stdin from /dev/null, and stdout/stderr
    /// where `output` says (by default shared with this process: the journal stream under systemd).
    ///
    /// - Parameters:
    ///   - output: where stdout and stderr go; log files are opened (and created) before the spawn, so an error
    ///     about them is thrown here.
    ///   - passing: a descriptor the child gets as its descriptor 3 (a report pipe, say); every other one above 2
    ///     is closed in the child.
    ///   - onExit: called once, on the reaper thread, with how the child ended; with `.logger`, after the child's
    ///     output was logged to its end (waiting at most `outputDrainLimit` once the child exited).
    public static func spawn(
        executable: String, arguments: [String], environment: [String: String], output: ChildOutput = .inherit,
        passing descriptor: Int32? = nil, onExit: @escaping @Sendable (ExitStatus) -> Void
    ) throws -> ChildProcess {
        let devNull = open("/dev/null", O_RDONLY | O_CLOEXEC)
        guard devNull >= 0 else { throw Errno(errno, "open /dev/null") }
        defer { close(devNull) }
        let sinks = try output.open()
        // The parent's copies of the child's ends: the child has its own after the spawn (or none after a failure).
        defer { for fd in sinks.closeAfterSpawn { close(fd) } }
        let argv = ([executable] + arguments).map { strdup($0) } + [nil]
        let envp = environment.sorted(by: { $0.key < $1.key }).map { strdup("\($0.key)=\($0.value)") } + [nil]
        defer {
            for pointer in argv { free(pointer) }
            for pointer in envp { free(pointer) }
        }
        // From the spawn thread, which lives as long as the process: a child's parent-death signal follows the
        // thread that spawned it.
        let (stdoutFD, stderrFD, extraFD) = (sinks.stdout, sinks.stderr, descriptor ?? -1)
        let pointers = SpawnPointers(argv: argv, envp: envp)
        let (result, pid) = SpawnThread.shared.run {
            var pid: pid_t = 0
            let result = pointers.argv.withUnsafeBufferPointer { argvBuffer in
                pointers.envp.withUnsafeBufferPointer { envpBuffer in
                    cl_spawn(
                        executable, argvBuffer.baseAddress, envpBuffer.baseAddress, devNull, stdoutFD, stderrFD,
                        extraFD, &pid)
                }
            }
            return (result, pid)
        }
        guard result == 0 else {
            if let pipes = sinks.pipes {
                close(pipes.stdout)
                close(pipes.stderr)
            }
            throw Errno(result, "posix_spawn \(executable)")
        }
        let childPID = pid
        let child = ChildProcess(pid: childPID)
        var lineReader: ChildLineReader?
        switch (output, sinks.pipes) {
        case (.logger(let logger, let prefix, let lineLimit), let pipes?):
            lineReader = ChildLineReader.start(
                stdout: pipes.stdout, stderr: pipes.stderr, pid: childPID, logger: logger, prefix: prefix,
                lineLimit: lineLimit)
        case (.passThrough(let tail, let logger, let lineLimit), let pipes?):
            lineReader = ChildLineReader.start(
                stdout: pipes.stdout, stderr: pipes.stderr, pid: childPID, logger: logger, lineLimit: lineLimit
            ) { line, _ in
                tail.append(line)
                let bytes = Array((line + "\n").utf8)
                bytes.withUnsafeBytes { buffer in
                    guard let base = buffer.baseAddress else { return }
                    var offset = 0
                    while offset < buffer.count {
                        let written = write(2, base + offset, buffer.count - offset)
                        if written < 0 && errno == EINTR { continue }
                        if written <= 0 { return }
                        offset += written
                    }
                }
            }
        default:
            break
        }
        let reader = lineReader
        let reaper = Thread {
            var status: Int32 = 0
            while true {
                let reaped = waitpid(childPID, &status, 0)
                if reaped == childPID { break }
                if reaped == -1 && errno == EINTR { continue }
                // ECHILD: someone else reaped it; report it as unknown death by SIGKILL rather than hang.
                status = SIGKILL
                break
            }
            child.reaped.store(true, ordering: .releasing)
            _ = reader?.waitUntilFinished(timeout: outputDrainLimit)
            onExit(ExitStatus(waitStatus: status))
        }
        reaper.name = "reaper-\(childPID)"
        reaper.start()
        return child
    }

    /// Sends `signal` to the child's whole process group (the child and anything it started).
    public func signalGroup(_ signal: Int32) {
        if kill(-pid, signal) != 0 {
            _ = kill(pid, signal)
        }
    }
}

/// The argument and environment vectors handed to the spawn thread; they stay allocated until `spawn` returns,
/// which is after the spawn thread used them.
private struct SpawnPointers: @unchecked Sendable {
    let argv: [UnsafeMutablePointer<CChar>?]
    let envp: [UnsafeMutablePointer<CChar>?]
}

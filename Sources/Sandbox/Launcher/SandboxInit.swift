import CLinux

#if canImport(Glibc)
import Glibc
#endif

/// The pid of the command, for the signal forwarder (a C signal handler cannot capture context; the launcher is
/// single-threaded, so a global is safe here).
nonisolated(unsafe) private var forwardTarget: pid_t = 0

private func forwardSignal(_ signal: Int32) {
    if forwardTarget > 0 { kill(forwardTarget, signal) }
}

/// What the sandbox's pid 1 does: forwards termination signals to the command, reaps every zombie, and when the
/// command ends, reports how and exits (which tears the whole pid namespace down).
enum SandboxInit {
    /// Passes termination and user signals on to `pid` (used by pid 1 and by the namespace creator).
    static func forwardSignals(to pid: pid_t) {
        forwardTarget = pid
        for signal in [SIGTERM, SIGINT, SIGHUP, SIGQUIT, SIGUSR1, SIGUSR2] {
            _ = cl_set_signal_handler(signal, forwardSignal)
        }
    }

    /// Runs until `command` exits; never returns.
    ///
    /// - Parameter statusFD: where to write `e<code>` or `s<signal>` for the launcher.
    static func run(command: pid_t, statusFD: Int32) -> Never {
        forwardSignals(to: command)
        while true {
            var status: Int32 = 0
            let pid = cl_wait_any(&status, 0)
            if pid == -ECHILD { _exit(0) }
            guard pid > 0, pid == command else { continue }
            if status & 0x7f == 0 {
                let code = (status >> 8) & 0xff
                Posix.writeAll(statusFD, "e\(code)")
                _exit(code)
            }
            let signal = status & 0x7f
            Posix.writeAll(statusFD, "s\(signal)")
            _exit(128 + signal)
        }
    }
}

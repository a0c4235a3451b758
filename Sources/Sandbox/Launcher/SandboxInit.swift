import CLinux

#if canImport(Glibc)
import Glibc
#endif

/// The pid of the command, for the signal forwarder (a C signal handler cannot capture context; the launcher is
/// single-threaded, so a global is safe here).
nonisolated(unsafe) private var forwardTarget: pid_t = 0

private func forwardSignal(_ signal: Int32) {
    if forwardTarget > 0 {
        kill(forwardTarget, signal)
    } else {
        _exit(128 + signal)
    }
}

/// What the sandbox's pid 1 does: forwards termination signals to the command, reaps every zombie, and when the
/// command ends, reports how and exits (which tears the whole pid namespace down).
enum SandboxInit {
    /// Passes termination and user signals on to `pid`; with no pid yet (0), such a signal ends the process.
    static func forwardSignals(to pid: pid_t) {
        forwardTarget = pid
        for signal in [SIGTERM, SIGINT, SIGHUP, SIGQUIT, SIGUSR1, SIGUSR2] {
            _ = cl_set_signal_handler(signal, forwardSignal)
        }
    }

    /// Runs until `command` exits; never returns.
    ///
    /// - Parameters:
    ///   - statusFD: where to write `e<code>` or `s<signal>` for the launcher.
    ///   - gate: the network tier's destination check, served between reaps.
    static func run(command: pid_t, statusFD: Int32, gate: NetworkGate? = nil) -> Never {
        forwardSignals(to: command)
        if let gate { serve(gate, until: command, statusFD: statusFD) }
        while true {
            var status: Int32 = 0
            let pid = cl_wait_any(&status, 0)
            if pid == -ECHILD { _exit(0) }
            if pid == command { finish(status, statusFD: statusFD) }
        }
    }

    /// Serves the gate's notifications while waiting for `command`: poll(2) on the listener and on a pidfd of the
    /// command, reaping every exited child (orphans, the gate's connect helpers) after each wake-up. Returns when
    /// the listener closes (no process with the filter is left), never when the command exits.
    private static func serve(_ gate: NetworkGate, until command: pid_t, statusFD: Int32) {
        let pidfd = cl_pidfd_open(command)
        defer { if pidfd >= 0 { close(pidfd) } }
        while true {
            var descriptors = [
                pollfd(fd: gate.listener, events: Int16(POLLIN), revents: 0),
                pollfd(fd: pidfd, events: Int16(POLLIN), revents: 0),
            ]
            // Without a pidfd the poll times out every second so the command's exit is still noticed.
            let ready = poll(&descriptors, nfds_t(pidfd >= 0 ? 2 : 1), 1000)
            while true {
                var status: Int32 = 0
                let pid = cl_wait_any(&status, WNOHANG)
                if pid <= 0 { break }
                if pid == command { finish(status, statusFD: statusFD) }
            }
            guard ready > 0 else { continue }
            let listener = descriptors[0].revents
            if listener & Int16(POLLIN) != 0 {
                gate.serveOne()
            } else if listener & Int16(POLLHUP | POLLERR | POLLNVAL) != 0 {
                return
            }
        }
    }

    /// Reports how the command ended and exits with its status, which ends the pid namespace.
    private static func finish(_ status: Int32, statusFD: Int32) -> Never {
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

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
    static func run(command: pid_t, statusFD: Int32, leave: CgroupExit, gate: NetworkGate? = nil) -> Never {
        forwardSignals(to: command)
        if let gate {
            serve(gate, until: command, statusFD: statusFD, leave: leave)
        } else {
            waitForRelease(command)
        }
        while true {
            var status: Int32 = 0
            let pid = cl_wait_any(&status, 0)
            if pid == -ECHILD { _exit(0) }
            if pid == command { finish(status, statusFD: statusFD, leave: leave) }
        }
    }

    /// How pid 1 leaves the sandbox's cgroups before it exits, so the launcher can remove them without waiting for
    /// this process's exit (see `finish`).
    enum CgroupExit {
        /// The sandbox has no cgroup.
        case none
        /// cgroup v1: `tasks` descriptors of the launcher's own cgroups, opened by the launcher, to move back to.
        case moveTo([Int32])
        /// The launcher must wait until this process has exited (v2, or v1 where the launcher's cgroups are not
        /// writable).
        case waitForExit
    }

    /// Waits on a pidfd of `command` until it exits or the release of the setup's pages is due, and then releases
    /// them. Orphans are reaped after (by the caller's wait).
    private static func waitForRelease(_ command: pid_t) {
        var release = SetupPagesRelease()
        let pidfd = cl_pidfd_open(command)
        guard pidfd >= 0 else { return }
        defer { close(pidfd) }
        var descriptor = pollfd(fd: pidfd, events: Int16(POLLIN), revents: 0)
        if poll(&descriptor, 1, release.pollTimeout(-1)) == 0 { _ = release.pollTimeout(-1) }
    }

    /// Serves the gate's notifications while waiting for `command`: poll(2) on the listener and on a pidfd of the
    /// command, reaping every exited child (orphans, the gate's connect helpers) after each wake-up. Returns when
    /// the listener closes (no process with the filter is left), never when the command exits.
    private static func serve(_ gate: NetworkGate, until command: pid_t, statusFD: Int32, leave: CgroupExit) {
        let pidfd = cl_pidfd_open(command)
        defer { if pidfd >= 0 { close(pidfd) } }
        var release = SetupPagesRelease()
        while true {
            var descriptors = [
                pollfd(fd: gate.listener, events: Int16(POLLIN), revents: 0),
                pollfd(fd: pidfd, events: Int16(POLLIN), revents: 0),
            ]
            // Without a pidfd the poll times out every second so the command's exit is still noticed.
            let ready = poll(&descriptors, nfds_t(pidfd >= 0 ? 2 : 1), release.pollTimeout(1000))
            while true {
                var status: Int32 = 0
                let pid = cl_wait_any(&status, WNOHANG)
                if pid <= 0 { break }
                if pid == command { finish(status, statusFD: statusFD, leave: leave) }
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
    ///
    /// Before the report every other process of the namespace is killed and reaped, and pid 1 leaves the
    /// sandbox's cgroups when it can; the report then ends in `+`, telling the launcher that nothing of the sandbox
    /// runs or holds its cgroups any more. The launcher acts on it at once instead of waiting for this process's
    /// exit, whose teardown of the namespaces (the mount table's above all) takes longer than the rest of a short
    /// command's run. The kernel would kill the others too when pid 1 exits; doing it first changes only when.
    private static func finish(_ status: Int32, statusFD: Int32, leave: CgroupExit) -> Never {
        forwardTarget = 0
        var released = reapEveryoneElse()
        // The caller's stdin, stdout and stderr: once nothing else holds them, the caller sees end-of-file as soon as
        // the launcher exits, not only when this process's exit (the namespaces' teardown) is done. (A launcher
        // started with one of them closed may have given that number to the status pipe.)
        for descriptor: Int32 in 0 ... 2 where descriptor != statusFD { close(descriptor) }
        if released {
            switch leave {
            case .none: break
            case .moveTo(let descriptors): released = SandboxCgroup.moveSelf(using: descriptors) == nil
            case .waitForExit: released = false
            }
        }
        let mark = released ? "+" : ""
        let code: Int32
        if status & 0x7f == 0 {
            code = (status >> 8) & 0xff
            Posix.writeAll(statusFD, "e\(code)" + mark)
        } else {
            let signal = status & 0x7f
            Posix.writeAll(statusFD, "s\(signal)" + mark)
            code = 128 + signal
        }
        close(statusFD)
        _exit(code)
    }

    /// SIGKILL to every other process of the pid namespace, repeated until none is left to reap (a process forked
    /// while the signals went out is caught by the next round). False when some are still there after 10 s (stuck
    /// in the kernel, say): the launcher then waits for this process's exit, where the kernel finishes the job.
    private static func reapEveryoneElse() -> Bool {
        var pause: UInt32 = 50
        let deadline = CgroupFile.monotonicSeconds() + 10
        while CgroupFile.monotonicSeconds() < deadline {
            _ = kill(-1, SIGKILL)
            var status: Int32 = 0
            let pid = cl_wait_any(&status, WNOHANG)
            if pid == -ECHILD { return true }
            if pid > 0 || pid == -EINTR { continue }
            if pid < 0 { return false }
            _ = usleep(pause)
            pause = min(pause * 2, 10_000)
        }
        return false
    }
}

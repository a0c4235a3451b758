import CLinux

#if canImport(Glibc)
import Glibc
#endif

/// The sandbox's pid 1, for the signal forwarder (C handlers cannot capture; single-threaded process).
nonisolated(unsafe) private var launcherChild: pid_t = 0

/// SIGTERM, SIGINT and SIGHUP to the launcher are passed on inward (launcher → pid 1 →
/// command), so a worker under the sandbox still shuts down gracefully; SIGKILL ends everything through the
/// parent-death signals instead.
private func forwardToChild(_ signal: Int32) {
    if launcherChild > 0 { kill(launcherChild, signal) }
}

/// How a sandboxed run ended, as `--status-fd` reports it.
public struct SandboxResult: Sendable, Equatable {
    public var exitCode: Int32?
    public var signal: Int32?
    public var timedOut = false
    public var oomKilled = false
    public var cpuLimit = false
    public var pidsLimitHit = false

    /// The launcher's own exit status for this result.
    public var launcherStatus: Int32 {
        if timedOut { return 124 }
        if let signal { return 128 + signal }
        return exitCode ?? 125
    }

    /// One JSON object.
    public var json: String {
        func value(_ number: Int32?) -> String { number.map(String.init) ?? "null" }
        return "{\"exit_code\":\(value(exitCode)),\"signal\":\(value(signal)),\"timed_out\":\(timedOut),"
            + "\"oom_killed\":\(oomKilled),\"cpu_limit\":\(cpuLimit),\"pids_limit_hit\":\(pidsLimitHit)}"
    }
}

/// The launcher process: it stays outside every namespace, writes the child's uid and gid maps, owns the cgroup,
/// enforces the wall-clock limit, and reports the result. Single-threaded from start to end.
public struct Launcher {
    public let profile: SandboxProfile
    public let command: [String]
    public let statusFD: Int32?
    public let dieWithParent: Bool
    public let environment: [String: String]

    public init(
        profile: SandboxProfile, command: [String], statusFD: Int32?, dieWithParent: Bool,
        environment: [String: String]
    ) {
        self.profile = profile
        self.command = command
        self.statusFD = statusFD
        self.dieWithParent = dieWithParent
        self.environment = environment
    }

    /// Runs the command sandboxed and returns the launcher's exit status. Prints setup failures to stderr.
    public func run() -> Int32 {
        do {
            return try launch()
        } catch {
            Posix.writeAll(2, "autonous-sandbox: \(error)\n")
            return 125
        }
    }

    private func launch() throws(SandboxError) -> Int32 {
        try FeatureCheck.requireAll(simulateMissing: environment["AUTONOUS_SANDBOX_SIMULATE_MISSING"])
        if dieWithParent {
            _ = cl_set_parent_death_signal(SIGKILL)
            if getppid() == 1 { throw SandboxError(.setupFailed, "the launcher's parent is already gone") }
        }
        // Names in the allowlist are resolved here, with the host's resolver, before anything is created.
        var endpoints: [NetworkAllowlist.Endpoint] = []
        if let allowlist = try profile.allowlist {
            guard SeccompFilter.hasUserNotification() else {
                throw SandboxError(
                    .missingKernelFeature,
                    "seccomp user notification is not available (Linux 5.9 or later is needed to check the network "
                        + "tier's destinations); refusing to run the command with an unchecked network")
            }
            endpoints = try allowlist.resolve(resolvConf: Posix.readFile("/etc/resolv.conf"))
        }
        // The sandbox's cgroup: made before pid 1 where pid 1 is created inside it (clone3 on a pure cgroup v2
        // host) or where the root filesystem binds it (a delegating profile, the worker); otherwise (cgroup v1)
        // while pid 1 builds the root, off the critical path, with pid 1 moving itself in afterwards.
        try profile.limits.validate()
        let cgroupName = "sandbox-\(getpid())"
        let wantsCgroup = !profile.limits.cgroupControllers.isEmpty
        let ownCgroups = wantsCgroup ? CgroupFile.ownCgroups() : ""
        let cgroupFirst =
            wantsCgroup && (profile.delegatesCgroup || Cgroups.startsProcessesInside(ownCgroups: ownCgroups))
        // A delegated cgroup is the sandbox's to change, so it is never one an earlier sandbox used.
        let reusable = !profile.delegatesCgroup
        var cgroup =
            cgroupFirst
            ? try Cgroups.create(
                for: profile.limits, name: cgroupName, reusable: reusable, ownCgroups: ownCgroups) : nil
        defer { cgroup?.destroy() }
        var profile = self.profile
        if profile.delegatesCgroup, let cgroup {
            profile.mounts = cgroup.delegate(to: profile.hostUID, gid: profile.hostGID)
        }
        let placeholders = WorkspacePlaceholders.all(for: profile)
        defer { for directory in placeholders { directory.finish() } }

        let (control, childControl) = try Posix.socketPair()
        let errors = try Posix.pipe()
        let status = try Posix.pipe()
        let program = try Posix.pipe()
        // One clone creates pid 1 in every namespace at once, as bubblewrap does: no intermediate process. On
        // cgroup v2 it starts inside its cgroup (CLONE_INTO_CGROUP); if the kernel refuses that, pid 1 is moved
        // into it below instead.
        let otherCPUs = cl_affinity_remember() > 1
        let (child, inCgroup) = Self.clonePid1(flags: SandboxChild.cloneFlags(for: profile), cgroup: cgroup)
        if child < 0 { throw Self.namespaceError(-child) }
        // The kernel queues a new child on its parent's CPU, and without preemption it waits there until the
        // parent blocks, while another CPU idles; the launcher blocks only after its ID maps, the cgroup and the
        // seccomp filter (0.3-0.6 ms), which pid 1's root filesystem then waited for. Started on another CPU, pid 1
        // builds it meanwhile; it takes back the launcher's CPUs once the maps are written (`SandboxChild`), so the
        // command runs wherever the launcher may. A refusal (a cpuset, say) only leaves the kernel's placement.
        if otherCPUs, child > 0 { _ = cl_affinity_start_elsewhere(child) }
        if child == 0 {
            close(control)
            close(errors.read)
            close(status.read)
            close(program.write)
            SandboxChild(
                profile: profile, command: command, control: childControl, errors: errors.write,
                status: status.write, seccompProgram: program.read, endpoints: endpoints
            ).runInit()
        }
        close(childControl)
        close(errors.write)
        close(status.write)
        close(program.read)
        defer {
            close(control)
            close(errors.read)
            close(status.read)
        }
        launcherChild = child
        for signal in [SIGTERM, SIGINT, SIGHUP] { _ = cl_set_signal_handler(signal, forwardToChild) }
        // A pid 1 that failed its setup has closed its end of the control socket: the write fails with EPIPE and
        // the launcher goes on to report pid 1's message, instead of dying of SIGPIPE without a word. Only the
        // launcher ignores it; pid 1 was created before and the command keeps the default disposition.
        signal(SIGPIPE, SIG_IGN)

        do {
            try writeIDMaps(for: child)
            Posix.writeAll(control, "M")
            // Pid 1 builds the root filesystem now; the cgroup and then the filter are made meanwhile. The cgroup
            // comes first because pid 1 waits for it before it forks the command, while the command needs the
            // filter only after its own setup. The program (a few KiB) fits the pipe's buffer, so its write never
            // waits for the reader.
            defer { close(program.write) }
            if wantsCgroup && !cgroupFirst {
                cgroup = try Cgroups.create(
                    for: profile.limits, name: cgroupName, reusable: reusable, ownCgroups: ownCgroups)
            }
            var handoff = CgroupHandoff(
                hasCgroup: cgroup != nil, memoryFallback: profile.limits.needsMemoryFallback(cgroup: cgroup))
            defer { for fd in handoff.enter + handoff.home { close(fd) } }
            // On v1 pid 1 moves itself in (and back out at the end); only a v2 leaf clone3 could not start pid 1
            // in is joined from here, by its pid.
            handoff.enter = try cgroup?.openSelfMove() ?? []
            handoff.home = handoff.enter.isEmpty ? [] : cgroup?.openHome() ?? []
            if !inCgroup, handoff.enter.isEmpty { try cgroup?.add(pid: child) }
            _ = handoff.send(on: control)
            try SeccompFilter.export(profile.seccompPolicy, to: program.write)
        } catch {
            kill(child, SIGKILL)
            var ignored: Int32 = 0
            _ = cl_waitpid(child, &ignored, 0)
            // When pid 1 had failed first (the launcher's step then failed because pid 1 was gone), its error is
            // the cause worth reporting.
            let report = String(decoding: Posix.readAll(errors.read), as: UTF8.self)
            if report.hasPrefix("E") { throw SandboxError(.setupFailed, String(report.dropFirst())) }
            throw error
        }

        var result = SandboxResult()
        let end = waitWithDeadline(child, status: status.read, result: &result)
        let report = String(decoding: Posix.readAll(errors.read), as: UTF8.self)
        if report.hasPrefix("E") {
            throw SandboxError(.setupFailed, String(report.dropFirst()))
        }
        if report.hasPrefix("X"), let colon = report.firstIndex(of: ":") {
            Posix.writeAll(2, "autonous-sandbox: \(report[report.index(after: colon)...])\n")
        }
        switch end {
        case .reported(.exited(let code)): result.exitCode = code
        case .reported(.signaled(let signal)): result.signal = signal
        case .waited(let status) where status & 0x7f == 0: result.exitCode = (status >> 8) & 0xff
        case .waited(let status): result.signal = status & 0x7f
        }
        if let cgroup {
            result.oomKilled = cgroup.oomKilled()
            result.pidsLimitHit = cgroup.pidsLimitHit()
            // Pid 1 reaped every other process before its report, or it was reaped itself, which ends its pid
            // namespace and everything in it.
            cgroup.destroy(sandboxEnded: true)
        }
        if profile.limits.cpuSeconds != nil, let signal = result.signal {
            result.cpuLimit = signal == SIGXCPU || (signal == SIGKILL && !result.oomKilled && !result.timedOut)
        }
        if result.timedOut {
            Posix.writeAll(
                2, "autonous-sandbox: wall-clock limit of \(profile.wallClockSeconds ?? 0) s reached; killed\n")
        } else if result.oomKilled {
            Posix.writeAll(2, "autonous-sandbox: memory limit reached; the command was killed\n")
        } else if result.cpuLimit {
            Posix.writeAll(2, "autonous-sandbox: CPU time limit reached; the command was killed\n")
        }
        if let statusFD { Posix.writeAll(statusFD, result.json + "\n") }
        return result.launcherStatus
    }

    /// Creates pid 1: with clone3 straight into a cgroup v2 leaf when there is one, else with clone. Returns the
    /// pid (or -errno) and whether pid 1 already is in its cgroup.
    private static func clonePid1(flags: Int32, cgroup: SandboxCgroup?) -> (pid_t, Bool) {
        if let directory = cgroup?.directoryForNewProcesses {
            let fd = open(directory, CL_O_PATH | O_DIRECTORY | O_CLOEXEC)
            if fd >= 0 {
                let pid = cl_clone3_into_cgroup(flags, fd)
                close(fd)  // the parent's copy, and in the child its own
                if pid >= 0 { return (pid, true) }
            }
        }
        return (cl_clone_namespaces(flags), false)
    }

    /// The error for a failed clone with namespace flags, with what to check when user namespaces are refused.
    private static func namespaceError(_ code: Int32) -> SandboxError {
        let message = "cannot create namespaces: \(String(cString: strerror(code))) (errno \(code))"
        guard code == EPERM || code == ENOSPC || code == EINVAL || code == EUSERS else {
            return SandboxError(.setupFailed, message)
        }
        return SandboxError(
            .missingKernelFeature,
            "user namespaces are not available: " + message
                + "; check sysctl user.max_user_namespaces and kernel.unprivileged_userns_clone, and on Ubuntu "
                + "kernel.apparmor_restrict_unprivileged_userns (autonousctl doctor explains)")
    }

    /// Maps the inside uid and gid (normally 0) in the child's user namespace to the profile's unprivileged host ids.
    private func writeIDMaps(for child: pid_t) throws(SandboxError) {
        try Posix.writeFile("/proc/\(child)/uid_map", "\(profile.insideUID) \(profile.hostUID) 1\n")
        // setgroups must be denied before an unprivileged process may write gid_map.
        try Posix.writeFile("/proc/\(child)/setgroups", "deny\n")
        try Posix.writeFile("/proc/\(child)/gid_map", "\(profile.insideGID) \(profile.hostGID) 1\n")
    }

    /// How pid 1 ended: its report of the command's end, or without one its own wait status.
    private enum PidOneEnd {
        case reported(InitReport.Outcome)
        case waited(Int32)
    }

    /// Waits for pid 1's report of how the command ended, killing pid 1 when the wall-clock limit passes.
    ///
    /// A report that ends in `+` says every other process is reaped and pid 1 holds none of the sandbox's cgroups
    /// any more: then pid 1 is only finishing its own exit, and the launcher goes on without waiting for it (it is
    /// reaped here if it is already gone; otherwise it is reparented and reaped by the init process, as
    /// bubblewrap's is). Without `+` (cgroup still held, pid 1 killed, setup failed) the launcher waits for pid 1.
    private func waitWithDeadline(_ child: pid_t, status: Int32, result: inout SandboxResult) -> PidOneEnd {
        let deadline = profile.wallClockSeconds.map { SetupPagesRelease.monotonicMilliseconds() + Int64($0) * 1000 }
        var release = SetupPagesRelease()
        while true {
            var timeout: Int32 = 1000
            if let deadline {
                let left = deadline - SetupPagesRelease.monotonicMilliseconds()
                if left <= 0 {
                    result.timedOut = true
                    kill(child, SIGKILL)
                    break
                }
                timeout = Int32(min(left, 1000))
            }
            // The report comes on its own pipe; end of file without one means pid 1 is gone or going.
            var descriptor = pollfd(fd: status, events: Int16(POLLIN), revents: 0)
            if poll(&descriptor, 1, release.pollTimeout(timeout)) > 0 { break }
        }
        let report = result.timedOut ? nil : InitReport(Posix.readAll(status, limit: 64))
        var waitStatus: Int32 = 0
        _ = cl_waitpid(child, &waitStatus, report?.released == true ? WNOHANG : 0)
        if let report { return .reported(report.outcome) }
        return .waited(waitStatus)
    }
}

/// Pid 1's last words on the status pipe: `e<code>` or `s<signal>`, then `+` when the sandbox is released (see
/// `SandboxInit.finish`).
struct InitReport: Equatable {
    enum Outcome: Equatable {
        case exited(Int32)
        case signaled(Int32)
    }

    let outcome: Outcome
    let released: Bool

    init(outcome: Outcome, released: Bool) {
        self.outcome = outcome
        self.released = released
    }

    /// Nil for anything else (nothing, or a pid 1 killed halfway through writing).
    init?(_ bytes: [UInt8]) {
        var text = String(decoding: bytes, as: UTF8.self)
        released = text.hasSuffix("+")
        if released { text.removeLast() }
        let digits = text.dropFirst()
        guard let kind = text.first, digits.allSatisfy(\.isASCII), digits.allSatisfy(\.isNumber),
            let number = Int32(digits)
        else { return nil }
        switch kind {
        case "e": outcome = .exited(number)
        case "s": outcome = .signaled(number)
        default: return nil
        }
    }
}

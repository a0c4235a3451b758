import CLinux

#if canImport(Glibc)
import Glibc
#endif

/// The processes inside the sandbox: its pid 1 (created by the launcher with clone and every namespace flag at
/// once) and the command. Each reports a setup failure on the error pipe as `E<message>` and exits 125; an exec
/// failure is `X<errno>:<message>`. The pipes are close-on-exec, so a successful exec leaves nothing behind.
struct SandboxChild {
    let profile: SandboxProfile
    let command: [String]
    /// The launcher's end is a SOCK_SEQPACKET socket: `M` once the uid and gid maps are written, then the
    /// `CgroupHandoff` once the cgroup is ready.
    let control: Int32
    let errors: Int32
    let status: Int32
    /// The seccomp program, written by the launcher while pid 1 builds the filesystem; the command loads it.
    let seccompProgram: Int32
    /// The resolved allowlist of a network-tier profile (`profile.mediatesNetwork`), for pid 1's `NetworkGate`.
    let endpoints: [NetworkAllowlist.Endpoint]

    /// The namespaces pid 1 is created in. The cgroup namespace comes later (`runInit`), once pid 1 is in the
    /// sandbox's cgroup, so that the namespace is rooted there.
    static func cloneFlags(for profile: SandboxProfile) -> Int32 {
        var flags = CL_CLONE_NEWUSER | CL_CLONE_NEWNS | CL_CLONE_NEWPID | CL_CLONE_NEWUTS | CL_CLONE_NEWIPC
        if !profile.hasNetwork { flags |= CL_CLONE_NEWNET }
        return flags
    }

    /// Pid 1 of the new namespaces: takes its mapped ids, builds the filesystem, enters its cgroup (v1) and a
    /// cgroup namespace, then starts the command and reaps.
    func runInit() -> Never {
        _ = cl_set_parent_death_signal(SIGKILL)
        // Until the command exists, a termination signal ends the setup (pid 1 ignores signals without a handler).
        SandboxInit.forwardSignals(to: 0)
        guard Posix.readByte(control) == UInt8(ascii: "M") else { _exit(125) }
        // The launcher started this process on the CPUs other than its own (see `Launcher`); the command gets all
        // of the launcher's again.
        let affinity = cl_affinity_restore()
        if affinity < 0 { fail("cannot restore the CPU affinity (errno \(-affinity))") }
        // Become the mapped ids. With an inside uid other than 0 the process keeps the full capability set the new
        // user namespace gave it (no setuid happens), which the mounts need; the command loses it at exec.
        let uid = profile.insideUID
        let gid = profile.insideGID
        if cl_setresgid(gid, gid, gid) < 0 || cl_setresuid(uid, uid, uid) < 0 {
            fail("cannot take uid \(uid) / gid \(gid) in the user namespace")
        }
        // A credential change clears the parent-death signal: set it again, then make sure the launcher did not
        // die in between (its end of the control socket would be closed).
        _ = cl_set_parent_death_signal(SIGKILL)
        if Posix.peerClosed(control) { _exit(125) }
        do {
            try RootFilesystem(profile: profile).build()
        } catch {
            fail("\(error)")
        }
        _ = cl_sethostname(profile.hostname)
        // The command inherits an empty bounding set; emptying it here, before waiting for the cgroup, takes its
        // cost off the command's path when the cgroup is not there yet (pid 1 itself keeps its effective set).
        do {
            try Capabilities.dropBoundingSet()
        } catch {
            fail("\(error)")
        }
        guard let cgroup = CgroupHandoff.receive(on: control) else { _exit(125) }
        // Before the command exists, so that everything it starts is accounted to the sandbox. (What this process
        // allocated while building the root stays charged where the launcher runs.)
        if let failure = SandboxCgroup.moveSelf(using: cgroup.enter) { fail(failure) }
        let entered = cl_unshare(CL_CLONE_NEWCGROUP)
        if entered < 0 { fail("cannot create the cgroup namespace (errno \(-entered))") }
        close(control)
        // The command hands its seccomp listener over through these pipes (mediated network only).
        var handoff: (toInit: (read: Int32, write: Int32), toCommand: (read: Int32, write: Int32))?
        if profile.mediatesNetwork {
            do {
                handoff = (try Posix.pipe(), try Posix.pipe())
            } catch {
                fail("\(error)")
            }
        }
        let child = cl_fork()
        if child < 0 { fail("fork of the command failed (errno \(-child))") }
        if child == 0 {
            if let handoff {
                close(handoff.toInit.read)
                close(handoff.toCommand.write)
            }
            runCommand(
                handoff: handoff.map { ($0.toInit.write, $0.toCommand.read) }, memoryFallback: cgroup.memoryFallback)
        }
        close(errors)
        var gate: NetworkGate?
        if let handoff {
            close(handoff.toInit.write)
            close(handoff.toCommand.read)
            gate = receiveListener(from: child, handoff.toInit.read, handoff.toCommand.write)
            close(handoff.toInit.read)
            close(handoff.toCommand.write)
        }
        SandboxInit.run(command: child, statusFD: status, leave: cgroup.leave, gate: gate)
    }

    /// Takes the command's seccomp listener (it writes the descriptor's number, then waits for `K`) with
    /// pidfd_getfd. Nil when the command failed before loading its filter; it then exits and reports on its own.
    private func receiveListener(from command: pid_t, _ input: Int32, _ output: Int32) -> NetworkGate? {
        let text = String(decoding: Posix.readAll(input, limit: 16), as: UTF8.self)
        guard let number = Int32(text) else { return nil }
        let pidfd = cl_pidfd_open(command)
        guard pidfd >= 0 else { return nil }
        let listener = cl_pidfd_getfd(pidfd, number)
        close(pidfd)
        if listener < 0 {
            Posix.writeAll(2, "autonous-sandbox: cannot take the network check's listener (errno \(-listener))\n")
            kill(command, SIGKILL)
            return nil
        }
        Posix.writeAll(output, "K")
        return NetworkGate(listener: listener, endpoints: endpoints)
    }

    /// The command. Last steps before exec, in this order: new session, descriptors, directory, rlimits,
    /// capabilities, no_new_privs, seccomp (last, so nothing above is filtered).
    private func runCommand(handoff: (write: Int32, read: Int32)?, memoryFallback: Bool) -> Never {
        _ = cl_set_parent_death_signal(SIGKILL)
        _ = setsid()
        _ = cl_cloexec_from(3)
        let directory = profile.workingDirectory ?? profile.workspace ?? "/tmp"
        if chdir(directory) != 0 { fail("cannot change to \(directory) (errno \(errno))") }
        do {
            try Rlimits.apply(profile.limits, memoryFallback: memoryFallback)
            try Capabilities.dropAll()
            try Capabilities.setNoNewPrivileges()
            let listener = try SeccompFilter.install(
                programFrom: seccompProgram, listener: profile.mediatesNetwork)
            if let handoff, let listener {
                // From here on connect(2) waits for pid 1, so it must hold the listener before the exec. The
                // setresuid in pid 1 left this process non-dumpable, which would refuse pid 1's
                // pidfd_getfd; the exec recomputes the flag for the command anyway.
                _ = cl_set_dumpable(1)
                Posix.writeAll(handoff.write, "\(listener)")
                close(handoff.write)
                guard Posix.readByte(handoff.read) == UInt8(ascii: "K") else {
                    fail("the sandbox init did not take the network check's listener")
                }
                close(listener)
            }
        } catch {
            fail("\(error)")
        }
        let environment = Self.environmentEntries(profile.environment)
        var lastError = ENOENT
        for candidate in candidates(for: command[0]) {
            execute(candidate, environment)
            if errno != ENOENT { lastError = errno }
        }
        let code: Int32 = lastError == ENOENT ? 127 : 126
        Posix.writeAll(errors, "X\(lastError):cannot run \(command[0]): \(String(cString: strerror(lastError)))")
        _exit(code)
    }

    private func candidates(for name: String) -> [String] {
        if name.contains("/") { return [name] }
        let path = profile.environment["PATH"] ?? "/usr/bin:/bin"
        return path.split(separator: ":").map { "\($0)/\(name)" }
    }

    /// `KEY=value` for each variable, sorted (the same order every run). Written out with concrete types: in the
    /// freshly forked command the generic `sorted(by:)` and interpolation paths cost 0.1 ms of first-use work.
    static func environmentEntries(_ environment: [String: String]) -> [String] {
        var entries: [String] = []
        entries.reserveCapacity(environment.count)
        for (key, value) in environment { entries.append(key + "=" + value) }
        entries.sort()
        return entries
    }

    private func execute(_ path: String, _ environment: [String]) {
        let argv = command.map { strdup($0) } + [nil]
        let envp = environment.map { strdup($0) } + [nil]
        _ = execve(path, argv, envp)
    }

    private func fail(_ message: String) -> Never {
        Posix.writeAll(errors, "E" + message)
        _exit(125)
    }
}

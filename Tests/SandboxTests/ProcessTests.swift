import Foundation
import Testing

/// The cgroup v1 memory, pids and freezer hierarchies of this machine.
private let cgroupV1Hierarchies = ["memory", "pids", "freezer"].map { "/sys/fs/cgroup/" + $0 }
/// The cgroup v1 memory hierarchy is mounted here (checked once).
private let cgroupV1Memory = FileManager.default.fileExists(atPath: "/sys/fs/cgroup/memory/cgroup.procs")
/// The cgroup v1 memory, pids and freezer hierarchies are mounted here (checked once).
private let cgroupV1MemoryPidsFreezer = cgroupV1Hierarchies.allSatisfy {
    FileManager.default.fileExists(atPath: $0 + "/cgroup.procs")
}

/// SANDBOX-TESTS.md cases 15–18: what the sandboxed process can see and do to other processes and the kernel.
/// Cases 19–22 (resource limits) are in `ResourceLimitTests`.
@Suite("Processes", .timeLimit(.minutes(3)))
struct ProcessTests {
    /// Case 15: the host's processes are invisible: the sandbox's init is pid 1, the command pid 2, and /proc and
    /// `ps` show only those.
    @Test(arguments: Caller.allCases)
    func hostProcessesAreInvisible(caller: Caller) async throws {
        let fixture = try SandboxFixture()
        let run = try await sandbox(caller, fixture.arguments(profile: "exec", command: Probe.procs))
        #expect(run.status == 0, "\(run)")
        let procs = try #require(run.json, "\(run)")
        #expect(procs["pid"].int == 2, "the command is not pid 2\n\(run)")
        #expect(procs["ppid"].int == 1, "the command's parent is not the sandbox init (pid 1)\n\(run)")
        #expect(procs["pids"].ints == [1, 2], "/proc shows \(procs["cmdlines"])")

        let ps = try await sandbox(
            caller, fixture.arguments(profile: "exec", command: ["/usr/bin/ps", "-e", "-o", "pid=,comm="]))
        #expect(ps.status == 0, "\(ps)")
        let pids = ps.stdout.split(separator: "\n").compactMap { $0.split(separator: " ").first.flatMap { Int($0) } }
        #expect(pids == [1, 2], "ps -e shows:\n\(ps.stdout)")
    }

    /// Pid 1 starts on a CPU other than the launcher's, so that it builds the root filesystem while the launcher
    /// makes the cgroup and the filter (see `Launcher`); the command still gets exactly the launcher's CPUs: all
    /// that the launcher may use, or the single one it was restricted to.
    @Test(arguments: Caller.allCases)
    func theCommandRunsOnTheLaunchersCPUs(caller: Caller) async throws {
        let fixture = try SandboxFixture()
        let status = try String(contentsOfFile: "/proc/self/status", encoding: .utf8)
        let own = try #require(status.split(separator: "\n").first { $0.hasPrefix("Cpus_allowed_list:") })
        let command = ["/bin/grep", "^Cpus_allowed_list:", "/proc/self/status"]
        let all = try await sandbox(caller, fixture.arguments(profile: "exec", command: command))
        #expect(all.status == 0, "\(all)")
        #expect(all.stdout == own + "\n", "the launcher may use \(own)\n\(all)")

        let last = try #require(own.split(whereSeparator: { ",-\t ".contains($0) }).last.map(String.init))
        let one = try await sandbox(
            caller, fixture.arguments(profile: "exec", command: command), wrapper: ["/usr/bin/taskset", "-c", last])
        #expect(one.status == 0, "\(one)")
        #expect(one.stdout == "Cpus_allowed_list:\t\(last)\n", "the launcher was restricted to CPU \(last)\n\(one)")
    }

    /// Case 16: ptrace (TRACEME, ATTACH to init, ATTACH and SEIZE of its own child) and process_vm_readv/writev
    /// (on itself, which the kernel alone would allow) fail with EPERM; strace of a child cannot start.
    @Test(arguments: Caller.allCases)
    func ptraceAndProcessMemoryAccessAreDenied(caller: Caller) async throws {
        let fixture = try SandboxFixture()
        let names = [
            "ptrace_traceme", "ptrace_attach_init", "ptrace_attach_child", "ptrace_seize_child", "process_vm_readv",
            "process_vm_writev",
        ]
        let run = try await sandbox(caller, fixture.arguments(profile: "exec", command: Probe.syscalls(names)))
        #expect(run.status == 0, "\(run)")
        let results = try #require(run.json?["results"].object, "\(run)")
        for name in names {
            let errno = results[name]?["errno"].int
            #expect(errno == Errno.eperm, "\(name): \(Errno.name(errno)) \(results[name] ?? .null)\n\(run)")
        }

        let strace = try await sandbox(
            caller, fixture.arguments(profile: "exec", command: ["/usr/bin/strace", "-f", "/bin/true"]))
        #expect(strace.status == 1, "strace must fail to trace\n\(strace)")
        #expect(strace.stderr.contains("Operation not permitted"), "\(strace)")
    }

    /// Case 17: unshare with every namespace flag, setns and clone(CLONE_NEWUSER) fail with EPERM; clone3 fails
    /// with ENOSYS (so that libc falls back to clone, whose flags the filter can see); `unshare -U` fails.
    @Test(arguments: Caller.allCases)
    func namespacesCannotBeCreatedOrJoined(caller: Caller) async throws {
        let fixture = try SandboxFixture()
        let denied = [
            "unshare_user", "unshare_mount", "unshare_pid", "unshare_net", "unshare_uts", "unshare_ipc",
            "unshare_cgroup", "unshare_time", "setns_net", "setns_user", "setns_mnt_any", "clone_newuser",
        ]
        let run = try await sandbox(
            caller, fixture.arguments(profile: "exec", command: Probe.syscalls(denied + ["clone3"])))
        #expect(run.status == 0, "\(run)")
        let results = try #require(run.json?["results"].object, "\(run)")
        for name in denied {
            let errno = results[name]?["errno"].int
            #expect(errno == Errno.eperm, "\(name): \(Errno.name(errno)) \(results[name] ?? .null)\n\(run)")
        }
        let clone3 = results["clone3"]?["errno"].int
        #expect(clone3 == Errno.enosys, "clone3: \(Errno.name(clone3)) \(results["clone3"] ?? .null)\n\(run)")

        let nested = try await sandbox(
            caller, fixture.arguments(profile: "exec", command: ["/usr/bin/unshare", "-U", "/bin/true"]))
        #expect(nested.status == 1, "a nested user namespace was created\n\(nested)")
        #expect(nested.stderr.contains("Operation not permitted"), "\(nested)")
    }

    /// Case 18: bpf, keyctl, add_key, request_key, userfaultfd, perf_event_open, kexec_load, init_module,
    /// finit_module, delete_module, swapon and reboot fail with EPERM (several would succeed or fail differently
    /// without the filter: keyctl, add_key, perf_event_open on itself, the module calls with ENOSYS).
    @Test(arguments: Caller.allCases)
    func dangerousKernelInterfacesAreDenied(caller: Caller) async throws {
        let fixture = try SandboxFixture()
        let names = [
            "bpf", "keyctl", "add_key", "request_key", "userfaultfd", "perf_event_open", "kexec_load", "init_module",
            "finit_module", "delete_module", "swapon", "reboot",
        ]
        let run = try await sandbox(caller, fixture.arguments(profile: "exec", command: Probe.syscalls(names)))
        #expect(run.status == 0, "\(run)")
        let results = try #require(run.json?["results"].object, "\(run)")
        for name in names {
            let errno = results[name]?["errno"].int
            #expect(errno == Errno.eperm, "\(name): \(Errno.name(errno)) \(results[name] ?? .null)\n\(run)")
        }
    }

    /// The command's exit status and death by signal come back as the launcher's status and in the status report.
    @Test(arguments: Caller.allCases)
    func exitStatusAndSignalArePassedThrough(caller: Caller) async throws {
        let fixture = try SandboxFixture()
        let exited = try await sandbox(
            caller, fixture.arguments(profile: "exec", command: ["/bin/sh", "-c", "exit 7"]), statusFD: true)
        #expect(exited.status == 7, "\(exited)")
        #expect(exited.report?.exitCode == 7, "\(exited.statusText)")
        #expect(exited.report?.signal == nil, "\(exited.statusText)")

        let killer =
            "import os, signal; signal.pthread_sigmask(signal.SIG_UNBLOCK, {signal.SIGTERM}); "
            + "os.kill(os.getpid(), signal.SIGTERM)"
        let signalled = try await sandbox(
            caller, fixture.arguments(profile: "exec", command: [TestPaths.python, "-c", killer]), statusFD: true)
        #expect(signalled.status == 128 + SIGTERM, "\(signalled)")
        #expect(signalled.report?.signal == Int(SIGTERM), "\(signalled.statusText)")
        #expect(signalled.report?.exitCode == nil, "\(signalled.statusText)")
    }

    /// When the launcher returns, nothing the command left running exists any more (pid 1 kills and reaps it
    /// before it reports, so this needs no waiting), and the sandbox's cgroup is let go: its own leaves are removed,
    /// and a reused slot that no sandbox holds any more has no process in it.
    @Test(arguments: Caller.allCases)
    func nothingOutlivesTheLauncher(caller: Caller) async throws {
        let fixture = try SandboxFixture()
        let token = "7\(uniqueToken())"
        let script = "sleep \(token) & sleep \(token) & (sleep \(token) &) ; exit 3"
        let launcher = try LauncherProcess(
            caller, fixture.arguments(profile: "exec", command: ["/bin/sh", "-c", script]))
        let run = await launcher.wait(timeout: .seconds(30))
        #expect(run.status == 3, "\(run)")
        #expect(HostProcess.matching("sleep \(token)").isEmpty, "left running: \(HostProcess.matching(token))")
        let parentName = caller == .root ? "autonous" : "autonous-\(Caller.mappedID)"
        for hierarchy in ["memory", "pids", "freezer"] {
            let parent = "/sys/fs/cgroup/\(hierarchy)/" + parentName
            let entries = (try? FileManager.default.contentsOfDirectory(atPath: parent)) ?? []
            let own = entries.filter { $0.hasPrefix("sandbox-\(launcher.pid)-") }
            #expect(own.isEmpty, "\(parent) still has \(own)")
            // Slots other sandboxes hold may have processes; one whose lock (on its memory directory) is free must
            // not. The test holds the lock while it looks, so no sandbox takes the slot meanwhile.
            for slot in entries where slot.hasPrefix("slot-") {
                let directory = parent + "/" + slot
                let fd = open("/sys/fs/cgroup/memory/\(parentName)/\(slot)", O_RDONLY | O_DIRECTORY)
                defer { if fd >= 0 { close(fd) } }
                guard fd >= 0, flock(fd, LOCK_EX | LOCK_NB) == 0 else { continue }
                let procs = (try? String(contentsOfFile: directory + "/cgroup.procs", encoding: .utf8)) ?? ""
                #expect(procs.isEmpty, "\(directory) is free but holds \(procs)")
            }
        }
    }

    /// Sandboxes running at the same time never share a reused cgroup leaf: six launchers at once each put their
    /// pid 1 in a `slot-<n>` of its own, all succeed, and afterwards no free slot holds a process. Root only: the
    /// v1 hierarchies of this machine.
    @Test(.enabled(if: cgroupV1Memory, "needs the cgroup v1 memory hierarchy (the v1 test machine)"))
    func sandboxesAtOnceEachGetASlotOfTheirOwn() async throws {
        let fixture = try SandboxFixture()
        // Each command runs until the test has looked (it writes `release` into the shared workspace), at most
        // 60 s: a fixed sleep could end before a test process busy with other suites gets to look.
        let wait = "i=0; while [ ! -e release ] && [ $i -lt 600 ]; do sleep 0.1; i=$((i+1)); done"
        let launchers = try (0 ..< 6).map { _ in
            try LauncherProcess(.root, fixture.arguments(profile: "exec", command: ["/bin/sh", "-c", wait]))
        }
        // Each launcher's child is its sandbox's pid 1; its memory cgroup is the slot once it has moved in.
        var slots: [Int32: String] = [:]
        var seen: [Int32: String] = [:]  // the last memory cgroup of each pid 1, for the message
        _ = await eventually(timeout: .seconds(40)) {
            for launcher in launchers where slots[launcher.pid] == nil {
                let childrenFile = "/proc/\(launcher.pid)/task/\(launcher.pid)/children"
                let children = (try? String(contentsOfFile: childrenFile, encoding: .utf8)) ?? ""
                guard let pid1 = children.split(separator: " ").first else { continue }
                let cgroups = (try? String(contentsOfFile: "/proc/\(pid1)/cgroup", encoding: .utf8)) ?? ""
                let memory = cgroups.split(separator: "\n").first { $0.contains(":memory:") }
                guard let path = memory?.split(separator: ":", maxSplits: 2).last else { continue }
                seen[launcher.pid] = String(path)
                if path.contains("/autonous/slot-") { slots[launcher.pid] = String(path) }
            }
            return slots.count == launchers.count
        }
        #expect(slots.count == launchers.count, "pid 1 of each sandbox in a slot: \(slots); seen: \(seen)")
        #expect(Set(slots.values).count == slots.count, "two sandboxes share a slot: \(slots)")
        try fixture.writeFile(fixture.workspace + "/release", "")
        for launcher in launchers {
            let run = await launcher.wait(timeout: .seconds(30))
            #expect(run.status == 0, "\(run)")
        }
        for (_, slot) in slots {
            let lock = open("/sys/fs/cgroup/memory" + slot, O_RDONLY | O_DIRECTORY)
            defer { if lock >= 0 { close(lock) } }
            guard lock >= 0, flock(lock, LOCK_EX | LOCK_NB) == 0 else { continue }  // another sandbox has it now
            for hierarchy in ["memory", "pids", "freezer"] {
                let procs =
                    (try? String(contentsOfFile: "/sys/fs/cgroup/\(hierarchy)\(slot)/cgroup.procs", encoding: .utf8))
                    ?? ""
                #expect(procs.isEmpty, "\(hierarchy)\(slot) is free but holds \(procs)")
            }
        }
    }

    /// Leaves a killed launcher left behind (its pid is gone, no process inside), with the cgroups made inside
    /// them (a killed worker's leaf holds its tools' slots), are removed by the next launch
    /// that makes a leaf of its own (here the worker profile, whose cgroup is delegated and so never a reused
    /// slot), in every hierarchy, also where it died halfway (only some hierarchies have the leaf); a leaf whose
    /// launcher is alive stays. Root only: the test makes the leaves itself, on the v1 hierarchies of this machine.
    @Test(
        .enabled(
            if: cgroupV1MemoryPidsFreezer,
            "needs the cgroup v1 memory, pids and freezer hierarchies (the v1 test machine)")
    )
    func theNextLaunchRemovesLeavesOfKilledLaunchers() async throws {
        try Caller.root.requireAvailable()  // before it makes the leaves, which needs root as well
        let hierarchies = cgroupV1Hierarchies
        let finished = Process()
        finished.executableURL = URL(fileURLWithPath: "/bin/true")
        try finished.run()
        finished.waitUntilExit()
        let token = uniqueToken().suffix(8)
        let dead = "sandbox-\(finished.processIdentifier)-dead\(token)"  // its launcher is gone
        let halfway = "sandbox-\(finished.processIdentifier)-half\(token)"  // died after the first leaf
        let alive = "sandbox-\(getpid())-live\(token)"  // this process is its "launcher"
        var made: [String] = []
        for (index, hierarchy) in hierarchies.enumerated() {
            _ = mkdir(hierarchy + "/autonous", 0o755)
            for name in index == 0 ? [dead, halfway, alive] : [dead, alive] {
                try #require(mkdir(hierarchy + "/autonous/" + name, 0o755) == 0, "mkdir \(name): errno \(errno)")
                made.append(hierarchy + "/autonous/" + name)
            }
            // A killed worker's leaf holds the reused slots of the tool sandboxes it started.
            for nested in ["/autonous-1000", "/autonous-1000/slot-0"] {
                let path = hierarchy + "/autonous/" + dead + nested
                try #require(mkdir(path, 0o755) == 0, "mkdir \(path): errno \(errno)")
                made.append(path)
            }
        }
        defer { for directory in made.reversed() { _ = rmdir(directory) } }
        let fixture = try SandboxFixture()
        let run = try await sandbox(
            .root, fixture.arguments(profile: "worker", useWorkspace: false, command: ["/bin/true"]))
        #expect(run.status == 0, "\(run)")
        for directory in made {
            let exists = FileManager.default.fileExists(atPath: directory)
            #expect(exists == directory.hasSuffix(alive), "\(directory) \(exists ? "is still there" : "was removed")")
        }
    }
}

import Foundation
import Testing

extension ProcessTests {
    /// SANDBOX-TESTS.md cases 19–22: resource limits end runaway commands, report it, and leave nothing behind.
    /// Serialized: a fork bomb or a memory hog next to another limit test would make both slow and flaky on 2 cores.
    @Suite("Resource limits", .serialized)
    struct ResourceLimitTests {
        /// Delegates cgroup v1 to uid 65534 the way an operator would (a root-created `autonous-65534` directory in
        /// each hierarchy, chowned with its cgroup.procs), so the unprivileged runs enforce the limits for real.
        /// Returns the directories to remove afterwards; on a host without writable v1 hierarchies, none.
        private func delegateCgroups(for caller: Caller) -> [String] {
            guard caller == .unprivileged, geteuid() == 0 else { return [] }
            var created: [String] = []
            for hierarchy in ["pids", "memory", "cpu", "freezer"] {
                let root = "/sys/fs/cgroup/\(hierarchy)"
                guard FileManager.default.fileExists(atPath: root + "/cgroup.procs") else { continue }
                let directory = root + "/autonous-65534"
                if mkdir(directory, 0o755) == 0 { created.append(directory) }
                for path in [directory, directory + "/cgroup.procs", directory + "/tasks"] {
                    _ = chown(path, 65534, 65534)
                }
            }
            return created
        }

        /// Removes the delegated directories. Unprivileged sandboxes of other suites, running meanwhile, may have
        /// used the delegation too, and leave their reusable slots (`slot-<n>`) in it. A slot goes under its lock,
        /// taken on its memory directory as a launcher takes it, so one a running sandbox holds is waited for
        /// (bounded) instead of being removed under it; then the directories go, so nothing is left on the host.
        private func removeDelegation(_ directories: [String]) {
            guard !directories.isEmpty else { return }
            for _ in 0 ..< 100 {
                removeFreeSlots(in: directories)
                if directories.allSatisfy({ rmdir($0) == 0 || errno == ENOENT }) { return }
                usleep(50_000)
            }
        }

        /// Removes every slot in `directories` whose lock is free: its directory in each hierarchy, the memory
        /// one (the lock's) last.
        private func removeFreeSlots(in directories: [String]) {
            let slots = Set(
                directories.flatMap { (try? FileManager.default.contentsOfDirectory(atPath: $0)) ?? [] }
                    .filter { $0.hasPrefix("slot-") })
            let lockParent = directories.first { $0.hasPrefix("/sys/fs/cgroup/memory/") }
            for slot in slots {
                let lock = lockParent.map { open($0 + "/" + slot, O_RDONLY | O_DIRECTORY) } ?? -1
                defer { if lock >= 0 { close(lock) } }
                guard lock < 0 || flock(lock, LOCK_EX | LOCK_NB) == 0 else { continue }
                for directory in directories.filter({ $0 != lockParent }) + (lockParent.map { [$0] } ?? []) {
                    rmdir(directory + "/" + slot)
                }
            }
        }

        /// An unprivileged launcher on a host without a delegated cgroup cannot enforce a cgroup limit. It must
        /// then refuse (exit 125, nothing run), which is asserted; the case is cancelled for lack of the feature.
        private func cancelIfUnenforceable(_ run: SandboxRun, _ caller: Caller, limit: String) throws {
            guard caller == .unprivileged, run.status == 125 else { return }
            #expect(run.refused(mentioning: [limit, "cgroup"]), "125 without naming the limit\n\(run)")
            #expect(run.stdout.isEmpty, "something ran although the launcher refused\n\(run)")
            try Test.cancel(
                Comment(
                    rawValue: "no cgroup delegated to uid \(Caller.mappedID) here, so \(limit) cannot be enforced: "
                        + "\(run.launcherErrors)"))
        }

        /// Case 19: a fork bomb under `--pids 64 --timeout 20` ends, the report says the pids limit was hit (or the
        /// clock ran out), nothing of it survives, and the host can still fork.
        @Test(arguments: Caller.allCases)
        func forkBombIsStoppedByThePidsLimit(caller: Caller) async throws {
            let delegated = delegateCgroups(for: caller)
            defer { removeDelegation(delegated) }
            let fixture = try SandboxFixture()
            let token = uniqueToken()
            let run = try await sandbox(
                caller,
                fixture.arguments(
                    profile: "exec", options: ["--pids", "64", "--timeout", "20"],
                    command: Probe.script("forkbomb.py", ["10", token])),
                statusFD: true, bestEffortWhenUnprivileged: false, timeout: .seconds(60))
            try cancelIfUnenforceable(run, caller, limit: "pids")
            #expect(!run.killedByTest, "\(run)")
            #expect(run.elapsed < .seconds(40), "\(run)")
            let report = try #require(run.report, "no status report\n\(run)")
            #expect(report.pidsLimitHit || report.timedOut, "\(report)\n\(run)")
            if report.pidsLimitHit, let errors = run.json?["fork_errors"].object {
                #expect(errors["11"]?.int ?? 0 > 0, "the bomb never saw EAGAIN: \(errors)")
            }
            let survivors = await eventually(timeout: .seconds(5)) { HostProcess.matching(token).isEmpty }
            #expect(survivors, "fork bomb processes survived: \(HostProcess.matching(token))")
            #expect(hostCanStillFork())
        }

        /// Case 20: a process allocating 512 MiB under `--memory 64M` is OOM-killed inside its sandbox: exit 137,
        /// `oom_killed` in the report; the test process (the "supervisor") is untouched.
        @Test(arguments: Caller.allCases)
        func memoryHogIsKilledInsideItsSandboxOnly(caller: Caller) async throws {
            let delegated = delegateCgroups(for: caller)
            defer { removeDelegation(delegated) }
            let fixture = try SandboxFixture()
            // bytes * n writes every page, so the memory is really charged (bytearray(n) would stay untouched zeros).
            let hog = "import sys; b = b'\\x01' * (512 << 20); print('allocated', len(b), flush=True)"
            let run = try await sandbox(
                caller,
                fixture.arguments(
                    profile: "exec", options: ["--memory", "64M", "--timeout", "30"],
                    command: [TestPaths.python, "-c", hog]),
                statusFD: true, bestEffortWhenUnprivileged: false)
            try cancelIfUnenforceable(run, caller, limit: "memory")
            #expect(run.status == 137, "\(run)")
            #expect(!run.stdout.contains("allocated"), "the allocation succeeded\n\(run)")
            let report = try #require(run.report, "no status report\n\(run)")
            #expect(report.oomKilled, "\(report)")
            #expect(report.signal == Int(SIGKILL), "\(report)")
            #expect(hostCanStillFork())
        }

        /// Case 21: SIGKILL of the launcher takes everything inside with it within 5 s: no process of the sandbox
        /// remains, and none is left as a zombie. The test process is a child subreaper meanwhile, so that what the
        /// launcher leaves is reparented here (this VM's pid 1 never reaps) and can be told apart.
        @Test(arguments: Caller.allCases)
        func killingTheLauncherKillsEverythingInside(caller: Caller) async throws {
            let fixture = try SandboxFixture()
            let seconds = String(UInt32.random(in: 900_000 ... 999_999))
            let launcher = try LauncherProcess(
                caller,
                fixture.arguments(profile: "exec", command: ["/bin/sh", "-c", "sleep \(seconds) & sleep \(seconds)"]))
            let sleepers = "sleep \(seconds)"
            let started = await eventually(timeout: .seconds(10)) { HostProcess.matching(sleepers).count >= 2 }
            guard started else {
                kill(launcher.pid, SIGKILL)
                let run = await launcher.wait(timeout: .seconds(5))
                Issue.record("the two sleeps never started\n\(run)")
                return
            }
            let exe = (try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/\(launcher.pid)/exe")) ?? ""
            #expect(exe.hasSuffix("autonous-sandbox"), "killing \(exe), not the launcher")
            let inside = HostProcess.tree(of: launcher.pid).filter { $0.pid != launcher.pid }

            setChildSubreaper(true)
            defer { setChildSubreaper(false) }
            kill(launcher.pid, SIGKILL)
            _ = await launcher.wait(timeout: .seconds(10))

            // What dies is reparented here and reaped: a zombie whose parent is this process is accounted for.
            let me = getpid()
            let allGone = await eventually(timeout: .seconds(5)) {
                for process in inside where process.stillExists {
                    guard let now = HostProcess(pid: process.pid), now.isZombie, now.parent == me else { continue }
                    var status: Int32 = 0
                    _ = waitpid(process.pid, &status, WNOHANG)
                }
                return HostProcess.matching(sleepers).isEmpty && !inside.contains { $0.stillExists }
            }
            let left = inside.filter(\.stillExists).compactMap { HostProcess(pid: $0.pid) }
            #expect(allGone, "left behind after SIGKILL of the launcher: \(left) \(HostProcess.matching(sleepers))")
            #expect(!left.contains { $0.isZombie }, "zombies: \(left.filter(\.isZombie))")

            // Leave nothing behind on the test host when the launcher did.
            for process in left + HostProcess.matching(sleepers) where process.stillExists {
                kill(process.pid, SIGKILL)
            }
            _ = await eventually(timeout: .seconds(2)) {
                for process in left where process.stillExists {
                    var status: Int32 = 0
                    _ = waitpid(process.pid, &status, WNOHANG)
                }
                return !left.contains { $0.stillExists }
            }
        }

        /// The worker profile's cgroup is delegated: the command can make a sub-cgroup and move a process into it
        /// (as the worker does for its tools), the sub-cgroup is bounded by the leaf, and when the run ends the
        /// launcher kills and removes the sub-cgroup with the leaf.
        @Test func aDelegatedCgroupAndItsSubCgroupsGoWithTheSandbox() async throws {
            let fixture = try SandboxFixture()
            let token = "sub-\(uniqueToken())"
            // The sub-cgroup exists before the background sleep starts (no waiting for a background mkdir).
            let script =
                "mkdir /sys/fs/cgroup/pids/\(token) && { sleep 30 & "
                + "echo $! > /sys/fs/cgroup/pids/\(token)/cgroup.procs && echo moved; }; "
                + "cat /sys/fs/cgroup/pids/\(token)/cgroup.procs"
            let run = try await sandbox(
                .root,
                fixture.arguments(profile: "worker", useWorkspace: false, command: ["/bin/sh", "-c", script]))
            #expect(run.status == 0, "\(run)")
            #expect(run.stdout.hasPrefix("moved\n"), "\(run)")
            let left = (try? FileManager.default.contentsOfDirectory(atPath: "/sys/fs/cgroup/pids/autonous")) ?? []
            for leaf in left {
                #expect(
                    !FileManager.default.fileExists(atPath: "/sys/fs/cgroup/pids/autonous/\(leaf)/\(token)"),
                    "the sub-cgroup outlived the sandbox in \(leaf)")
            }
        }

        /// Case 22: `--timeout 1` ends `sleep 30` with exit 124 within 10 s, says "wall-clock limit" on stderr and
        /// `timed_out` in the report; nothing of it survives.
        @Test(arguments: Caller.allCases)
        func wallClockLimitEndsARunawayCommand(caller: Caller) async throws {
            let fixture = try SandboxFixture()
            let duration = "30.\(uniqueToken())"
            let run = try await sandbox(
                caller,
                fixture.arguments(profile: "exec", options: ["--timeout", "1"], command: ["/bin/sleep", duration]),
                statusFD: true, timeout: .seconds(30))
            #expect(run.status == 124, "\(run)")
            #expect(run.elapsed < .seconds(10), "\(run)")
            #expect(run.stderr.contains("wall-clock limit"), "\(run)")
            let report = try #require(run.report, "no status report\n\(run)")
            #expect(report.timedOut, "\(report)")
            let gone = await eventually(timeout: .seconds(5)) { HostProcess.matching(duration).isEmpty }
            #expect(gone, "still running: \(HostProcess.matching(duration))")
        }

        /// Case 22: `--cpu-seconds 1` ends a busy loop by SIGXCPU or SIGKILL (exit 152 or 137) with `cpu_limit` in the
        /// report, well before the 30 s wall-clock limit.
        @Test(arguments: Caller.allCases)
        func cpuLimitEndsABusyLoop(caller: Caller) async throws {
            let fixture = try SandboxFixture()
            let run = try await sandbox(
                caller,
                fixture.arguments(
                    profile: "exec", options: ["--cpu-seconds", "1", "--timeout", "30"],
                    command: [TestPaths.python, "-c", "while True: pass"]),
                statusFD: true)
            #expect(run.status == 128 + SIGXCPU || run.status == 128 + SIGKILL, "\(run)")
            #expect(run.elapsed < .seconds(20), "\(run)")
            let report = try #require(run.report, "no status report\n\(run)")
            #expect(report.cpuLimit, "\(report)")
            #expect(!report.timedOut, "\(report)")
        }
    }
}

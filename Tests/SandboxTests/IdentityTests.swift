import Foundation
import Testing

/// SANDBOX-TESTS.md cases 1–5: identity and privileges of the sandboxed process, plus the environment contract.
@Suite("Identity and privileges", .timeLimit(.minutes(3)))
struct IdentityTests {
    /// Case 1: no effective, permitted, inheritable, ambient or bounding capability, by capget and by
    /// /proc/self/status.
    @Test(arguments: Caller.allCases, ["read", "write", "exec", "network"])
    func sandboxedProcessHasNoCapabilities(caller: Caller, profile: String) async throws {
        let fixture = try SandboxFixture()
        let run = try await sandbox(caller, fixture.arguments(profile: profile, command: Probe.identity))
        #expect(run.status == 0, "\(run)")
        let identity = try #require(run.json, "\(run)")
        for key in ["CapInh", "CapPrm", "CapEff", "CapBnd", "CapAmb"] {
            #expect(identity["status"][key].string == "0000000000000000", "\(key) in /proc/self/status\n\(run)")
        }
        let capget = identity["capget"]
        #expect(capget["ret"].int == 0, "capget failed: \(capget)\n\(run)")
        #expect(capget["effective"].int == 0, "capget effective \(capget)")
        #expect(capget["permitted"].int == 0, "capget permitted \(capget)")
        #expect(capget["inheritable"].int == 0, "capget inheritable \(capget)")
        #expect(identity["bounding_caps"].ints == [], "PR_CAPBSET_READ finds \(identity["bounding_caps"])")
        #expect(identity["ambient_caps"].ints == [], "PR_CAP_AMBIENT_IS_SET finds \(identity["ambient_caps"])")
    }

    /// Case 2: NoNewPrivs is 1 (and the seccomp filter is on); a setuid-root copy of bash run inside gains nothing
    /// on the host: it cannot read a root-only host file bound in, and what it creates belongs to the mapped uid.
    @Test(arguments: Caller.allCases)
    func setuidRootShellGainsNoPrivilegeOnTheHost(caller: Caller) async throws {
        let fixture = try SandboxFixture()
        let identityRun = try await sandbox(caller, fixture.arguments(profile: "exec", command: Probe.identity))
        let identity = try #require(identityRun.json, "\(identityRun)")
        #expect(identity["status"]["NoNewPrivs"].string == "1", "\(identityRun)")
        #expect(identity["status"]["Seccomp"].string == "2", "seccomp filter mode expected\n\(identityRun)")

        // A test process that is host root can plant a setuid-root shell in the workspace even when the launcher
        // runs unprivileged; an unprivileged one (under the unit) cannot make either file.
        try Caller.requireHostRoot(toMake: "a root-only host file and a setuid-root copy of bash")
        let secret = "ROOT-ONLY-\(uniqueToken())"
        let secretPath = fixture.host + "/root-only"
        try fixture.writeFile(secretPath, secret, owner: 0, mode: 0o600)
        let shell = fixture.workspace + "/suid-bash"
        try fixture.copyFile("/usr/bin/bash", to: shell, owner: 0, mode: 0o4755)
        #expect(HostFile.status(shell).map { $0.st_mode & 0o7777 } == 0o4755)
        let created = fixture.workspace + "/made-by-suid"
        let script = #"cat "$1"; echo "cat=$?"; echo made > "$2"; echo "write=$?""#
        let run = try await sandbox(
            caller,
            fixture.arguments(
                profile: "exec", options: ["--ro", secretPath],
                command: [shell, "-p", "-c", script, "suid-bash", secretPath, created]))
        #expect(!run.stdout.contains(secret), "the setuid shell read a root-only host file\n\(run)")
        if run.status == 126 {
            // A workspace mounted noexec cannot run the shell at all, which is just as safe.
            #expect(run.stderr.contains("Permission denied"), "\(run)")
            #expect(!HostFile.exists(created), "\(run)")
        } else {
            #expect(run.status == 0, "\(run)")
            #expect(run.stdout.contains("cat=1"), "cat of the root-only file must fail\n\(run)")
            #expect(run.stderr.contains("Permission denied"), "\(run)")
            #expect(run.stdout.contains("write=0"), "\(run)")
            let owner = try #require(HostFile.status(created), "the shell did not create \(created)\n\(run)")
            #expect(owner.st_uid == Caller.mappedID, "created by host uid \(owner.st_uid), not the mapped uid")
            #expect(owner.st_gid == Caller.mappedGID, "created by host gid \(owner.st_gid), not the mapped gid")
        }
    }

    /// Case 3: sandbox uid 0 is host uid 65534 (the mapped uid), never host root: what it creates in a writable
    /// bind belongs to 65534, and a root-owned 0644 host file bound read-write is still not writable (EACCES: 65534
    /// is "other").
    @Test(arguments: Caller.allCases)
    func sandboxRootIsAnUnprivilegedHostUser(caller: Caller) async throws {
        try Caller.requireHostRoot(toMake: "a root-owned 0644 host file")
        let fixture = try SandboxFixture()
        let rootFile = fixture.host + "/root-owned"
        try fixture.writeFile(rootFile, "root's\n", owner: 0, mode: 0o644)
        let newFile = fixture.workspace + "/created-inside"
        let newDirectory = fixture.workspace + "/directory-inside"
        let operations = [
            FileOp("create", newFile), FileOp("mkdir", newDirectory), FileOp("write", rootFile),
            FileOp("append", rootFile), FileOp("truncate", rootFile), FileOp("read", "/proc/self/uid_map"),
            FileOp("read", "/proc/self/gid_map"),
        ]
        let run = try await sandbox(
            caller,
            fixture.arguments(profile: "write", options: ["--rw", rootFile], command: Probe.files(operations)))
        #expect(run.status == 0, "\(run)")
        let results = try #require(FileResults(operations, run), "\(run)")
        #expect(results.errno("create", newFile) == 0, "\(results.result("create", newFile))\n\(run)")
        #expect(results.errno("mkdir", newDirectory) == 0, "\(results.result("mkdir", newDirectory))\n\(run)")
        for path in [newFile, newDirectory] {
            let info = try #require(HostFile.status(path), "\(path) missing on the host\n\(run)")
            #expect(info.st_uid == Caller.mappedID, "\(path) is owned by host uid \(info.st_uid)")
            #expect(info.st_gid == Caller.mappedGID, "\(path) has host gid \(info.st_gid)")
        }
        for name in ["write", "append", "truncate"] {
            #expect(
                results.errno(name, rootFile) == Errno.eacces,
                "\(name) of a root-owned 0644 host file: \(results.result(name, rootFile))\n\(run)")
        }
        #expect(HostFile.contents(rootFile) == "root's\n", "the root-owned host file changed")

        for (name, index, mapped) in [("uid_map", 5, Caller.mappedID), ("gid_map", 6, Caller.mappedGID)] {
            let text = try #require(results[index]["value"].string, "\(name): \(results[index])\n\(run)")
            let ranges = text.split(separator: "\n").map { $0.split(separator: " ").compactMap { UInt64($0) } }
            #expect(
                ranges.contains { $0.count == 3 && $0[0] == 0 && $0[1] == UInt64(mapped) },
                "\(name) does not map sandbox 0 to \(mapped): \(text)")
            #expect(
                !ranges.contains { $0.count == 3 && $0[1] == 0 },
                "\(name) maps something to host root: \(text)")
        }
    }

    /// Case 4: the target is a session leader without a controlling terminal, and TIOCSTI / TIOCLINUX fail with
    /// EPERM from the seccomp filter (on /dev/null and the output files the kernel alone would say ENOTTY), also
    /// with the request's upper 32 bits set (CVE-2017-5226) and on a pty when one can be opened.
    @Test(arguments: Caller.allCases)
    func targetIsASessionLeaderThatCannotInjectTerminalInput(caller: Caller) async throws {
        let fixture = try SandboxFixture()
        let identityRun = try await sandbox(caller, fixture.arguments(profile: "exec", command: Probe.identity))
        let identity = try #require(identityRun.json, "\(identityRun)")
        let pid = try #require(identity["pid"].int, "\(identityRun)")
        #expect(identity["sid"].int == pid, "not a session leader (setsid)\n\(identityRun)")
        #expect(identity["pgid"].int == pid, "not a process-group leader\n\(identityRun)")
        let tty = identity["tty"]["errno"].int
        #expect(
            tty == Errno.enxio || tty == Errno.enoent,
            "open(/dev/tty) gave \(Errno.name(tty)): a controlling terminal is reachable\n\(identityRun)")

        var names: [String] = ["pty"]
        for fd in 0 ... 2 { names += ["tiocsti_fd\(fd)", "tioclinux_fd\(fd)", "tiocsti_high_bits_fd\(fd)"] }
        let run = try await sandbox(caller, fixture.arguments(profile: "exec", command: Probe.syscalls(names)))
        #expect(run.status == 0, "\(run)")
        let results = try #require(run.json?["results"].object, "\(run)")
        for name in names where name != "pty" {
            let errno = results[name]?["errno"].int
            #expect(errno == Errno.eperm, "\(name): \(Errno.name(errno)), expected EPERM from seccomp\n\(run)")
        }
        let pty = try #require(results["pty"], "\(run)")
        if pty["openpty_errno"].int == 0 {
            for key in ["master_tiocsti", "slave_tiocsti", "master_tioclinux", "slave_tioclinux"] {
                #expect(pty[key]["errno"].int == Errno.eperm, "\(key) on a pty: \(pty[key])")
            }
            #expect(pty["slave_tiocsti_high_bits"]["errno"].int == Errno.eperm, "\(pty)")
        }
        // else: no /dev/ptmx in the minimal /dev, so there is no terminal to try; fds 0-2 above prove the filter.
    }

    /// Case 5: only fds 0, 1 and 2 are open in the target, although the launcher itself was started with its
    /// status descriptor (fd 3) and a stray directory descriptor of the host (fd 5).
    @Test(arguments: Caller.allCases, ["read", "exec"])
    func onlyStandardDescriptorsReachTheTarget(caller: Caller, profile: String) async throws {
        let fixture = try SandboxFixture()
        let run = try await sandbox(
            caller, fixture.arguments(profile: profile, command: Probe.identity), statusFD: true)
        #expect(run.status == 0, "\(run)")
        let identity = try #require(run.json, "\(run)")
        #expect(identity["open_fds"].ints == [0, 1, 2], "open descriptors \(identity["fd_targets"])\n\(run)")
        #expect(run.report?.exitCode == 0, "status fd report: \(run.statusText)")
    }

    /// The environment is exactly PATH, HOME, LANG and the `--env` variables: nothing of the launcher's own
    /// environment (tokens, keys) is inherited. The working directory is the workspace unless `--cwd` says.
    @Test(arguments: Caller.allCases)
    func environmentIsOnlyTheDefaultsAndExplicitVariables(caller: Caller) async throws {
        let fixture = try SandboxFixture()
        let secrets = [
            "AUTONOUS_TELEGRAM_TOKEN": "123456:never-inside", "OPENAI_API_KEY": "sk-never-inside",
            "HOME": "/root", "PYTHONPATH": "/tmp/elsewhere",
        ]
        let run = try await sandbox(
            caller,
            fixture.arguments(
                profile: "exec", options: ["--env", "FOO=bar", "--env", "SECOND=two words"], command: Probe.identity),
            environment: secrets)
        #expect(run.status == 0, "\(run)")
        let identity = try #require(run.json, "\(run)")
        #expect(
            identity["environ"].strings.sorted()
                == ["FOO=bar", "HOME=/tmp", "LANG=C.UTF-8", "PATH=/usr/local/bin:/usr/bin:/bin", "SECOND=two words"],
            "\(identity["environ"])")
        #expect(identity["cwd"].string == fixture.workspace, "\(identity["cwd"])")

        let moved = try await sandbox(
            caller, fixture.arguments(profile: "exec", options: ["--cwd", "/tmp"], command: Probe.identity))
        #expect(moved.json?["cwd"].string == "/tmp", "\(moved)")
    }
}

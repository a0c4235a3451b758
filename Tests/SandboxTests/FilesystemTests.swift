import Foundation
import Testing

/// SANDBOX-TESTS.md cases 6–10 and 12–14: what the sandbox can see and change of the file system.
@Suite("Filesystem", .timeLimit(.minutes(3)))
struct FilesystemTests {
    /// Case 6: /etc/shadow, /root and /home are absent from the sandbox (its /etc is minimal; /root and /home are
    /// not mounted), and binding the host's /etc and /root read-only does not make them readable: the mapped uid
    /// gets EACCES. A launcher may instead refuse such binds (exit 125, nothing run).
    @Test(arguments: Caller.allCases)
    func shadowRootAndHomeAreNotReadable(caller: Caller) async throws {
        let fixture = try SandboxFixture()
        let absent = [
            FileOp("read", "/etc/shadow"), FileOp("read", "/etc/gshadow"), FileOp("listdir", "/root"),
            FileOp("listdir", "/home"),
        ]
        let run = try await sandbox(caller, fixture.arguments(profile: "exec", command: Probe.files(absent)))
        #expect(run.status == 0, "\(run)")
        let results = try #require(FileResults(absent, run), "\(run)")
        for (operation, result) in results.pairs {
            #expect(result["errno"].int == Errno.enoent, "\(operation): \(result)\n\(run)")
        }

        // Through bind mounts of the host's own directories.
        var throughBinds = [FileOp("read", "/etc/shadow"), FileOp("read", "/etc/gshadow")]
        var options = ["--ro", "/etc"]
        if let root = HostFile.status("/root"), root.st_mode & 0o005 != 0o005 {
            throughBinds.append(FileOp("listdir", "/root"))
            options += ["--ro", "/root"]
        }
        let bound = try await sandbox(
            caller, fixture.arguments(profile: "exec", options: options, command: Probe.files(throughBinds)))
        if bound.refused(mentioning: ["/etc", "/root", "bind", "sensitive", "not allowed"]) {
            return  // Refusing to bind them is as good as binding them unreadable.
        }
        #expect(bound.status == 0, "\(bound)")
        let boundResults = try #require(FileResults(throughBinds, bound), "\(bound)")
        for (operation, result) in boundResults.pairs {
            #expect(result["errno"].int == Errno.eacces, "\(operation) through --ro: \(result)\n\(bound)")
        }
    }

    /// Case 7: the old root is gone after pivot_root: no /oldroot, no mount point naming it, and /proc/<pid>/root of
    /// every visible process is the sandbox's root, not the host's (no host /home, /root or outside directory).
    @Test(arguments: Caller.allCases)
    func oldRootIsUnreachable(caller: Caller) async throws {
        let fixture = try SandboxFixture()
        try fixture.writeFile(fixture.outside + "/marker", "host\n", owner: SandboxFixture.hostOwner)
        let operations = [
            FileOp("lstat", "/oldroot"), FileOp("lstat", fixture.outside + "/marker"),
            FileOp("lstat", "/proc/1/root" + fixture.outside + "/marker"), FileOp("lstat", "/proc/1/root/home"),
            FileOp("lstat", "/proc/1/root/root"), FileOp("lstat", "/proc/self/root" + fixture.outside),
            FileOp("lstat", "/proc/1/cwd" + fixture.outside),
        ]
        let run = try await sandbox(caller, fixture.arguments(profile: "exec", command: Probe.files(operations)))
        #expect(run.status == 0, "\(run)")
        let results = try #require(FileResults(operations, run), "\(run)")
        #expect(results[0]["errno"].int == Errno.enoent, "/oldroot: \(results[0])\n\(run)")
        #expect(results[1]["errno"].int == Errno.enoent, "outside directory visible: \(results[1])\n\(run)")
        for index in 2 ..< operations.count {
            let errno = results[index]["errno"].int
            #expect(
                errno == Errno.enoent || errno == Errno.eacces,
                "\(operations[index]) reaches the host: \(results[index])\n\(run)")
        }

        let procsRun = try await sandbox(caller, fixture.arguments(profile: "exec", command: Probe.procs))
        #expect(procsRun.status == 0, "\(procsRun)")
        let procs = try #require(procsRun.json, "\(procsRun)")
        let rootListing = procs["root_listing"].strings
        #expect(!rootListing.contains("oldroot"), "\(rootListing)")
        #expect(!rootListing.contains("home") && !rootListing.contains("root"), "host directories in /: \(rootListing)")
        #expect(!procs["mount_points"].strings.contains { $0.contains("oldroot") }, "\(procs["mount_points"])")
        for (pid, root) in procs["proc_roots"].object ?? [:] where root["errno"].int == 0 {
            #expect(root["value"].strings == rootListing, "/proc/\(pid)/root lists \(root["value"]), not the sandbox /")
        }
    }

    /// Case 8: in the read tier every change to the workspace fails with EROFS, and the host sees no change.
    @Test(arguments: Caller.allCases)
    func readTierCannotModifyTheWorkspace(caller: Caller) async throws {
        let fixture = try SandboxFixture()
        let ws = fixture.workspace
        try fixture.writeFile(ws + "/existing.txt", "original\n")
        try fixture.makeDirectory(ws + "/empty-dir")
        try fixture.makeDirectory(ws + "/sub")
        try fixture.writeFile(ws + "/sub/nested.txt", "nested\n")
        let before = try FileManager.default.subpathsOfDirectory(atPath: ws).sorted()
        let changes = [
            FileOp("create", ws + "/new.txt"), FileOp("create", ws + "/sub/new.txt"),
            FileOp("write", ws + "/existing.txt"), FileOp("append", ws + "/existing.txt"),
            FileOp("truncate", ws + "/existing.txt"), FileOp("rename", ws + "/existing.txt", ws + "/renamed.txt"),
            FileOp("rename", ws + "/sub", ws + "/moved-sub"), FileOp("chmod", ws + "/existing.txt"),
            FileOp("chmod", ws), FileOp("utime", ws + "/existing.txt"), FileOp("unlink", ws + "/existing.txt"),
            FileOp("unlink", ws + "/sub/nested.txt"), FileOp("mkdir", ws + "/new-dir"),
            FileOp("rmdir", ws + "/empty-dir"), FileOp("symlink", ws + "/link", "existing.txt"),
            FileOp("link", ws + "/existing.txt", ws + "/hard-link"),
        ]
        let operations = changes + [FileOp("read", ws + "/existing.txt")]
        let run = try await sandbox(caller, fixture.arguments(profile: "read", command: Probe.files(operations)))
        #expect(run.status == 0, "\(run)")
        let results = try #require(FileResults(operations, run), "\(run)")
        for (operation, result) in results.pairs.prefix(changes.count) {
            #expect(result["errno"].int == Errno.erofs, "\(operation): \(result)\n\(run)")
        }
        #expect(
            results[changes.count]["value"].string == "original\n", "reading still works: \(results[changes.count])")
        #expect(try FileManager.default.subpathsOfDirectory(atPath: ws).sorted() == before, "the workspace changed")
        #expect(HostFile.contents(ws + "/existing.txt") == "original\n")
        #expect(HostFile.status(ws + "/existing.txt").map { $0.st_mode & 0o7777 } == 0o644)
    }

    /// Case 9: in the write and exec tiers, creating anything outside the writable roots (/, /usr, /etc, /lib, an
    /// `--ro` bind) fails with EROFS; inside the workspace, an `--rw` bind and /tmp it succeeds.
    @Test(arguments: Caller.allCases, ["write", "exec"])
    func writableTiersWriteOnlyInsideWritableRoots(caller: Caller, profile: String) async throws {
        let fixture = try SandboxFixture()
        let extraRW = fixture.root + "/extra-rw"
        let extraRO = fixture.root + "/extra-ro"
        try fixture.makeDirectory(extraRW)
        try fixture.makeDirectory(extraRO)
        let token = uniqueToken()
        let outsideRoots = [
            "/autonous-\(token)", "/usr/autonous-\(token)", "/usr/bin/autonous-\(token)", "/etc/autonous-\(token)",
            "/lib/autonous-\(token)", TestPaths.fixtures + "/autonous-\(token)", extraRO + "/autonous-\(token)",
        ]
        let ws = fixture.workspace
        let inside = [
            FileOp("create", ws + "/inside.txt", "inside"), FileOp("rename", ws + "/inside.txt", ws + "/kept.txt"),
            FileOp("mkdir", ws + "/made-dir"), FileOp("create", ws + "/made-dir/deeper.txt"),
            FileOp("create", extraRW + "/rw.txt", "rw"), FileOp("create", "/tmp/scratch-\(token)"),
            FileOp("unlink", "/tmp/scratch-\(token)"),
        ]
        let operations =
            outsideRoots.map { FileOp("create", $0) } + outsideRoots.map { FileOp("mkdir", $0 + "-dir") } + inside
        let run = try await sandbox(
            caller,
            fixture.arguments(
                profile: profile, options: ["--rw", extraRW, "--ro", extraRO], command: Probe.files(operations)))
        #expect(run.status == 0, "\(run)")
        let results = try #require(FileResults(operations, run), "\(run)")
        for (operation, result) in results.pairs.prefix(outsideRoots.count * 2) {
            #expect(result["errno"].int == Errno.erofs, "\(operation): \(result)\n\(run)")
        }
        for (operation, result) in results.pairs.suffix(inside.count) {
            #expect(result["errno"].int == 0, "\(operation): \(result)\n\(run)")
        }
        #expect(HostFile.contents(ws + "/kept.txt") == "inside")
        #expect(HostFile.exists(ws + "/made-dir/deeper.txt"))
        #expect(HostFile.contents(extraRW + "/rw.txt") == "rw")
        #expect(HostFile.listing(extraRO) == [])
        for path in outsideRoots where !path.hasPrefix(fixture.root) {
            #expect(!HostFile.exists(path), "\(path) appeared on the host")
        }
    }

    /// Case 10: symlinks in the workspace that point out of it (absolute, relative with `..`, to a directory, or
    /// dangling to a path that does not exist yet) cannot be followed out: reads find nothing (ENOENT), creation
    /// through them creates nothing on the host. Checked in every tier.
    @Test(arguments: Caller.allCases, ["read", "write", "exec"])
    func symlinksDoNotLeadOutOfTheWorkspace(caller: Caller, profile: String) async throws {
        let fixture = try SandboxFixture()
        let secret = "HOST-SECRET-\(uniqueToken())"
        let secretPath = fixture.outside + "/secret.txt"
        try fixture.writeFile(secretPath, secret, owner: SandboxFixture.hostOwner, mode: 0o644)
        let ws = fixture.workspace
        let depth = String(repeating: "../", count: 12)
        let escapeInTmp = fixture.stray(fixture.root + "-escaped")
        try fixture.symlink(ws + "/absolute", to: secretPath)
        try fixture.symlink(ws + "/relative", to: "../outside/secret.txt")
        try fixture.symlink(ws + "/deep", to: depth + String(secretPath.dropFirst()))
        try fixture.symlink(ws + "/directory", to: fixture.outside)
        try fixture.symlink(ws + "/relative-directory", to: "../outside")
        try fixture.symlink(ws + "/dangling-absolute", to: fixture.outside + "/created-absolute")
        try fixture.symlink(ws + "/dangling-relative", to: "../outside/created-relative")
        try fixture.symlink(ws + "/dangling-tmp", to: escapeInTmp)
        try fixture.symlink(ws + "/through-proc", to: "/proc/1/root" + secretPath)
        let reads = [
            FileOp("read", ws + "/absolute"), FileOp("read", ws + "/relative"), FileOp("read", ws + "/deep"),
            FileOp("listdir", ws + "/directory"), FileOp("read", ws + "/directory/secret.txt"),
            FileOp("listdir", ws + "/relative-directory"), FileOp("read", ws + "/relative-directory/secret.txt"),
            FileOp("create_through", ws + "/dangling-absolute", "escaped"),
            FileOp("create_through", ws + "/dangling-relative", "escaped"),
            FileOp("create", ws + "/directory/created-in-directory", "escaped"),
        ]
        let lenient = [FileOp("read", ws + "/through-proc"), FileOp("create_through", ws + "/dangling-tmp", "escaped")]
        let operations = reads + lenient
        let run = try await sandbox(caller, fixture.arguments(profile: profile, command: Probe.files(operations)))
        #expect(run.status == 0, "\(run)")
        let results = try #require(FileResults(operations, run), "\(run)")
        for (operation, result) in results.pairs.prefix(reads.count) {
            #expect(result["errno"].int == Errno.enoent, "\(operation): \(result)\n\(run)")
        }
        let throughProc = results[reads.count]["errno"].int
        #expect(throughProc == Errno.enoent || throughProc == Errno.eacces, "\(results[reads.count])\n\(run)")
        #expect(!run.stdout.contains(secret), "host file content read through a symlink\n\(run)")
        // Creation through the /tmp link may land in the sandbox's own /tmp; it must not reach the host's.
        #expect(!HostFile.exists(escapeInTmp), "created \(escapeInTmp) on the host\n\(run)")
        #expect(HostFile.listing(fixture.outside) == ["secret.txt"], "created files outside the workspace\n\(run)")
        #expect(HostFile.contents(secretPath) == secret)
    }

    /// Case 11 (the launcher's part; the native tools' `..` checks are tested with the tools): a relative
    /// `--workspace ../x` is refused with 125 and a message naming the workspace, although `../x` exists from the
    /// launcher's working directory, and the command does not run.
    @Test(arguments: Caller.allCases)
    func dotDotWorkspaceIsRefusedBeforeAnyIO(caller: Caller) async throws {
        let fixture = try SandboxFixture()
        let sibling = fixture.root + "/x"
        try fixture.makeDirectory(sibling)
        let marker = sibling + "/ran"
        let run = try await sandbox(
            caller, ["--profile", "exec", "--workspace", "../x", "--", "/usr/bin/touch", marker],
            workingDirectory: fixture.workspace)
        #expect(run.status == 125, "\(run)")
        #expect(run.refused(mentioning: ["workspace"]), "stderr must name the workspace\n\(run)")
        #expect(!HostFile.exists(marker), "the command ran\n\(run)")
    }

    /// Case 12: mknod of a character or block device fails with EPERM, in /tmp and in the workspace; mount,
    /// umount2, pivot_root and chroot fail with EPERM.
    @Test(arguments: Caller.allCases)
    func devicesAndMountsAreRefused(caller: Caller) async throws {
        let fixture = try SandboxFixture()
        let names = ["mknod_char", "mknod_block", "mount", "umount2", "pivot_root", "chroot"]
        let run = try await sandbox(caller, fixture.arguments(profile: "exec", command: Probe.syscalls(names)))
        #expect(run.status == 0, "\(run)")
        let results = try #require(run.json?["results"].object, "\(run)")
        for name in names {
            let errno = results[name]?["errno"].int
            #expect(errno == Errno.eperm, "\(name): \(Errno.name(errno)) \(results[name] ?? .null)\n\(run)")
        }
        let device = fixture.workspace + "/null-device"
        let operations = [FileOp("mknod_char", device)]
        let inWorkspace = try await sandbox(
            caller, fixture.arguments(profile: "exec", command: Probe.files(operations)))
        let result = try #require(FileResults(operations, inWorkspace), "\(inWorkspace)")
        #expect(result[0]["errno"].int == Errno.eperm, "mknod in the workspace: \(result[0])\n\(inWorkspace)")
        #expect(!HostFile.exists(device))
    }

    /// Case 13: /proc is a fresh procfs of the sandbox's pid namespace (only its own pids, not the host's pid 1);
    /// /proc/sys and /proc/sysrq-trigger cannot be written (EROFS or EACCES); /sys is absent or read-only.
    @Test(arguments: Caller.allCases)
    func procIsPrivateAndKernelKnobsAreReadOnly(caller: Caller) async throws {
        let fixture = try SandboxFixture()
        // Should a write get through, it writes what is already there (or the harmless sysrq "h": help).
        let knobs = [
            ("/proc/sys/kernel/hostname", HostFile.contents("/proc/sys/kernel/hostname") ?? "localhost\n"),
            ("/proc/sys/kernel/core_pattern", HostFile.contents("/proc/sys/kernel/core_pattern") ?? "core\n"),
            ("/proc/sys/vm/drop_caches", "1\n"), ("/proc/sysrq-trigger", "h"),
        ]
        let operations =
            knobs.map { FileOp("write", $0.0, $0.1) } + [
                FileOp("lstat", "/sys"), FileOp("create", "/sys/autonous-probe"),
                FileOp("write", "/sys/kernel/uevent_helper", "/tmp/x"), FileOp("read", "/proc/1/cmdline"),
            ]
        let run = try await sandbox(caller, fixture.arguments(profile: "exec", command: Probe.files(operations)))
        #expect(run.status == 0, "\(run)")
        let results = try #require(FileResults(operations, run), "\(run)")
        for (operation, result) in results.pairs.prefix(knobs.count) {
            let errno = result["errno"].int
            if !HostFile.exists(operation.path) {
                // This kernel has no such file (no CONFIG_MAGIC_SYSRQ, say): a fresh procfs has none either.
                #expect(errno == Errno.enoent, "\(operation): \(result)\n\(run)")
                continue
            }
            #expect(errno == Errno.erofs || errno == Errno.eacces, "\(operation): \(result)\n\(run)")
        }
        let sys = results.result("lstat", "/sys")
        if sys["errno"].int != Errno.enoent {
            #expect(sys["errno"].int == 0, "\(sys)")
            #expect(results.errno("create", "/sys/autonous-probe") == Errno.erofs, "\(run)")
            let helper = results.result("write", "/sys/kernel/uevent_helper")["errno"].int
            #expect(
                helper == Errno.erofs || helper == Errno.enoent || helper == Errno.eacces,
                "/sys/kernel/uevent_helper: \(Errno.name(helper))\n\(run)")
        }
        let hostInit = HostProcess(pid: 1)?.commandLine ?? ""
        let sandboxInit = (results.result("read", "/proc/1/cmdline")["value"].string ?? "")
            .replacingOccurrences(of: "\0", with: " ").trimmingCharacters(in: .whitespaces)
        #expect(sandboxInit != hostInit, "/proc/1 is the host's init: \(hostInit)")

        let procsRun = try await sandbox(caller, fixture.arguments(profile: "exec", command: Probe.procs))
        #expect(procsRun.json?["pids"].ints == [1, 2], "pids in /proc: \(procsRun)")
    }

    /// Case 14: .git/config, .git/hooks and .autonous/ stay read-only in the writable tiers (EROFS), also when
    /// .git/hooks did not exist before the run (first-time creation); unlinking or renaming them fails too.
    @Test(arguments: Caller.allCases, WritableTierSetup.allCases)
    func protectedPathsStayReadOnlyInWritableTiers(caller: Caller, setup tier: WritableTierSetup) async throws {
        let profile = tier.profile
        let hooksExist = tier.hooksExist
        let fixture = try SandboxFixture()
        let ws = fixture.workspace
        let config = "[core]\n\trepositoryformatversion = 0\n"
        try fixture.makeDirectory(ws + "/.git")
        try fixture.writeFile(ws + "/.git/config", config)
        try fixture.writeFile(ws + "/.git/HEAD", "ref: refs/heads/main\n")
        if hooksExist {
            try fixture.makeDirectory(ws + "/.git/hooks")
            try fixture.writeFile(ws + "/.git/hooks/pre-commit", "#!/bin/sh\nexit 0\n", mode: 0o755)
        }
        try fixture.makeDirectory(ws + "/.autonous")
        try fixture.writeFile(ws + "/.autonous/settings.json", "{}\n")
        // First-time creation: mkdir of an absent .git/hooks must not give a writable directory (it fails with
        // EEXIST over the launcher's empty read-only mount point, or EROFS); the writes below show which.
        let setup = hooksExist ? [] : [FileOp("mkdir", ws + "/.git/hooks")]
        var writes = [
            FileOp("write", ws + "/.git/config", "[core]\n\tfsmonitor = /tmp/evil\n"),
            FileOp("append", ws + "/.git/config", "[alias]\n"), FileOp("truncate", ws + "/.git/config"),
            FileOp("chmod", ws + "/.git/config"), FileOp("create", ws + "/.git/hooks/post-checkout", "#!/bin/sh\n"),
            FileOp("mkdir", ws + "/.git/hooks/sub"), FileOp("create", ws + "/.autonous/new.json", "{}"),
            FileOp("write", ws + "/.autonous/settings.json", "{\"evil\": true}"),
            FileOp("mkdir", ws + "/.autonous/sub"),
        ]
        if hooksExist {
            writes += [
                FileOp("write", ws + "/.git/hooks/pre-commit", "#!/bin/sh\ncurl evil\n"),
                FileOp("chmod", ws + "/.git/hooks/pre-commit"), FileOp("unlink", ws + "/.git/hooks/pre-commit"),
            ]
        }
        // Removing or renaming a protected mount point fails with EBUSY; a launcher that protects the parent gives
        // EROFS. Either way it stays.
        let removals = [
            FileOp("unlink", ws + "/.git/config"), FileOp("rename", ws + "/.git/config", ws + "/.git/config.old"),
            FileOp("rename", ws + "/.autonous", ws + "/.autonous-old"),
        ]
        let operations = setup + writes + removals
        let run = try await sandbox(caller, fixture.arguments(profile: profile, command: Probe.files(operations)))
        #expect(run.status == 0, "\(run)")
        let results = try #require(FileResults(operations, run), "\(run)")
        for (operation, result) in results.pairs.dropFirst(setup.count).prefix(writes.count) {
            #expect(result["errno"].int == Errno.erofs, "\(operation): \(result)\n\(run)")
        }
        for (operation, result) in results.pairs.suffix(removals.count) {
            let errno = result["errno"].int
            #expect(errno == Errno.ebusy || errno == Errno.erofs, "\(operation): \(result)\n\(run)")
        }
        #expect(HostFile.contents(ws + "/.git/config") == config, "the host's .git/config changed\n\(run)")
        // A .git/hooks the run had to create as an empty read-only cover is gone again afterwards.
        let hooks = HostFile.listing(ws + "/.git/hooks")
        #expect(hooks == (hooksExist ? ["pre-commit"] : nil), "hooks: \(hooks ?? [])")
        if hooksExist {
            #expect(HostFile.contents(ws + "/.git/hooks/pre-commit") == "#!/bin/sh\nexit 0\n")
        }
        #expect(HostFile.listing(ws + "/.autonous") == ["settings.json"])
        #expect(HostFile.contents(ws + "/.autonous/settings.json") == "{}\n")
    }

    /// Case 14 in a workspace without .git or .autonous: inside, neither can be created (the launcher covers them
    /// with empty read-only placeholders), and afterwards the host's workspace holds no trace of them.
    @Test(arguments: Caller.allCases)
    func placeholdersForMissingProtectedPathsLeaveNoTrace(caller: Caller) async throws {
        let fixture = try SandboxFixture()
        let ws = fixture.workspace
        try fixture.writeFile(ws + "/notes.txt", "hello\n")
        let operations = [
            FileOp("mkdir", ws + "/.git/hooks"), FileOp("create", ws + "/.git/config", "[core]\n"),
            FileOp("create", ws + "/.autonous/settings.json", "{}"), FileOp("create", ws + "/made.txt", "ok"),
        ]
        let run = try await sandbox(caller, fixture.arguments(profile: "exec", command: Probe.files(operations)))
        #expect(run.status == 0, "\(run)")
        let results = try #require(FileResults(operations, run), "\(run)")
        for (operation, result) in results.pairs.prefix(3) {
            #expect(result["errno"].int == Errno.erofs, "\(operation): \(result)\n\(run)")
        }
        #expect(results.pairs.last?.1["errno"].int == 0, "the rest of the workspace stays writable\n\(run)")
        #expect(HostFile.listing(ws) == ["made.txt", "notes.txt"], "left behind: \(HostFile.listing(ws) ?? [])")
    }

    /// `--ro-bind PATH INSIDE`: the file appears at INSIDE, read-only, and nothing of the directory it lives in on
    /// the host is there (how the worker gets its artifact's binary without seeing the artifacts).
    @Test(arguments: Caller.allCases)
    func aBindAtAnotherPathShowsTheFileAndNotItsDirectory(caller: Caller) async throws {
        let fixture = try SandboxFixture()
        let hidden = fixture.outside + "/artifacts/0123abcd"
        try fixture.makeDirectory(fixture.outside + "/artifacts")
        try fixture.makeDirectory(hidden)
        try fixture.writeFile(hidden + "/program", "payload\n")
        try fixture.writeFile(hidden + "/manifest.json", "{}\n")
        let operations = [
            FileOp("read", "/revision/program"), FileOp("write", "/revision/program", "changed"),
            FileOp("lstat", hidden + "/program"), FileOp("listdir", "/revision"),
        ]
        let run = try await sandbox(
            caller,
            fixture.arguments(
                profile: "exec", options: ["--ro-bind", hidden + "/program", "/revision/program"],
                command: Probe.files(operations)))
        #expect(run.status == 0, "\(run)")
        let results = try #require(FileResults(operations, run), "\(run)")
        #expect(results[0]["errno"].int == 0 && results[0]["value"].string == "payload\n", "\(results[0])\n\(run)")
        #expect(results[1]["errno"].int == Errno.erofs, "\(results[1])")
        #expect(results[2]["errno"].int == Errno.enoent, "the host's directory is visible: \(results[2])")
        #expect(results[3]["value"].strings == ["program"], "\(results[3])")
        #expect(HostFile.contents(hidden + "/program") == "payload\n")
    }

    /// `--rw-bind PATH INSIDE`: the directory appears at INSIDE, writable, with its `.git/config` covered like any
    /// writable root, and its host path is not there (how the update pipeline builds a tree at a fixed path).
    @Test(arguments: Caller.allCases)
    func aWritableBindAtAnotherPathWritesThroughToTheHost(caller: Caller) async throws {
        let fixture = try SandboxFixture()
        let tree = fixture.outside + "/builds/tx-1/tree"
        try fixture.makeDirectory(fixture.outside + "/builds")
        try fixture.makeDirectory(fixture.outside + "/builds/tx-1")
        try fixture.makeDirectory(tree)
        try fixture.writeFile(tree + "/Package.swift", "// package\n")
        let operations = [
            FileOp("read", "/build/src/Package.swift"), FileOp("create", "/build/src/made.txt", "built"),
            FileOp("create", "/build/src/.git/config", "evil"), FileOp("lstat", tree),
        ]
        let run = try await sandbox(
            caller,
            fixture.arguments(
                profile: "exec", options: ["--rw-bind", tree, "/build/src"], command: Probe.files(operations)))
        #expect(run.status == 0, "\(run)")
        let results = try #require(FileResults(operations, run), "\(run)")
        #expect(results[0]["value"].string == "// package\n", "\(results[0])\n\(run)")
        #expect(results[1]["errno"].int == 0, "\(results[1])")
        #expect(results[2]["errno"].int != 0, "the tree's .git/config is not covered: \(results[2])")
        #expect(results[3]["errno"].int == Errno.enoent, "the host's directory is visible: \(results[3])")
        #expect(HostFile.contents(tree + "/made.txt") == "built")
    }

    /// Case 14 with many runs starting at once on one workspace without .git or .autonous: each may find the
    /// placeholders missing, only one can create each, and every run must still start with them covered (a run
    /// that lost the race once failed with "mkdir .git: File exists"). Inside, nothing can be created under them
    /// (EROFS, or EEXIST where another run's cover already holds an empty file), and the host's files stay empty.
    @Test func runsStartingTogetherOnAFreshWorkspaceAllGetTheCovers() async throws {
        let fixture = try SandboxFixture()
        let ws = fixture.workspace
        let operations = [FileOp("create", ws + "/.autonous/x", "{}"), FileOp("create", ws + "/.git/config", "evil")]
        let runs = 12
        let results = try await withThrowingTaskGroup(of: SandboxRun.self) { group in
            for _ in 0 ..< runs {
                group.addTask {
                    try await sandbox(
                        Caller.own, fixture.arguments(profile: "exec", command: Probe.files(operations)))
                }
            }
            var all: [SandboxRun] = []
            for try await run in group { all.append(run) }
            return all
        }
        for run in results {
            #expect(run.status == 0, "\(run)")
            let files = try #require(FileResults(operations, run), "\(run)")
            for (operation, result) in files.pairs {
                let errno = result["errno"].int
                #expect(errno == Errno.erofs || errno == Errno.eexist, "\(operation): \(result)\n\(run)")
            }
        }
        #expect(HostFile.status(ws + "/.autonous/x") == nil)
        #expect((HostFile.contents(ws + "/.git/config") ?? "") == "")
    }

    /// Case 14 for another writable directory (a further tool root, bound with --rw): its .git/config and
    /// .autonous are covered read-only too, and the placeholders go away afterwards.
    @Test(arguments: Caller.allCases)
    func writableBindsGetTheSameCovers(caller: Caller) async throws {
        let fixture = try SandboxFixture()
        let extra = fixture.root + "/extra"
        try fixture.makeDirectory(extra)
        try fixture.makeDirectory(extra + "/.git")
        try fixture.writeFile(extra + "/.git/config", "[core]\n")
        chmod(extra, 0o777)
        let operations = [
            FileOp("write", extra + "/.git/config", "[core]\n\tfsmonitor = evil\n"),
            FileOp("create", extra + "/.git/hooks/pre-commit", "evil"),
            FileOp("create", extra + "/.autonous/settings.json", "{}"), FileOp("create", extra + "/made.txt", "ok"),
        ]
        let run = try await sandbox(
            caller, fixture.arguments(profile: "exec", options: ["--rw", extra], command: Probe.files(operations)))
        #expect(run.status == 0, "\(run)")
        let results = try #require(FileResults(operations, run), "\(run)")
        for (operation, result) in results.pairs.prefix(3) {
            #expect(result["errno"].int == Errno.erofs, "\(operation): \(result)\n\(run)")
        }
        #expect(results.pairs.last?.1["errno"].int == 0, "\(run)")
        #expect(HostFile.contents(extra + "/.git/config") == "[core]\n")
        #expect(HostFile.listing(extra) == [".git", "made.txt"], "left behind: \(HostFile.listing(extra) ?? [])")
        #expect(HostFile.listing(extra + "/.git") == ["config"])
    }

    /// Case 14, the other way round: the protected paths cannot be swapped out by renaming the directory that holds
    /// them (their mounts would move along) and creating fresh ones in its place. What the host's
    /// `<workspace>/.git/config` and `.git/hooks` hold afterwards is what matters: git on the host reads them.
    @Test(arguments: Caller.allCases)
    func protectedPathsCannotBeReplacedByRenamingTheirParent(caller: Caller) async throws {
        let fixture = try SandboxFixture()
        let ws = fixture.workspace
        let config = "[core]\n\tbare = false\n"
        try fixture.makeDirectory(ws + "/.git")
        try fixture.makeDirectory(ws + "/.git/hooks")
        try fixture.writeFile(ws + "/.git/config", config)
        try fixture.makeDirectory(ws + "/.autonous")
        try fixture.writeFile(ws + "/.autonous/settings.json", "{}\n")
        let operations = [
            FileOp("rename", ws + "/.git", ws + "/.git-moved"), FileOp("mkdir", ws + "/.git"),
            FileOp("mkdir", ws + "/.git/hooks"), FileOp("create_through", ws + "/.git/config", "EVIL"),
            FileOp("create_through", ws + "/.git/hooks/pre-commit", "EVIL"),
            FileOp("rename", ws + "/.autonous", ws + "/.autonous-moved"), FileOp("mkdir", ws + "/.autonous"),
            FileOp("create_through", ws + "/.autonous/settings.json", "EVIL"),
        ]
        let run = try await sandbox(caller, fixture.arguments(profile: "write", command: Probe.files(operations)))
        #expect(run.status == 0, "\(run)")
        #expect(HostFile.contents(ws + "/.git/config") == config, "the host's .git/config was replaced\n\(run)")
        #expect(HostFile.listing(ws + "/.git/hooks") == [], "a hook appeared on the host\n\(run)")
        #expect(HostFile.contents(ws + "/.autonous/settings.json") == "{}\n", "\(run)")
    }
}

/// A writable tier, and whether the workspace has .git/hooks before the run.
struct WritableTierSetup: Sendable, CustomTestStringConvertible {
    let profile: String
    let hooksExist: Bool

    static let allCases = [
        WritableTierSetup(profile: "write", hooksExist: true), WritableTierSetup(profile: "write", hooksExist: false),
        WritableTierSetup(profile: "exec", hooksExist: true), WritableTierSetup(profile: "exec", hooksExist: false),
    ]

    var testDescription: String { profile + (hooksExist ? ", hooks exist" : ", no hooks yet") }
}

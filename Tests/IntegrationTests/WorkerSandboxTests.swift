import AutonousCore
import Foundation
import Testing

/// The worker runs under `autonous-sandbox --profile worker`, and the sandboxes it starts for tools see nothing of
/// it: not its processes, not its environment (where the secrets are).
@Suite("Worker sandbox", .serialized, .timeLimit(.minutes(3)))
struct WorkerSandboxTests {
    /// The pids of the processes whose parent is `pid`.
    private func children(of pid: Int32) -> [Int32] {
        guard let entries = try? FileManager.default.contentsOfDirectory(atPath: "/proc") else { return [] }
        return entries.compactMap(Int32.init).filter { candidate in
            guard let stat = try? String(contentsOfFile: "/proc/\(candidate)/stat", encoding: .utf8),
                let close = stat.lastIndex(of: ")")
            else { return false }
            let fields = stat[stat.index(after: close)...].split(separator: " ")
            return fields.count > 1 && Int32(fields[1]) == pid
        }
    }

    /// The worker process under the launcher `launcher` (launcher → namespace creator → pid 1 → worker).
    private func workerProcess(under launcher: Int32) -> Int32? {
        var frontier = [launcher]
        for _ in 0 ..< 4 {
            frontier = frontier.flatMap(children(of:))
            for pid in frontier {
                if let exe = try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/\(pid)/exe"),
                    exe.hasSuffix("/autonous-worker")
                {
                    return pid
                }
            }
        }
        return nil
    }

    private func statusField(_ name: String, of pid: Int32) -> String? {
        guard let status = try? String(contentsOfFile: "/proc/\(pid)/status", encoding: .utf8) else { return nil }
        return status.split(separator: "\n").first { $0.hasPrefix(name + ":") }
            .map { $0.dropFirst(name.count + 1).trimmingCharacters(in: .whitespaces) }
    }

    @Test func theWorkerHasNoCapabilitiesNoNewPrivilegesASeccompFilterAndSeesNoSupervisor() async throws {
        let fakes = try Fakes()
        let daemon = try Daemon(fakes: fakes)
        let status = try #require(await daemon.waitUntilReady(), "\(daemon.log)")
        let launcher = try #require(status.worker.pid.map(Int32.init))
        let worker = try #require(workerProcess(under: launcher), "no autonous-worker under launcher \(launcher)")
        for set in ["CapInh", "CapPrm", "CapEff", "CapBnd", "CapAmb"] {
            #expect(statusField(set, of: worker) == "0000000000000000", "\(set)")
        }
        #expect(statusField("NoNewPrivs", of: worker) == "1")
        #expect(statusField("Seccomp", of: worker) == "2")
        // Its own pid namespace: it is a small pid inside and cannot see the supervisor's.
        let nspid = statusField("NSpid", of: worker)?.split(whereSeparator: { $0 == "\t" || $0 == " " }) ?? []
        #expect(nspid.count == 2, "NSpid: \(nspid)")
        let root = "/proc/\(worker)/root"
        let supervisorPID = daemon.process.processIdentifier
        #expect(!FileManager.default.fileExists(atPath: "\(root)/proc/\(supervisorPID)"))
        let visible = try FileManager.default.contentsOfDirectory(atPath: "\(root)/proc").compactMap(Int.init)
        #expect(visible.count <= 4, "the worker sees pids \(visible)")
        // The worker socket is there, the control socket is not.
        #expect(FileManager.default.fileExists(atPath: root + daemon.runtimeDirectory + "/worker.sock"))
        #expect(!FileManager.default.fileExists(atPath: root + daemon.controlSocket))
        #expect(!FileManager.default.fileExists(atPath: root + "/root"))
        // Its argv carries no secret (argv is world-readable); its environment does, for it alone.
        let launcherArgv = try String(contentsOfFile: "/proc/\(launcher)/cmdline", encoding: .utf8)
        #expect(!launcherArgv.contains(Fakes.openAIKey) && !launcherArgv.contains(Fakes.telegramToken))
        // And it still answers.
        try await fakes.sendUserMessage(from: 111, text: "from inside")
        #expect(try await fakes.waitForSent(1), "\(daemon.log)")
        await daemon.stop()
    }

    @Test func aToolSandboxStartedInsideTheWorkerProfileCannotReadTheWorkersSecrets() throws {
        let directory = try TemporaryDirectory()
        chmod(directory.path, 0o755)
        let workspace = directory.path + "/ws"
        try FileManager.default.createDirectory(atPath: workspace, withIntermediateDirectories: true)
        chown(directory.path, 65534, 65534)
        chown(workspace, 65534, 65534)
        let sandbox = TestPaths.binary("autonous-sandbox")
        let binaries = URL(fileURLWithPath: sandbox).resolvingSymlinksInPath().deletingLastPathComponent().path
        let secret = "sk-nested-\(UInt32.random(in: 1000 ... 999_999))"
        // Inside the worker profile, the way the worker runs a tool: a nested exec sandbox that searches every
        // process's environment and its own for the secret.
        let probe = workspace + "/probe.sh"
        try """
        found=$(cat /proc/*/environ 2>/dev/null | tr '\\0' '\\n' | grep -c '\(secret)')
        echo "inner=$found env=${OPENAI_API_KEY:-none} pids=$(ls /proc | grep -c '^[0-9]')"
        """.write(toFile: probe, atomically: true, encoding: .utf8)
        chmod(probe, 0o644)
        var arguments = [
            "--profile", "worker", "--env-inherit", "OPENAI_API_KEY", "--rw", directory.path, "--ro", binaries,
        ]
        for runtime in swiftRuntimeDirectories() { arguments += ["--ro", runtime] }
        arguments += [
            "--cwd", directory.path, "--", "/bin/sh", "-c",
            "echo outer=$OPENAI_API_KEY; \(binaries)/autonous-sandbox --profile exec --best-effort-limits "
                + "--workspace \(workspace) -- /bin/sh \(probe)",
        ]
        let result = try runProcess(
            sandbox, arguments, environment: ["PATH": "/usr/bin:/bin", "OPENAI_API_KEY": secret])
        #expect(result.status == 0, "\(arguments)\n\(result.stderr)")
        #expect(result.stdout.contains("outer=\(secret)"), "the worker profile gets its secret: \(result.stdout)")
        #expect(result.stdout.contains("inner=0 env=none"), "\(result.stdout)\n\(result.stderr)")
    }

    /// The toolchain's runtime directory (`<swift>/../lib/swift/linux`), which the debug-built launcher links
    /// from: the nested launcher needs it inside the worker profile.
    private func swiftRuntimeDirectories() -> [String] {
        let path = ProcessInfo.processInfo.environment["PATH"] ?? "/usr/bin"
        for directory in path.split(separator: ":") {
            let swift = URL(fileURLWithPath: "\(directory)/swift").resolvingSymlinksInPath()
            let runtime = swift.deletingLastPathComponent().deletingLastPathComponent().path + "/lib/swift/linux"
            if FileManager.default.fileExists(atPath: runtime + "/libswiftCore.so") { return [runtime] }
        }
        return []
    }
}

import AutonousCore
import Foundation
import Testing

/// Who starts the launcher. When the suite runs as host root (`make check`): the test process itself, or uid/gid
/// 65534 with no groups through setpriv. When it runs as an unprivileged user (scripts/e2e-systemd runs it as the
/// service user under the options of autonous.service): `unprivileged` is the test process itself, as the
/// supervisor is under the unit, and the `root` cases are cancelled (nothing starts the launcher as root there).
enum Caller: String, CaseIterable, Sendable, CustomTestStringConvertible {
    case root
    case unprivileged

    /// The test process is root on the host (not in a user namespace of its own): it can start the launcher as
    /// root, become uid 65534, and give host files to any owner.
    static let testIsHostRoot = ChildProcess.isHostRoot

    /// The caller of the tests that do not vary it: the test process itself.
    static var own: Caller { testIsHostRoot ? .root : .unprivileged }

    /// The host uid the sandbox's uid 0 maps to in both modes: 65534 when the test process is host root (for root
    /// by default, and the unprivileged caller is 65534), else the test process's own uid (the launcher maps a
    /// caller without CAP_SETUID to itself).
    static let mappedID: UInt32 = testIsHostRoot ? 65534 : getuid()

    /// The host gid the sandbox's gid 0 maps to, by the same rule.
    static let mappedGID: UInt32 = testIsHostRoot ? 65534 : getgid()

    var testDescription: String { rawValue }

    /// The command prefix that becomes this caller (none when the test process is that caller already).
    var prefix: [String] {
        switch self {
        case .root: return []
        case .unprivileged:
            guard Caller.testIsHostRoot else { return [] }
            return ["/usr/bin/setpriv", "--reuid=65534", "--regid=65534", "--clear-groups", "--reset-env", "--"]
        }
    }

    /// Cancels the running test case when it cannot run as this process: the `root` caller needs a test process
    /// that is host root.
    func requireAvailable() throws {
        guard self == .root, !Caller.testIsHostRoot else { return }
        try Test.cancel(
            Comment(
                rawValue: "the root caller needs a test process that is host root; this one is uid \(getuid()), "
                    + "the unprivileged caller itself"))
    }

    /// Cancels the running test unless the test process is host root: for a test whose point is a host file that
    /// belongs to root (a root-only secret, a setuid-root program, a root-only directory), which no other user can
    /// make. `what` names that file.
    static func requireHostRoot(toMake what: String) throws {
        guard !testIsHostRoot else { return }
        try Test.cancel("needs a test process that is host root to make \(what); this one is uid \(getuid())")
    }
}

/// The JSON object the launcher writes to `--status-fd`.
struct StatusReport: Decodable, Sendable, Equatable {
    let exitCode: Int?
    let signal: Int?
    let timedOut: Bool
    let oomKilled: Bool
    let cpuLimit: Bool
    let pidsLimitHit: Bool

    enum CodingKeys: String, CodingKey {
        case exitCode = "exit_code"
        case signal
        case timedOut = "timed_out"
        case oomKilled = "oom_killed"
        case cpuLimit = "cpu_limit"
        case pidsLimitHit = "pids_limit_hit"
    }
}

/// What one launcher run produced.
struct SandboxRun: Sendable, CustomStringConvertible {
    let caller: Caller
    let arguments: [String]
    /// The launcher's exit status; 128+N when the launcher itself died of signal N.
    let status: Int32
    let stdout: String
    let stderr: String
    /// What the launcher wrote to `--status-fd` (empty when not asked or nothing written).
    let statusText: String
    let elapsed: Duration
    /// The test had to SIGKILL the launcher because it overran the test's own bound.
    let killedByTest: Bool

    /// The last non-empty stdout line as JSON (the probes print one object).
    var json: JSON? {
        let lines = stdout.split(separator: "\n").map(String.init).filter { !$0.isEmpty }
        return lines.last.flatMap { JSON.parse($0) }
    }

    var report: StatusReport? {
        let text = statusText.trimmingCharacters(in: .whitespacesAndNewlines)
        return try? JSONDecoder().decode(StatusReport.self, from: Data(text.utf8))
    }

    /// The `autonous-sandbox: ` lines of stderr (the launcher's own refusals and setup errors).
    var launcherErrors: [String] {
        stderr.split(separator: "\n").map(String.init).filter { $0.hasPrefix("autonous-sandbox: ") }
    }

    /// The launcher refused with 125 and an `autonous-sandbox: ` line mentioning one of `words` (case-insensitive).
    func refused(mentioning words: [String]) -> Bool {
        status == 125
            && launcherErrors.contains { line in words.contains { line.lowercased().contains($0.lowercased()) } }
    }

    var description: String {
        let killed = killedByTest ? " (killed by the test after overrunning)" : ""
        return """
            [\(caller.rawValue)] autonous-sandbox \(arguments.joined(separator: " "))
            exit status \(status)\(killed) after \(elapsed)
            --- stdout ---
            \(stdout.suffix(4000))
            --- stderr ---
            \(stderr.suffix(4000))
            --- status fd ---
            \(statusText)
            """
    }
}

/// A running `autonous-sandbox`, spawned with posix_spawn: stdin /dev/null, stdout and stderr to files, fd 3 a
/// status file (used only with `--status-fd 3`) and fd 5 a stray directory descriptor of the host that the launcher
/// must never pass on; every other descriptor closed, no signal blocked or ignored. The argv is the caller prefix
/// (setpriv), an optional wrapper (strace), `env -i` with an explicit environment, then the launcher, so the
/// spawned pid is the launcher's own.
///
/// Not Foundation's Process: it detects the end of a child by EOF on a socket the child inherits, so it reports
/// the launcher running as long as anything the launcher left behind holds that socket (and would hang exactly
/// where case 21 looks).
final class LauncherProcess: @unchecked Sendable {
    let caller: Caller
    let arguments: [String]
    let pid: pid_t
    private let directory: String
    private let started = ContinuousClock.now
    private var exitStatus: Int32?

    /// Starts the launcher. `environment` is added to PATH and LANG; `wrapper` (strace, say) runs the launcher;
    /// `workingDirectory` is where it starts (default /). Unprivileged callers get `--best-effort-limits` when
    /// `bestEffortWhenUnprivileged`: the named profiles carry default memory and pids limits, which need a cgroup
    /// that an unprivileged user cannot have on a host without delegation; tests of the limits themselves pass
    /// false. A `root` caller cancels the test case when the test process is not host root.
    init(
        _ caller: Caller, _ arguments: [String], environment: [String: String] = [:], statusFD: Bool = false,
        wrapper: [String] = [], workingDirectory: String = "/", bestEffortWhenUnprivileged: Bool = true
    ) throws {
        try caller.requireAvailable()
        self.caller = caller
        var template = Array("/tmp/asbrun-XXXXXX".utf8CString)
        guard let made = mkdtemp(&template) else { throw POSIXError(.EIO) }
        directory = String(cString: made)
        var launcherArguments = (statusFD ? ["--status-fd", "3"] : []) + arguments
        if caller == .unprivileged && bestEffortWhenUnprivileged && arguments.contains("--profile") {
            launcherArguments.insert("--best-effort-limits", at: 0)
        }
        self.arguments = launcherArguments
        var fullEnvironment = ["PATH": "/usr/local/bin:/usr/bin:/bin", "LANG": "C.UTF-8"]
        for (key, value) in environment { fullEnvironment[key] = value }
        let assignments = fullEnvironment.sorted { $0.key < $1.key }.map { "\($0.key)=\($0.value)" }
        let argv =
            caller.prefix + wrapper + ["/usr/bin/env", "-i"] + assignments + [TestPaths.launcher] + launcherArguments
        pid = try spawn(
            argv, workingDirectory: workingDirectory,
            files: [
                (0, "/dev/null", O_RDONLY), (1, directory + "/stdout", O_WRONLY | O_CREAT | O_TRUNC),
                (2, directory + "/stderr", O_WRONLY | O_CREAT | O_TRUNC),
                (3, directory + "/status", O_WRONLY | O_CREAT | O_TRUNC), (5, directory, O_RDONLY | O_DIRECTORY),
            ])
    }

    deinit {
        if exitStatus == nil {
            kill(pid, SIGKILL)
            var status: Int32 = 0
            _ = waitpid(pid, &status, 0)
        }
        try? FileManager.default.removeItem(atPath: directory)
    }

    /// Whether the launcher has not exited yet (reaps it when it has).
    var isRunning: Bool {
        if exitStatus != nil { return false }
        var status: Int32 = 0
        let result = waitpid(pid, &status, WNOHANG)
        if result == pid {
            exitStatus = status
            return false
        }
        if result == -1 {
            exitStatus = -1  // someone else reaped it: the status is lost
            return false
        }
        return true
    }

    /// Waits for the launcher to exit, at most `timeout`; SIGKILLs it on overrun. Returns what it produced.
    func wait(timeout: Duration = .seconds(60)) async -> SandboxRun {
        let deadline = ContinuousClock.now + timeout
        while isRunning && ContinuousClock.now < deadline {
            try? await Task.sleep(for: .milliseconds(10))
        }
        var killed = false
        if isRunning {
            killed = true
            kill(pid, SIGKILL)
            while isRunning { try? await Task.sleep(for: .milliseconds(10)) }
        }
        let elapsed = ContinuousClock.now - started
        let raw = exitStatus ?? -1
        // The wait status: the low 7 bits are the terminating signal (0: exited), bits 8-15 the exit code.
        let status = raw == -1 ? -1 : (raw & 0x7f == 0 ? (raw >> 8) & 0xff : 128 + (raw & 0x7f))
        return SandboxRun(
            caller: caller, arguments: arguments, status: status, stdout: read("stdout"), stderr: read("stderr"),
            statusText: read("status"), elapsed: elapsed, killedByTest: killed)
    }

    private func read(_ name: String) -> String {
        (try? String(contentsOfFile: directory + "/" + name, encoding: .utf8)) ?? ""
    }
}

/// posix_spawn of `argv` with exactly the descriptors in `files` (fd, path, flags; created files 0644), every other
/// descriptor closed, an empty signal mask and default dispositions, in `workingDirectory`.
private func spawn(_ argv: [String], workingDirectory: String, files: [(Int32, String, Int32)]) throws -> pid_t {
    var actions = posix_spawn_file_actions_t()
    posix_spawn_file_actions_init(&actions)
    defer { posix_spawn_file_actions_destroy(&actions) }
    // glibc's posix_spawn_file_actions_addclosefrom_np and _addchdir_np are not imported by Swift's Glibc module.
    typealias CloseFrom = @convention(c) (UnsafeMutablePointer<posix_spawn_file_actions_t>, Int32) -> Int32
    typealias ChangeDirectory =
        @convention(c) (UnsafeMutablePointer<posix_spawn_file_actions_t>, UnsafePointer<CChar>) -> Int32
    guard let closeFrom = dlsym(nil, "posix_spawn_file_actions_addclosefrom_np"),
        let changeDirectory = dlsym(nil, "posix_spawn_file_actions_addchdir_np")
    else { throw POSIXError(.ENOSYS) }
    _ = unsafeBitCast(closeFrom, to: CloseFrom.self)(&actions, 0)
    for (fd, path, flags) in files {
        posix_spawn_file_actions_addopen(&actions, fd, path, flags, 0o644)
    }
    _ = unsafeBitCast(changeDirectory, to: ChangeDirectory.self)(&actions, workingDirectory)

    var attributes = posix_spawnattr_t()
    posix_spawnattr_init(&attributes)
    defer { posix_spawnattr_destroy(&attributes) }
    var none = sigset_t()
    sigemptyset(&none)
    posix_spawnattr_setsigmask(&attributes, &none)
    var all = sigset_t()
    sigfillset(&all)
    posix_spawnattr_setsigdefault(&attributes, &all)
    posix_spawnattr_setflags(&attributes, Int16(POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF))

    let cArguments = argv.map { strdup($0) } + [nil]
    defer { for argument in cArguments { free(argument) } }
    let cEnvironment: [UnsafeMutablePointer<CChar>?] = [strdup("PATH=/usr/bin:/bin"), nil]
    defer { for variable in cEnvironment { free(variable) } }
    var pid: pid_t = 0
    let result = posix_spawn(&pid, argv[0], &actions, &attributes, cArguments, cEnvironment)
    guard result == 0 else { throw POSIXError(POSIXErrorCode(rawValue: result) ?? .EIO) }
    return pid
}

/// Runs the launcher as `caller` with `arguments` and waits for it (bounded by `timeout`).
func sandbox(
    _ caller: Caller, _ arguments: [String], environment: [String: String] = [:], statusFD: Bool = false,
    wrapper: [String] = [], workingDirectory: String = "/", bestEffortWhenUnprivileged: Bool = true,
    timeout: Duration = .seconds(60)
) async throws -> SandboxRun {
    let launcher = try LauncherProcess(
        caller, arguments, environment: environment, statusFD: statusFD, wrapper: wrapper,
        workingDirectory: workingDirectory, bestEffortWhenUnprivileged: bestEffortWhenUnprivileged)
    return await launcher.wait(timeout: timeout)
}

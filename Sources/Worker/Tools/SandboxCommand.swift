import AutonousCore
import Foundation
import Sandbox
import Subprocess
import Synchronization
import SystemPackage

/// Runs one command in a fresh `autonous-sandbox` with the workspace read-write: the launcher machinery the bash tool
/// and `propose_update` share. Stdin is closed, nothing of the worker's environment goes in, and the call gets its
/// own cgroup inside the worker's delegated one, or rlimits where none is delegated (`--best-effort-limits`).
struct SandboxCommand: Sendable {
    let launcher: String
    let workspace: String
    /// Further roots, bound at their own paths (read-only ones read-only).
    var extraRoots: [ToolRoot] = []

    /// How long the launcher has after SIGTERM (which it passes inward to the command) before SIGKILL, when the
    /// calling task is cancelled.
    static let cancelGrace: Duration = .seconds(2)

    /// What a run left behind.
    struct Outcome: Sendable {
        /// The exit status (128 + N for signal N, 124 past the time limit, 125 when the sandbox was not set up);
        /// nil when the calling task was cancelled.
        var exitCode: Int32?
        var stdout: Captured
        var stderr: Captured

        var cancelled: Bool { exitCode == nil }
    }

    /// One output stream: its first bytes, and how many it had in all.
    struct Captured: Sendable {
        var bytes: [UInt8]
        var total: Int

        /// What was kept, as text (invalid UTF-8 replaced).
        var text: String { String(decoding: bytes, as: UTF8.self) }
    }

    /// Runs `command` in the sandbox and waits for it without holding a thread of the concurrency pool: the launcher
    /// is spawned with swift-subprocess, which waits for it on a pidfd and reads its pipes through epoll on its own
    /// thread. Each stream keeps its first `keepStdout` / `keepStderr` bytes; the rest is read, counted and dropped,
    /// so the command never blocks on a full pipe.
    ///
    /// `network` lists the allowed HOST:PORT destinations: empty is the `exec` profile (no network at all), else
    /// the `network` profile. `workingDirectory` must lie in the workspace (default: the workspace itself).
    ///
    /// Cancelling the calling task stops the sandbox: SIGTERM to the launcher (passed on to the sandbox's pid 1 and
    /// the command), SIGKILL after `cancelGrace` (the launcher's death kills pid 1, and with it every process in the
    /// sandbox). The outcome then has no exit code and carries the output captured so far.
    ///
    /// - Throws: the spawn's error when the launcher cannot be started (not when the task was cancelled).
    func run(
        _ command: [String], network: [String] = [], timeoutSeconds: Int, workingDirectory: String? = nil,
        keepStdout: Int, keepStderr: Int
    ) async throws -> Outcome {
        var arguments: [String] = [
            "--profile", network.isEmpty ? "exec" : "network", "--workspace", workspace, "--best-effort-limits",
        ]
        for root in extraRoots { arguments += [root.writable ? "--rw" : "--ro", root.path] }
        for destination in network { arguments += ["--net-allow", destination] }
        if let workingDirectory { arguments += ["--cwd", workingDirectory] }
        arguments += ["--timeout", String(timeoutSeconds), "--"] + command
        var options = PlatformOptions()
        options.teardownSequence = [.gracefulShutDown(allowedDurationToNextStep: Self.cancelGrace)]
        let stdout = OutputCapture(keep: keepStdout)
        let stderr = OutputCapture(keep: keepStderr)
        func outcome(_ exitCode: Int32?) -> Outcome {
            Outcome(exitCode: exitCode, stdout: stdout.captured, stderr: stderr.captured)
        }
        let status: TerminationStatus
        do {
            status = try await Subprocess.run(
                .path(FilePath(launcher)), arguments: Subprocess.Arguments(arguments),
                environment: .custom(["PATH": "/usr/bin:/bin"]), platformOptions: options, input: .none,
                output: .sequence, error: .sequence
            ) { execution in
                async let drainedOut: Void = stdout.drain(execution.standardOutput)
                try await stderr.drain(execution.standardError)
                try await drainedOut
            }.terminationStatus
        } catch {
            if Task.isCancelled { return outcome(nil) }
            throw error
        }
        if Task.isCancelled { return outcome(nil) }
        switch status {
        case .exited(let code): return outcome(code)
        case .signaled(let signal): return outcome(128 + signal)
        }
    }
}

extension SandboxCommand {
    /// One output stream of the sandbox: the first `keep` bytes, and the rest read, counted and dropped.
    fileprivate final class OutputCapture: Sendable {
        private let keep: Int
        private let state = Mutex<Captured>(Captured(bytes: [], total: 0))

        init(keep: Int) {
            self.keep = keep
        }

        var captured: Captured { state.withLock { $0 } }

        /// Reads `sequence` to its end.
        func drain(_ sequence: SubprocessOutputSequence) async throws {
            for try await buffer in sequence {
                buffer.withUnsafeBytes { raw in
                    state.withLock { captured in
                        let room = keep - captured.bytes.count
                        if room > 0 { captured.bytes.append(contentsOf: raw.prefix(room)) }
                        captured.total += raw.count
                    }
                }
            }
        }
    }
}

import AutonousCore
import Foundation
import Sandbox

/// `bash {command, timeout_seconds?, network?}`: runs a command with bash in a fresh `autonous-sandbox` per call:
/// the workspace read-write as its working directory, stdin closed, nothing of the worker's environment, a
/// wall-clock limit. Without `network` it is the Exec tier (`--profile exec`, no network at all); with `network`,
/// a list of HOST:PORT destinations, it is the Network tier (`--profile network --net-allow …`: only those
/// destinations, checked by the launcher for every connection). The call gets its own cgroup inside the worker's
/// delegated one (cgroup v1); where none is delegated (cgroup v2 today), `--best-effort-limits` falls back to
/// rlimits and the worker's cgroup still bounds the total.
struct BashTool: Sendable {
    struct Arguments: Decodable, Equatable {
        var command: String
        var timeoutSeconds: Int?
        var network: [String]?

        enum CodingKeys: String, CodingKey {
            case command, network
            case timeoutSeconds = "timeout_seconds"
        }

        /// Network when destinations are named, else Exec.
        var tier: ToolTier { (network ?? []).isEmpty ? .exec : .network }
    }

    static let name = "bash"

    /// The most destinations one call may name.
    static let maximumDestinations = 16

    static func description(_ timeoutMax: Duration) -> String {
        "Run a bash command in the workspace, sandboxed: no access outside the workspace, a time limit "
            + "(timeout_seconds, at most \(timeoutMax.components.seconds)). No network unless you list the "
            + "destinations the command needs in network, as HOST:PORT (e.g. pypi.org:443); such a call may wait "
            + "for an admin's approval, and only TCP to those destinations works. Returns exit code, stdout and stderr."
    }

    static func schema(_ timeoutMax: Duration) -> String {
        """
        {"type":"object","properties":{"command":{"type":"string","description":"the bash command line"},\
        "timeout_seconds":{"type":"integer","minimum":1,"maximum":\(timeoutMax.components.seconds)},\
        "network":{"type":"array","items":{"type":"string","description":"HOST:PORT"},\
        "maxItems":\(maximumDestinations)}},"required":["command"],"additionalProperties":false}
        """
    }

    /// What an admin is asked to approve.
    static func summary(_ arguments: Arguments) -> String {
        let destinations = (arguments.network ?? []).joined(separator: ", ")
        let reach = destinations.isEmpty ? "without network" : "with network access to \(destinations)"
        return "bash \(reach):\n$ \(arguments.command.prefix(1500))"
    }

    let launcher: String
    let workspace: String
    /// Further roots, bound at their own paths (read-only ones read-only).
    var extraRoots: [ToolRoot] = []
    let outputLimit: Int
    let timeout: Duration
    let timeoutMax: Duration

    /// How long the launcher has after SIGTERM before SIGKILL when the calling task is cancelled.
    static let cancelGrace = SandboxCommand.cancelGrace

    /// Runs the command in the sandbox (`SandboxCommand`) and waits for it without holding a thread of the
    /// concurrency pool. Cancelling the calling task stops the sandbox; the result then says the call was cancelled
    /// and carries the output captured so far.
    func run(_ arguments: Arguments) async -> ToolResult {
        let stopwatch = Stopwatch()
        let tier = arguments.tier
        let timeout = arguments.timeoutSeconds ?? Int(self.timeout.components.seconds)
        let maximum = Int(timeoutMax.components.seconds)
        guard (1 ... maximum).contains(timeout) else {
            return .failure("timeout_seconds must be from 1 to \(maximum), got \(timeout)", tier: tier)
        }
        guard !arguments.command.trimmingCharacters(in: .whitespaces).isEmpty else {
            return .failure("the command is empty", tier: tier)
        }
        let destinations = arguments.network ?? []
        guard destinations.count <= Self.maximumDestinations else {
            return .failure("network names at most \(Self.maximumDestinations) destinations", tier: tier)
        }
        do {
            _ = try NetworkAllowlist(parsing: destinations)
        } catch {
            return .failure("network: \(error)", tier: tier)
        }
        if Task.isCancelled {
            return .failure("the call was cancelled before the command started", tier: tier)
        }
        let sandbox = SandboxCommand(launcher: launcher, workspace: workspace, extraRoots: extraRoots)
        let outcome: SandboxCommand.Outcome
        do {
            // A little more than the limit is kept, so `capped` still sees that there was more and cuts at a
            // character.
            outcome = try await sandbox.run(
                ["/bin/bash", "-c", arguments.command], network: destinations, timeoutSeconds: timeout,
                keepStdout: outputLimit + 4, keepStderr: outputLimit + 4)
        } catch {
            return .failure(
                "cannot run the sandbox \(launcher): \(error)", tier: tier, durationMs: stopwatch.milliseconds)
        }
        guard let code = outcome.exitCode else { return cancelled(outcome, tier: tier, stopwatch: stopwatch) }
        let (out, outCut) = capped(outcome.stdout.text, limit: outputLimit)
        var errors = outcome.stderr.text
        if code == 124 { errors += "\n[the command was stopped after \(timeout) s]" }
        let (err, errCut) = capped(errors, limit: outputLimit)
        return ToolResult(
            ok: code == 0, exitCode: Int(code), stdout: out, stderr: err, stdoutTruncated: outCut,
            stderrTruncated: errCut, durationMs: stopwatch.milliseconds, tier: tier, nextOffset: nil, hasMore: nil)
    }

    /// The result of a call whose task was cancelled while the command ran: no exit code, the output so far.
    private func cancelled(_ outcome: SandboxCommand.Outcome, tier: ToolTier, stopwatch: Stopwatch) -> ToolResult {
        let (out, outCut) = capped(outcome.stdout.text, limit: outputLimit)
        let (err, errCut) = capped(outcome.stderr.text + "\n" + Self.cancelledNote, limit: outputLimit)
        return ToolResult(
            ok: false, exitCode: nil, stdout: out, stderr: err, stdoutTruncated: outCut, stderrTruncated: errCut,
            durationMs: stopwatch.milliseconds, tier: tier, nextOffset: nil, hasMore: nil)
    }

    /// The line a cancelled call's stderr ends with.
    static let cancelledNote = "[the call was cancelled: the sandbox and its command were stopped]"
}

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

    func run(_ arguments: Arguments) -> ToolResult {
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
        let scratch = NSTemporaryDirectory() + "bash-" + UUID().uuidString
        let outPath = scratch + ".out"
        let errPath = scratch + ".err"
        _ = FileManager.default.createFile(atPath: outPath, contents: nil)
        _ = FileManager.default.createFile(atPath: errPath, contents: nil)
        defer {
            try? FileManager.default.removeItem(atPath: outPath)
            try? FileManager.default.removeItem(atPath: errPath)
        }
        let process = Process()
        process.executableURL = URL(fileURLWithPath: launcher)
        process.arguments =
            ["--profile", tier == .network ? "network" : "exec", "--workspace", workspace, "--best-effort-limits"]
            + extraRoots.flatMap { [$0.writable ? "--rw" : "--ro", $0.path] }
            + destinations.flatMap { ["--net-allow", $0] }
            + ["--timeout", String(timeout), "--", "/bin/bash", "-c", arguments.command]
        process.environment = ["PATH": "/usr/bin:/bin"]
        process.standardInput = FileHandle.nullDevice
        do {
            process.standardOutput = try FileHandle(forWritingTo: URL(fileURLWithPath: outPath))
            process.standardError = try FileHandle(forWritingTo: URL(fileURLWithPath: errPath))
            try process.run()
        } catch {
            return .failure("cannot start the sandbox: \(error)", tier: tier, durationMs: stopwatch.milliseconds)
        }
        process.waitUntilExit()
        let status = process.terminationStatus
        let (stdout, stdoutCut) = capped(Self.readText(outPath), limit: outputLimit)
        var errors = Self.readText(errPath)
        if status == 124 { errors += "\n[the command was stopped after \(timeout) s]" }
        let (stderr, stderrCut) = capped(errors, limit: outputLimit)
        return ToolResult(
            ok: status == 0, exitCode: Int(status), stdout: stdout, stderr: stderr, stdoutTruncated: stdoutCut,
            stderrTruncated: stderrCut, durationMs: stopwatch.milliseconds, tier: tier, nextOffset: nil, hasMore: nil)
    }

    private static func readText(_ path: String) -> String {
        guard let handle = FileHandle(forReadingAtPath: path) else { return "" }
        defer { try? handle.close() }
        let data = (try? handle.read(upToCount: 4 << 20)) ?? Data()
        return String(decoding: data, as: UTF8.self)
    }
}

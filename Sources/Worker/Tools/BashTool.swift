import Foundation

/// `bash {command, timeout_seconds?}`: runs a command with bash in a fresh `autonous-sandbox --profile exec` per
/// call: the workspace read-write as its working directory, no network, stdin closed, nothing of the worker's
/// environment, a wall-clock limit. Inside the worker's own sandbox there is no cgroup to delegate, so memory and
/// pids are bounded by the worker's cgroup and by rlimits (`--best-effort-limits`).
struct BashTool: Sendable {
    struct Arguments: Decodable, Equatable {
        var command: String
        var timeoutSeconds: Int?

        enum CodingKeys: String, CodingKey {
            case command
            case timeoutSeconds = "timeout_seconds"
        }
    }

    static let name = "bash"
    static let description =
        "Run a bash command in the workspace, sandboxed: no network, no access outside the "
        + "workspace, a time limit (timeout_seconds, default 60, at most 600). Returns exit code, stdout and stderr."
    static let schema = """
        {"type":"object","properties":{"command":{"type":"string","description":"the bash command line"},\
        "timeout_seconds":{"type":"integer","minimum":1,"maximum":600}},"required":["command"],\
        "additionalProperties":false}
        """

    let launcher: String
    let workspace: String
    let outputLimit: Int

    func run(_ arguments: Arguments) -> ToolResult {
        let stopwatch = Stopwatch()
        let timeout = arguments.timeoutSeconds ?? 60
        guard (1 ... 600).contains(timeout) else {
            return .failure("timeout_seconds must be from 1 to 600, got \(timeout)", tier: .exec)
        }
        guard !arguments.command.trimmingCharacters(in: .whitespaces).isEmpty else {
            return .failure("the command is empty", tier: .exec)
        }
        let scratch = NSTemporaryDirectory() + "bash-" + UUID().uuidString
        let outPath = scratch + ".out"
        let errPath = scratch + ".err"
        FileManager.default.createFile(atPath: outPath, contents: nil)
        FileManager.default.createFile(atPath: errPath, contents: nil)
        defer {
            try? FileManager.default.removeItem(atPath: outPath)
            try? FileManager.default.removeItem(atPath: errPath)
        }
        let process = Process()
        process.executableURL = URL(fileURLWithPath: launcher)
        process.arguments = [
            "--profile", "exec", "--workspace", workspace, "--best-effort-limits", "--timeout", String(timeout),
            "--", "/bin/bash", "-c", arguments.command,
        ]
        process.environment = ["PATH": "/usr/bin:/bin"]
        process.standardInput = FileHandle.nullDevice
        do {
            process.standardOutput = try FileHandle(forWritingTo: URL(fileURLWithPath: outPath))
            process.standardError = try FileHandle(forWritingTo: URL(fileURLWithPath: errPath))
            try process.run()
        } catch {
            return .failure("cannot start the sandbox: \(error)", tier: .exec, durationMs: stopwatch.milliseconds)
        }
        process.waitUntilExit()
        let status = process.terminationStatus
        let (stdout, stdoutCut) = capped(Self.readText(outPath), limit: outputLimit)
        var errors = Self.readText(errPath)
        if status == 124 { errors += "\n[the command was stopped after \(timeout) s]" }
        let (stderr, stderrCut) = capped(errors, limit: outputLimit)
        return ToolResult(
            ok: status == 0, exitCode: Int(status), stdout: stdout, stderr: stderr, stdoutTruncated: stdoutCut,
            stderrTruncated: stderrCut, durationMs: stopwatch.milliseconds, tier: .exec, nextOffset: nil, hasMore: nil)
    }

    private static func readText(_ path: String) -> String {
        guard let handle = FileHandle(forReadingAtPath: path) else { return "" }
        defer { try? handle.close() }
        let data = (try? handle.read(upToCount: 4 << 20)) ?? Data()
        return String(decoding: data, as: UTF8.self)
    }
}

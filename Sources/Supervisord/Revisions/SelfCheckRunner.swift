import AutonousCore
import Foundation
import GRDB
import Logging

#if canImport(Glibc)
import Glibc
#endif

/// Runs a revision's `autonous-worker --self-check` before that revision replaces the running worker: in the
/// worker's sandbox, on a scratch directory holding a consistent copy of the worker's database, never on the live
/// state. The revision must pass before it is started at all.
struct SelfCheckRunner: Sendable {
    /// The most a self-check may take before it counts as failed.
    static let timeout: Duration = .seconds(120)

    struct Result: Sendable, Equatable {
        var passed: Bool
        /// One sentence: what failed, or that every check passed.
        var message: String
        /// The check's own JSON report, when it printed one.
        var report: JSONValue?
    }

    let configuration: AutonousCore.Configuration
    let sandboxBinary: String
    let environment: [String: String]
    let logger: Logger

    /// Runs the self-check of the verified `binary` of `revision`.
    func run(revision: String, binary: String) async -> Result {
        let scratch =
            configuration.stateDirectory + "/self-check/" + revision.prefix(16) + "-"
            + UUID().uuidString.prefix(8).lowercased()
        defer { try? FileManager.default.removeItem(atPath: scratch) }
        do {
            try prepare(scratch)
        } catch {
            return Result(passed: false, message: "cannot prepare its scratch directory: \(error)", report: nil)
        }
        let launch = WorkerLaunch.environment(
            from: environment, configuration: configuration, revision: revision, sandboxBinary: sandboxBinary)
        let sandbox = WorkerSandbox(configuration: configuration, sandboxBinary: sandboxBinary)
        let (arguments, launcherEnvironment) = sandbox.selfCheckCommand(
            workerBinary: binary, scratch: scratch, workerEnvironment: launch)
        let output = scratch + "/.output"
        let status: ExitStatus
        do {
            try FileManager.default.createDirectory(atPath: output, withIntermediateDirectories: true)
            status = try await spawnAndWait(arguments: arguments, environment: launcherEnvironment, output: output)
        } catch {
            return Result(passed: false, message: "cannot run it: \(error)", report: nil)
        }
        let stdout = (try? String(contentsOfFile: output + "/stdout", encoding: .utf8)) ?? ""
        let stderr = (try? String(contentsOfFile: output + "/stderr", encoding: .utf8)) ?? ""
        let report = try? JSONDecoder().decode(JSONValue.self, from: Data(stdout.utf8))
        if status == .exited(0), report?["ok"] == .bool(true) {
            return Result(passed: true, message: "every check passed", report: report)
        }
        var failed: [String] = []
        if case .array(let checks)? = report?["checks"] {
            for check in checks where check["ok"] != .bool(true) {
                let name = check["name"]?.stringValue ?? "?"
                failed.append(check["error"]?.stringValue.map { "\(name): \($0)" } ?? name)
            }
        }
        if failed.isEmpty {
            let lastLine = stderr.split(separator: "\n").last.map(String.init) ?? "no output"
            failed.append("it \(status) (\(lastLine))")
        }
        return Result(passed: false, message: failed.joined(separator: "; "), report: report)
    }

    /// The scratch directory with a consistent copy of the worker's database (SQLite's backup from a read-only
    /// connection, so a write in progress is either in the copy or not). As root it belongs to the worker's uid.
    private func prepare(_ scratch: String) throws {
        let manager = FileManager.default
        try manager.createDirectory(
            atPath: configuration.stateDirectory + "/self-check", withIntermediateDirectories: true,
            attributes: [.posixPermissions: 0o711])
        try manager.createDirectory(
            atPath: scratch, withIntermediateDirectories: false, attributes: [.posixPermissions: 0o700])
        if manager.fileExists(atPath: configuration.workerDatabasePath) {
            let source = try AppDatabase.readOnly(path: configuration.workerDatabasePath, role: .worker)
            let copy = try DatabaseQueue(path: scratch + "/worker.db")
            try source.pool.backup(to: copy)
            try copy.close()
        }
        if geteuid() == 0 {
            let uid = configuration.workerUID
            _ = chown(scratch, uid, gid_t(uid))
            if let walker = manager.enumerator(atPath: scratch) {
                while let entry = walker.nextObject() as? String { _ = lchown(scratch + "/" + entry, uid, gid_t(uid)) }
            }
        }
    }

    private func spawnAndWait(arguments: [String], environment: [String: String], output: String) async throws
        -> ExitStatus
    {
        let (stream, continuation) = AsyncStream<ExitStatus>.makeStream()
        let child = try ChildProcess.spawn(
            executable: sandboxBinary, arguments: arguments, environment: environment,
            output: .files(stdout: output + "/stdout", stderr: output + "/stderr"),
            onExit: { status in
                continuation.yield(status)
                continuation.finish()
            })
        let timer = Task {
            try await Task.sleep(for: Self.timeout)
            logger.warning("self-check took too long; killing it", metadata: ["child.pid": "\(child.pid)"])
            child.signalGroup(SIGKILL)
        }
        defer { timer.cancel() }
        for await status in stream { return status }
        return .signaled(SIGKILL)
    }
}

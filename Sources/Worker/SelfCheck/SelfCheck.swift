import AutonousCore
import Foundation

/// `autonous-worker --self-check --scratch DIR`: proves a new worker revision can start before it replaces the
/// running one. The supervisor runs it inside the worker's sandbox on every new revision, so it needs neither a
/// model, nor the network, nor the supervisor's socket, and reads no secret.
///
/// DIR is a writable scratch directory the supervisor prepared: empty (a fresh install) or holding `worker.db`, a
/// copy of the live worker database, which this revision's migrations must accept. Every check is timed; a failed
/// check never stops the others, so one run names everything that is wrong.
struct SelfCheck: Sendable {
    /// The checks, in the order they run; the raw values are the names in the report.
    enum Name: String, Codable, Sendable, CaseIterable {
        case configuration
        case migrations
        case tools
        case readTool = "read-tool"
        case interface
    }

    /// The scratch directory: absolute, existing, writable.
    let scratch: String
    /// The process environment; secrets in it are never read.
    let environment: [String: String]

    /// Runs every check and reports each one.
    func run() async -> SelfCheckReport {
        var checks: [SelfCheckReport.Check] = []
        var configuration: Configuration?
        checks.append(
            await timed(.configuration) {
                configuration = try Configuration(environment: Self.withoutSecrets(environment))
                return nil
            })
        // Without a valid configuration the remaining checks still run, on the defaults, so the report says whether
        // anything else is wrong too.
        let outputLimit = configuration?.toolOutputLimit ?? 32 * 1024
        let timeoutMax = configuration?.toolTimeoutMax ?? .seconds(600)
        checks.append(await timed(.migrations) { try checkMigrations() })
        checks.append(await timed(.tools) { try Self.checkTools(timeoutMax: timeoutMax) })
        checks.append(await timed(.readTool) { try await checkReadTool(outputLimit: outputLimit) })
        checks.append(
            await timed(.interface) {
                try VarlinkIDLCheck.verify(
                    WorkerInterface.description, interface: WorkerInterface.name, methods: Self.workerMethods)
            })
        return SelfCheckReport(revision: environment["AUTONOUS_REVISION"], checks: checks)
    }

    /// The methods of `io.autonous.Worker` this worker calls.
    static let workerMethods = [
        "Hello", "Ready", "Heartbeat", "Subscribe", "ChatReply", "DecisionReply", "RequestRollback",
    ]

    /// The environment the configuration is read from here: no secret (token, key, credentials directory) and
    /// Telegram off, so that validating the configuration never needs a secret the check must not see.
    static func withoutSecrets(_ environment: [String: String]) -> [String: String] {
        var environment = environment
        for secret in ["AUTONOUS_TELEGRAM_TOKEN", "OPENAI_API_KEY", "CREDENTIALS_DIRECTORY"] {
            environment[secret] = nil
        }
        environment["AUTONOUS_TELEGRAM"] = "off"
        return environment
    }

    /// Runs one check and times it; a thrown error fails the check with the error's text.
    private func timed(_ name: Name, _ body: () async throws -> String?) async -> SelfCheckReport.Check {
        let stopwatch = Stopwatch()
        do {
            let detail = try await body()
            return .init(name: name, ok: true, ms: stopwatch.milliseconds, detail: detail)
        } catch {
            return .init(name: name, ok: false, ms: stopwatch.milliseconds, error: "\(error)")
        }
    }

    /// Opens (creating if absent) DIR/worker.db as the worker does, runs the migrations, and reads the main tables.
    private func checkMigrations() throws -> String {
        let path = scratch + "/worker.db"
        let database: AppDatabase
        do {
            database = try AppDatabase(path: path, role: .worker)
        } catch {
            throw SelfCheckFailure("worker.db does not open and migrate with this revision: \(error)")
        }
        let tables = ["inbox", "outbox", "messages"]
        let counts = try database.pool.read { db in
            try tables.map { table in
                "\(table) \(try Int.fetchOne(db, sql: "SELECT COUNT(*) FROM \(table)") ?? 0)"
            }
        }
        return counts.joined(separator: ", ")
    }

    /// Builds every known tool's function definition and checks it; see `ToolDefinitionCheck`.
    static func checkTools(timeoutMax: Duration) throws -> String {
        // The launcher is only named, never run, and the supervisor never asked: bash and propose_update are
        // offered, and so checked, only when both are set.
        let registry = ToolRegistry(
            workspace: "/nonexistent", allowlist: Configuration.toolNames, launcher: "autonous-sandbox",
            timeoutMax: timeoutMax, updates: NoSupervisor())
        return try ToolDefinitionCheck.verify(registry.definitionResults, configured: Configuration.toolNames)
    }

    /// Reads a file with a random line through the real read tool confined to DIR/workspace, and checks that a path
    /// outside that root (`../worker.db`) is refused.
    private func checkReadTool(outputLimit: Int) async throws -> String? {
        let workspace = scratch + "/workspace"
        try FileManager.default.createDirectory(atPath: workspace, withIntermediateDirectories: true)
        let token = UUID().uuidString.lowercased()
        let line = "autonous self-check \(token)"
        let file = "self-check-\(token).txt"
        guard FileManager.default.createFile(atPath: workspace + "/" + file, contents: Data("first\n\(line)\n".utf8))
        else {
            throw SelfCheckFailure("cannot write \(workspace)/\(file)")
        }
        defer { try? FileManager.default.removeItem(atPath: workspace + "/" + file) }
        let registry = ToolRegistry(
            workspace: workspace, allowlist: [ReadTool.name], launcher: nil, outputLimit: outputLimit)
        let read = await registry.run(
            ToolCall(
                id: "self-check-1", name: ReadTool.name, arguments: JSONValue.object(["path": .string(file)]).jsonText))
        guard read.ok, read.stdout.contains(line) else {
            throw SelfCheckFailure(
                "read \(file) did not return the line written to it: ok \(read.ok), stderr '\(read.stderr)'")
        }
        let escape = await registry.run(
            ToolCall(
                id: "self-check-2", name: ReadTool.name,
                arguments: JSONValue.object(["path": .string("../worker.db")]).jsonText))
        guard !escape.ok else {
            throw SelfCheckFailure("read ../worker.db, outside the workspace root, was not refused")
        }
        return nil
    }
}

/// Why a self-check failed, in one sentence.
struct SelfCheckFailure: Error, CustomStringConvertible {
    let description: String

    init(_ description: String) {
        self.description = description
    }
}

/// Stands in for the supervisor where the self-check builds the tool definitions; it is never called.
private struct NoSupervisor: UpdateProposing {
    func prepareWorkingCopy() async throws -> WorkerInterface.WorkingCopy {
        throw SelfCheckFailure("the self-check has no supervisor")
    }

    func proposeUpdate(_ request: WorkerInterface.ProposeUpdateRequest) async throws
        -> WorkerInterface.ProposeUpdateReply
    {
        throw SelfCheckFailure("the self-check has no supervisor")
    }
}

import AutonousCore
import Foundation
import GRDB
import Testing

@testable import Worker

/// `autonous-worker --self-check`: what the supervisor runs on a new revision before it replaces the running worker.
@Suite struct SelfCheckTests {
    /// A scratch directory like the one the supervisor prepares; removed afterwards.
    final class Scratch {
        private let directory: TemporaryDirectory
        var path: String { directory.path }
        init() throws {
            directory = try TemporaryDirectory(prefix: "self-check-")
        }

        var environment: [String: String] { ["AUTONOUS_STATE_DIR": path, "AUTONOUS_REVISION": "abc123"] }

        func run(_ environment: [String: String]? = nil) async -> SelfCheckReport {
            await SelfCheck(scratch: path, environment: environment ?? self.environment).run()
        }
    }

    @Test func aFreshScratchPassesEveryCheckAndGetsADatabase() async throws {
        let scratch = try Scratch()
        let report = await scratch.run()
        #expect(report.ok, "\(report.failureLines)")
        #expect(report.checks.map(\.name) == SelfCheck.Name.allCases)
        #expect(report.revision == "abc123")
        #expect(report[.migrations]?.detail == "inbox 0, outbox 0, messages 0")
        #expect(FileManager.default.fileExists(atPath: scratch.path + "/worker.db"))
        // The read check leaves no file of its own behind in the workspace.
        #expect(try FileManager.default.contentsOfDirectory(atPath: scratch.path + "/workspace").isEmpty)
    }

    @Test func aCopyOfALiveDatabaseMigratesAndKeepsItsRows() async throws {
        let scratch = try Scratch()
        let live = try Scratch()
        let database = try AppDatabase(path: live.path + "/worker.db", role: .worker)
        _ = try Inbox(database: database).store([
            NewInboxItem(updateID: 7, kind: "message", chatID: 1, userID: 1, text: "hi", payload: "{}")
        ])
        // A consistent single-file copy, as a backup of the live database would be.
        let copy = scratch.path + "/worker.db"
        try await database.pool.writeWithoutTransaction { db in
            try db.execute(sql: "VACUUM INTO ?", arguments: [copy])
        }
        let report = await scratch.run()
        #expect(report.ok, "\(report.failureLines)")
        #expect(report[.migrations]?.detail == "inbox 1, outbox 0, messages 0")
    }

    @Test func aCorruptDatabaseFailsTheMigrationsCheckWithItsPath() async throws {
        let scratch = try Scratch()
        let garbage = Data((0 ..< 65536).map { _ in UInt8.random(in: 0 ... 255) })
        try garbage.write(to: URL(fileURLWithPath: scratch.path + "/worker.db"))
        let report = await scratch.run()
        #expect(!report.ok)
        let migrations = try #require(report[.migrations])
        #expect(!migrations.ok)
        #expect(migrations.error?.contains("worker.db does not open and migrate") == true)
        #expect(migrations.error?.contains(scratch.path + "/worker.db") == true)
        // The other checks still ran and passed: the report names only what is wrong.
        #expect(report.checks.filter { !$0.ok }.map(\.name) == [.migrations])
        #expect(report.failureLines.count == 1)
    }

    @Test func aBadVariableIsAFailedConfigurationCheckNotACrash() async throws {
        let scratch = try Scratch()
        var environment = scratch.environment
        environment["AUTONOUS_MAX_CONCURRENT_RUNS"] = "0"
        let report = await scratch.run(environment)
        #expect(report.checks.filter { !$0.ok }.map(\.name) == [.configuration])
        #expect(report[.configuration]?.error?.contains("AUTONOUS_MAX_CONCURRENT_RUNS") == true)
    }

    @Test func telegramOnWithoutItsTokenNeedsNoSecret() async throws {
        let scratch = try Scratch()
        var environment = scratch.environment
        environment["AUTONOUS_TELEGRAM"] = "on"
        environment["AUTONOUS_TELEGRAM_ALLOWED_USERS"] = "1"
        let report = await scratch.run(environment)
        #expect(report.ok, "\(report.failureLines)")
        #expect(
            SelfCheck.withoutSecrets(["AUTONOUS_TELEGRAM_TOKEN": "t", "OPENAI_API_KEY": "k"]).keys.sorted()
                == ["AUTONOUS_TELEGRAM"])
    }

    @Test func theReportPrintsAMissingRevisionAsNull() throws {
        let report = SelfCheckReport(
            revision: nil, checks: [.init(name: .tools, ok: false, ms: 3, error: "bash: broken")])
        let decoded = try JSONCoding.decoder.decode(JSONValue.self, from: Data(report.jsonText.utf8))
        #expect(decoded["ok"] == .bool(false))
        #expect(decoded["revision"] == .null)
        guard case .array(let checks)? = decoded["checks"], let check = checks.first else {
            Issue.record("no checks in \(report.jsonText)")
            return
        }
        #expect(check["name"] == .string("tools"))
        #expect(check["error"] == .string("bash: broken"))
        #expect(check["ms"] == .int(3))
        #expect(check["detail"] == nil)
    }

    @Test func theScratchArgumentMustBeAnExistingAbsoluteDirectory() throws {
        let scratch = try Scratch()
        #expect(try SelfCheck.scratchDirectory(from: ["--scratch", scratch.path]).get() == scratch.path)
        #expect(try SelfCheck.scratchDirectory(from: ["--scratch=" + scratch.path]).get() == scratch.path)
        for arguments in [
            [], ["--scratch"], ["--scratch", "relative/dir"], ["--scratch", scratch.path + "/missing"],
            ["--scratch", scratch.path, "extra"], ["--other", scratch.path],
        ] {
            guard case .failure = SelfCheck.scratchDirectory(from: arguments) else {
                Issue.record("accepted \(arguments)")
                continue
            }
        }
        let file = scratch.path + "/file"
        #expect(FileManager.default.createFile(atPath: file, contents: Data()))
        guard case .failure(let error) = SelfCheck.scratchDirectory(from: ["--scratch", file]) else {
            Issue.record("accepted a file as the scratch directory")
            return
        }
        #expect(error.description.contains("not an existing directory"))
    }

    @Test func everyNativeToolDefinitionPasses() throws {
        let note = try SelfCheck.checkTools(timeoutMax: .seconds(600))
        #expect(note.hasPrefix("\(ToolRegistry.known.count) tools"))
    }

    @Test func aToolWhoseSchemaFailsFailsTheCheckByName() throws {
        let first = try #require(
            ToolRegistry(workspace: "/w", allowlist: ["read"], launcher: nil).definitionResults.first)
        let good = try first.definition.get()
        let broken: JSONValue = .object([
            "type": .string("function"),
            "function": .object(["name": .string("ls"), "parameters": .object(["type": .string("array")])]),
        ])
        let results: [(name: String, definition: Result<JSONValue, ToolRegistry.DefinitionError>)] = [
            ("read", .success(good)),
            ("grep", .failure(.init(tool: "grep", reason: "its schema is not JSON"))),
            ("ls", .success(broken)),
            ("read", .success(good)),
        ]
        #expect {
            try ToolDefinitionCheck.verify(results, configured: Configuration.toolNames, native: ["read"])
        } throws: { error in
            let text = "\(error)"
            return text.contains("grep: its schema is not JSON") && text.contains("ls: its parameters schema has type")
                && text.contains("read: the name is offered twice")
        }
        #expect(throws: SelfCheckFailure.self) {
            try ToolDefinitionCheck.verify([("read", .success(good))], configured: ["ls"], native: ["read"])
        }
    }

    @Test func theWorkerInterfaceDescriptionPassesAndABrokenOneFails() throws {
        #expect(
            try VarlinkIDLCheck.verify(
                WorkerInterface.description, interface: WorkerInterface.name, methods: SelfCheck.workerMethods) == nil)
        let withoutRollback = WorkerInterface.description.replacingOccurrences(
            of: "method RequestRollback", with: "method RequestSomethingElse")
        #expect {
            try VarlinkIDLCheck.verify(withoutRollback, interface: WorkerInterface.name, methods: ["RequestRollback"])
        } throws: { "\($0)".contains("does not declare RequestRollback") }
        #expect(throws: SelfCheckFailure.self) {
            try VarlinkIDLCheck.verify(
                "interface io.autonous.Worker\nmethod Ready( -> ()\n", interface: WorkerInterface.name, methods: [])
        }
        #expect(throws: SelfCheckFailure.self) {
            try VarlinkIDLCheck.verify("method Ready() -> ()\n", interface: WorkerInterface.name, methods: [])
        }
    }
}

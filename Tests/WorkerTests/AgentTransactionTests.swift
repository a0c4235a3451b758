import AutonousCore
import Foundation
import GRDB
import Logging
import Synchronization
import Testing

@testable import Worker

/// Each step of a run commits its records in one write transaction: the run's start; each model call's start with
/// its spend reservation; each model call's end with what follows it (the first batch of tool call starts, or the
/// run's end); each batch of tool results with the next batch's starts. Counted with a transaction observer on the
/// worker's database, so a write that slips out of its step's transaction shows here.
@Suite struct AgentTransactionTests {
    /// Counts the commits that changed something, and which tables each one wrote.
    private final class CommitCounter: TransactionObserver, Sendable {
        private let state = Mutex<(tables: Set<String>, commits: [Set<String>])>(([], []))

        var commits: [Set<String>] { state.withLock { $0.commits } }

        func observes(eventsOfKind eventKind: DatabaseEventKind) -> Bool { true }

        func databaseDidChange(with event: DatabaseEvent) {
            state.withLock { _ = $0.tables.insert(event.tableName) }
        }

        func databaseDidCommit(_ db: Database) {
            state.withLock { state in
                if !state.tables.isEmpty { state.commits.append(state.tables) }
                state.tables = []
            }
        }

        func databaseDidRollback(_ db: Database) {
            state.withLock { $0.tables = [] }
        }
    }

    private static func counting(_ fixture: AgentTestSupport.Fixture) -> CommitCounter {
        let counter = CommitCounter()
        fixture.database.pool.add(transactionObserver: counter, extent: .databaseLifetime)
        return counter
    }

    @Test func aPlainAnswerIsThreeTransactions() async throws {
        let fixture = try AgentTestSupport.Fixture()
        let agent = fixture.agent(
            script: try AgentTestSupport.script([
                #"{"text": "hello", "usage": {"input_tokens": 9, "output_tokens": 1}}"#
            ]))
        let counter = Self.counting(fixture)
        let outcome = try await agent.run(fixture.request("hi"))
        #expect(outcome.reply == "hello")

        let commits = counter.commits
        #expect(commits.count == 3, "start, the call's admission, the call's end with the run's: \(commits)")
        #expect(commits.first == ["events", "runs", "messages"])
        #expect(commits.dropFirst().first == ["events", "spend_ledger"], "turn.started with the reservation")
        #expect(commits.last?.isSuperset(of: ["spend_ledger", "model_calls", "messages", "events", "runs"]) == true)
        let ledger = try fixture.rows("SELECT state, tokens FROM spend_ledger")
        #expect(ledger.map { $0["state"] as String? } == ["settled"])
        #expect(ledger.first?["tokens"] as Int? == 10)
        let types = try EventLog(database: fixture.database).events(typePrefix: "").map(\.type)
        #expect(types == ["agent.started", "turn.started", "turn.completed", "agent.completed"])
    }

    @Test func aTurnWithABatchOfReadsAddsOneTransactionForTheBatch() async throws {
        let fixture = try AgentTestSupport.Fixture()
        let workspace = FileManager.default.temporaryDirectory.appendingPathComponent("agent-tx-" + UUID().uuidString)
        try FileManager.default.createDirectory(at: workspace, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: workspace) }
        try Data("alpha\n".utf8).write(to: workspace.appendingPathComponent("a.txt"))

        var agent = fixture.agent(
            script: try AgentTestSupport.script([
                #"{"tool_calls": [{"id": "c1", "name": "ls", "arguments": {"path": "."}}, "#
                    + #"{"id": "c2", "name": "read", "arguments": {"path": "a.txt"}}]}"#,
                #"{"text": "one file, alpha"}"#,
            ]))
        agent.tools = ToolRegistry(workspace: workspace.path, allowlist: ["ls", "read"], launcher: nil)
        agent.gate = ToolGate(
            policy: ToolPolicy.defaults, approvals: Approvals(database: fixture.database), timeout: .seconds(60),
            announcer: nil, waiters: ApprovalWaiters(), logger: Logger(label: "test"))
        let counter = Self.counting(fixture)
        let outcome = try await agent.run(fixture.request("what is there?"))
        #expect(outcome.reply == "one file, alpha")

        let commits = counter.commits
        // start; turn 1's admission; turn 1's end with both tool call starts; the batch's results; turn 2's
        // admission; turn 2's end with the run's.
        #expect(commits.count == 6, "\(commits)")
        let log = EventLog(database: fixture.database)
        let types = try log.events(typePrefix: "").map(\.type)
        #expect(
            types == [
                "agent.started", "turn.started", "turn.completed", "tool_call.started", "tool_call.started",
                "tool_call.completed", "tool_call.completed", "turn.started", "turn.completed", "agent.completed",
            ])
        let messages = try fixture.rows("SELECT role, tool_call_id FROM messages ORDER BY id")
        #expect(messages.map { $0["role"] as String? } == ["user", "assistant", "tool", "tool", "assistant"])
        #expect(messages.map { $0["tool_call_id"] as String? } == [nil, nil, "c1", "c2", nil])
        let ledger = try fixture.rows("SELECT state FROM spend_ledger")
        #expect(ledger.map { $0["state"] as String? } == ["settled", "settled"])
    }

    @Test func aRetriedAttemptCommitsItsCloseWithItsRetryEvent() async throws {
        let fixture = try AgentTestSupport.Fixture()
        let agent = fixture.agent(
            script: try AgentTestSupport.script([
                #"{"error": {"status": 500, "message": "busy"}}"#, #"{"text": "there"}"#,
            ]))
        let counter = Self.counting(fixture)
        let outcome = try await agent.run(fixture.request("hi"))
        #expect(outcome.reply == "there")

        let commits = counter.commits
        #expect(commits.count == 5, "start, admission, the failed attempt, admission, end: \(commits)")
        #expect(commits.dropFirst(2).first == ["spend_ledger", "events"], "the release with model.call.retry")
        let ledger = try fixture.rows("SELECT state, error_class FROM spend_ledger ORDER BY id")
        #expect(ledger.map { $0["state"] as String? } == ["released", "settled"])
        #expect(ledger.first?["error_class"] as String? == "server")
        let types = try EventLog(database: fixture.database).events(typePrefix: "").map(\.type)
        #expect(types == ["agent.started", "turn.started", "model.call.retry", "turn.completed", "agent.completed"])
    }

    @Test func aCallRefusedBeforeTheLedgerEndsTheRunInOneTransaction() async throws {
        let fixture = try AgentTestSupport.Fixture()
        let base = fixture.agent(script: try AgentTestSupport.script([#"{"text": "never"}"#]))
        let agent = Agent(
            database: base.database, model: base.model, context: base.context, parentEventID: 0,
            control: AgentControl(
                settings: AgentControl.Settings(dailyBudget: DailyBudget(tokens: 0)),
                ledger: SpendLedger(database: fixture.database)),
            counters: WorkerCounters(), logger: Logger(label: "test"))
        let counter = Self.counting(fixture)
        let outcome = try await agent.run(fixture.request("hi"))
        #expect(!outcome.succeeded)

        let commits = counter.commits
        #expect(commits.count == 2, "start, then the refused turn with the run's stop: \(commits)")
        let types = try EventLog(database: fixture.database).events(typePrefix: "").map(\.type)
        #expect(types == ["agent.started", "turn.started", "model.call.refused", "agent.stopped"])
        let refused = try #require(try fixture.events("model.call.refused").first)
        let turn = try #require(try fixture.events("turn.started").first)
        #expect(refused.parentID == turn.id)
        #expect(try fixture.rows("SELECT id FROM spend_ledger").isEmpty)
    }

    private struct DeliveryRefused: Error {}

    @Test func aCallWhoseRecordFailsStillClosesItsReservation() async throws {
        let fixture = try AgentTestSupport.Fixture()
        let agent = fixture.agent(
            script: try AgentTestSupport.script([
                #"{"text": "hello", "usage": {"input_tokens": 9, "output_tokens": 1}}"#
            ]))
        await #expect(throws: DeliveryRefused.self) {
            _ = try await agent.run(fixture.request("hi"), persist: { _, _ in throw DeliveryRefused() })
        }
        // The call's end (record, reply, run's end) rolled back with the delivery; the reservation was closed
        // with the usage the model reported instead of counting its worst case until the next start.
        let ledger = try fixture.rows("SELECT state, tokens FROM spend_ledger")
        #expect(ledger.map { $0["state"] as String? } == ["settled"])
        #expect(ledger.first?["tokens"] as Int? == 10)
        #expect(try fixture.rows("SELECT id FROM model_calls").isEmpty)
        #expect(try fixture.events("agent.completed").isEmpty)
    }

    /// Makes every insert of an event of `type` fail, as a full disk or a broken database would.
    private static func refuseEvents(_ type: String, in fixture: AgentTestSupport.Fixture) throws {
        try fixture.database.pool.write { db in
            try db.execute(
                sql: """
                    CREATE TEMP TRIGGER refuse_\(type.replacingOccurrences(of: ".", with: "_"))
                    BEFORE INSERT ON main.events WHEN NEW.type = '\(type)'
                    BEGIN SELECT RAISE(ABORT, 'refused by the test'); END
                    """)
        }
    }

    @Test func aHarderCompressionWhoseRecordFailsStillClosesTheReservation() async throws {
        let fixture = try AgentTestSupport.Fixture()
        try fixture.remember(ContextRetryTests.longHistory())
        let agent = fixture.agent(
            script: try AgentTestSupport.script([ContextRetryTests.tooLong, #"{"text": "never asked for"}"#]))
        try Self.refuseEvents("context.compressed", in: fixture)
        await #expect(throws: DatabaseError.self) { _ = try await agent.run(fixture.request("and now?")) }
        // The release rolled back with the compression's record, and was then written on its own.
        let ledger = try fixture.rows("SELECT state, error_class FROM spend_ledger")
        #expect(ledger.map { $0["state"] as String? } == ["released"])
        #expect(ledger.first?["error_class"] as String? == "context_length_exceeded")
    }

    @Test func aRetryWhoseRecordFailsStillClosesTheFailedAttempt() async throws {
        let fixture = try AgentTestSupport.Fixture()
        let agent = fixture.agent(
            script: try AgentTestSupport.script([
                #"{"error": {"status": 500, "message": "busy"}}"#, #"{"text": "there"}"#,
            ]))
        try Self.refuseEvents("model.call.retry", in: fixture)
        let outcome = try await agent.run(fixture.request("hi"))
        #expect(outcome.reply == "there")
        let ledger = try fixture.rows("SELECT state, error_class FROM spend_ledger ORDER BY id")
        #expect(ledger.map { $0["state"] as String? } == ["released", "settled"])
        #expect(ledger.first?["error_class"] as String? == "server")
        #expect(try fixture.events("model.call.retry").isEmpty)
    }
}

import Foundation
import GRDB
import Testing

@testable import AutonousCore

/// Conversation history with tool turns, and the `runs` table: what the agent loop stores and reads back.
@Suite struct AgentHistoryTests {
    private static func call(_ id: String) -> StoredToolCall {
        StoredToolCall(id: id, name: "read", arguments: #"{"path":"a"}"#)
    }

    private static func result(_ id: String) -> ConversationMessage {
        ConversationMessage(role: .tool, content: #"{"ok":true}"#, toolCallID: id, toolName: "read")
    }

    @Test func aToolTurnIsStoredAndReadBackWhole() throws {
        let fixture = try TemporaryDatabase()
        let turn: [ConversationMessage] = [
            .init(role: .user, content: "what is in a?"),
            .init(role: .assistant, content: nil, toolCalls: [Self.call("c1"), Self.call("c2")]),
            Self.result("c1"), Self.result("c2"),
            .init(role: .assistant, content: "a holds two things."),
        ]
        try fixture.database.pool.write { db in
            for message in turn {
                try ConversationStore.append(db, conversationID: "c", message, inboxID: nil, runID: "r1")
            }
        }
        #expect(try ConversationStore(database: fixture.database).recent(conversationID: "c", limit: 10) == turn)
    }

    @Test func historyIsMadeWholeForTheAPI() {
        let assistant = ConversationMessage(
            role: .assistant, content: nil, toolCalls: [Self.call("c1"), Self.call("c2")])
        // A window that starts inside a tool turn drops the orphaned results.
        #expect(
            ConversationStore.wellFormed([Self.result("c0"), .init(role: .user, content: "hi")])
                == [.init(role: .user, content: "hi")])
        // A call an interrupted run never answered is dropped; the answered one stays with its result.
        var kept = assistant
        kept.toolCalls = [Self.call("c1")]
        #expect(
            ConversationStore.wellFormed([assistant, Self.result("c1"), .init(role: .user, content: "next")])
                == [kept, Self.result("c1"), .init(role: .user, content: "next")])
        // No call answered and no text: the assistant message goes too.
        #expect(
            ConversationStore.wellFormed([assistant, .init(role: .user, content: "x")]) == [
                .init(role: .user, content: "x")
            ])
        // A result that does not follow its call, or answers a call twice, is dropped.
        #expect(
            ConversationStore.wellFormed([assistant, Self.result("c1"), Self.result("c1"), Self.result("c2")])
                == [assistant, Self.result("c1"), Self.result("c2")])
        #expect(
            ConversationStore.wellFormed([assistant, .init(role: .user, content: "x"), Self.result("c1")])
                == [.init(role: .user, content: "x")])
    }

    @Test func aRetriedInboxRowKeepsItsUserMessageAndReplacesTheEarlierAttemptsTurns() throws {
        let fixture = try TemporaryDatabase()
        _ = try Inbox(database: fixture.database).store([
            NewInboxItem(updateID: 1, kind: "message", chatID: 1, userID: 1, text: "hi", payload: "{}")
        ])
        let inboxID = try #require(try Inbox(database: fixture.database).claimNext(runID: "first")?.id)
        try fixture.database.pool.write { db in
            try RunLog.start(
                db,
                RunRecord(
                    id: "first", conversationID: "c", inboxID: inboxID, commander: "telegram",
                    requestedBy: "telegram:1", startedMs: 1))
            try ConversationStore.append(
                db, conversationID: "c", .init(role: .user, content: "hi"), inboxID: inboxID, runID: "first")
            try ConversationStore.append(
                db, conversationID: "c", .init(role: .assistant, content: nil, toolCalls: [Self.call("c1")]),
                inboxID: inboxID, runID: "first")
        }
        // The worker died; the retry starts a run of its own.
        try fixture.database.pool.write { db in
            try RunLog.start(
                db,
                RunRecord(
                    id: "second", conversationID: "c", inboxID: inboxID, commander: "telegram",
                    requestedBy: "telegram:1", startedMs: 2))
            try ConversationStore.discardEarlierAttempts(db, inboxID: inboxID, keepingRun: "second")
            try ConversationStore.append(
                db, conversationID: "c", .init(role: .user, content: "hi"), inboxID: inboxID, runID: "second")
            try ConversationStore.append(
                db, conversationID: "c", .init(role: .assistant, content: "hello"), inboxID: inboxID, runID: "second")
            try RunLog.finish(db, runID: "second", status: .answered, stopReason: "answered", endedMs: 3)
        }
        let rows = try fixture.database.pool.read { db in
            try Row.fetchAll(db, sql: "SELECT role, content, run_id FROM messages ORDER BY id")
        }
        #expect(
            rows.map { [$0["role"], $0["content"], $0["run_id"]] as [String?] } == [
                ["user", "hi", "first"], ["assistant", "hello", "second"],
            ])
        let runs = try fixture.database.pool.read { db in try RunLog.list(db) }
        #expect(runs.map(\.id) == ["second", "first"])
        #expect(runs.map(\.status) == [.answered, .interrupted])
        #expect(runs.map(\.endedMs) == [3, 2])
    }

    @Test func aRunCountsItsCallsAndEndsOnce() throws {
        let fixture = try TemporaryDatabase()
        try fixture.database.pool.write { db in
            try RunLog.start(
                db,
                RunRecord(
                    id: "r", conversationID: "c", inboxID: nil, commander: "local", requestedBy: "local", startedMs: 1))
            try RunLog.countModelCall(
                db, runID: "r", usage: TokenUsage(input: 100, output: 20, cached: 50, reasoning: 5), costUSD: 0.5,
                newTurn: true)
            try RunLog.countModelCall(
                db, runID: "r", usage: TokenUsage(input: 130, output: 10), costUSD: nil, newTurn: false)
            try RunLog.countToolCalls(db, runID: "r", count: 3)
            try RunLog.finish(db, runID: "r", status: .stopped, stopReason: "max_turns", endedMs: 9)
            try RunLog.finish(db, runID: "r", status: .failed, stopReason: "model_error", endedMs: 10)
        }
        let run = try #require(try fixture.database.pool.read { db in try RunLog.fetch(db, id: "r") })
        #expect(run.turns == 1 && run.modelCalls == 2 && run.toolCalls == 3)
        #expect(run.inputTokens == 230 && run.outputTokens == 30 && run.cachedTokens == 50 && run.reasoningTokens == 5)
        #expect(run.costUSD == 0.5)
        #expect(run.status == .stopped && run.stopReason == "max_turns" && run.endedMs == 9, "the first ending stays")
    }

    @Test func aWorkerStartMarksRunsLeftRunningInterrupted() throws {
        let fixture = try TemporaryDatabase()
        let interrupted = try fixture.database.pool.write { db in
            try RunLog.start(
                db,
                RunRecord(
                    id: "a", conversationID: "c", inboxID: nil, commander: "local", requestedBy: "local", startedMs: 1))
            try RunLog.start(
                db,
                RunRecord(
                    id: "b", conversationID: "c", inboxID: nil, commander: "local", requestedBy: "local", startedMs: 2))
            try RunLog.finish(db, runID: "b", status: .answered, stopReason: "answered", endedMs: 3)
            return try RunLog.interruptAbandoned(db, now: 4)
        }
        #expect(interrupted == 1)
        let a = try #require(try fixture.database.pool.read { db in try RunLog.fetch(db, id: "a") })
        #expect(a.status == .interrupted && a.stopReason == "interrupted" && a.endedMs == 4)
    }

    /// History written before tool turns were kept (user and assistant rows only) survives the table's rebuild.
    @Test func historyFromBeforeTheRebuildIsKept() throws {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("db-" + UUID().uuidString).path
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let queue = try DatabaseQueue(path: directory + "/worker.db")
        try AppDatabase.workerMigrator.migrate(queue, upTo: "w3-outbox-reply-markup")
        try queue.write { db in
            try db.execute(
                sql: """
                    INSERT INTO messages (conversation_id, role, content, inbox_id, run_id, ts_ms)
                    VALUES ('c', 'user', 'old question', NULL, 'r0', 1), ('c', 'assistant', 'old answer', NULL, 'r0', 2)
                    """)
        }
        try queue.close()
        let database = try AppDatabase(path: directory + "/worker.db", role: .worker)
        #expect(
            try ConversationStore(database: database).recent(conversationID: "c", limit: 10) == [
                .init(role: .user, content: "old question"), .init(role: .assistant, content: "old answer"),
            ])
        // The rebuilt table keeps its rules: a tool result names the call it answers.
        #expect(throws: DatabaseError.self) {
            try database.pool.write { db in
                try ConversationStore.append(
                    db, conversationID: "c", Self.result("x").withID(nil), inboxID: nil, runID: "r1")
            }
        }
    }
}

extension ConversationMessage {
    /// The message with its call id replaced (a tool message without one breaks the table's rule).
    fileprivate func withID(_ id: String?) -> ConversationMessage {
        var copy = self
        copy.toolCallID = id
        return copy
    }
}

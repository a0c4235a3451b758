import AutonousCore
import Foundation
import GRDB
import Logging
import Synchronization
import Testing

@testable import Worker

/// A stand-in supervisor for /rollback: records each request and answers with `result`.
private final class FakeRollbacks: RollbackRequesting {
    let requests = Mutex<[WorkerInterface.RollbackRequest]>([])
    let result: Result<WorkerInterface.RollbackReply, VarlinkError>

    init(_ result: Result<WorkerInterface.RollbackReply, VarlinkError>) {
        self.result = result
    }

    func requestRollback(_ request: WorkerInterface.RollbackRequest) async throws -> WorkerInterface.RollbackReply {
        requests.withLock { $0.append(request) }
        return try result.get()
    }
}

/// `/rollback [REVISION]` from Telegram: what is relayed to the supervisor, and what the admin reads back.
@Suite struct RollbackCommandTests {
    static let sha = String(repeating: "ab", count: 32)

    @Test func aWellFormedCommandNamesItsTarget() {
        #expect(RollbackCommand.parse("/rollback") == .request(target: nil))
        #expect(RollbackCommand.parse("  /rollback  ") == .request(target: nil))
        #expect(RollbackCommand.parse("/rollback 0123abcd") == .request(target: "0123abcd"))
        #expect(RollbackCommand.parse("/rollback@autonous_bot 0123abcd") == .request(target: "0123abcd"))
        #expect(RollbackCommand.parse("/rollback \(Self.sha)") == .request(target: Self.sha))
    }

    @Test func aBadArgumentIsMalformed() {
        for text in [
            "/rollback 0123abc", "/rollback 0123ABCD", "/rollback \(Self.sha)0", "/rollback 0123abcg",
            "/rollback 0123abcd extra", "/rollback last-good",
        ] {
            #expect(RollbackCommand.parse(text) == .malformed, "\(text)")
        }
    }

    @Test func otherTextIsNotTheCommand() {
        for text in ["", "rollback", "/rollbacks", "please /rollback", "/start", "/roll back"] {
            #expect(RollbackCommand.parse(text) == nil, "\(text)")
        }
    }

    @Test func onlyAnAdminIsRelayedAndOnlyWithAGoodArgument() {
        let relay = RollbackRelay(admins: [42], requester: nil)
        #expect(
            relay.decide(.request(target: "0123abcd"), from: 7)
                == .answer(text: RollbackRelay.notAnAdmin, outcome: "rollback_not_admin"))
        #expect(
            relay.decide(.malformed, from: 7) == .answer(text: RollbackRelay.notAnAdmin, outcome: "rollback_not_admin"))
        #expect(relay.decide(.malformed, from: 42) == .answer(text: RollbackCommand.usage, outcome: "rollback_usage"))
        #expect(
            relay.decide(.request(target: "0123abcd"), from: 42)
                == .relay(.init(requestedBy: 42, target: "0123abcd")))
        #expect(relay.decide(.request(target: nil), from: 42) == .relay(.init(requestedBy: 42, target: nil)))
    }

    @Test func theSupervisorsMessageIsTheAnswer() async {
        let supervisor = FakeRollbacks(
            .success(.init(revision: Self.sha, message: "Rolling back to abababab (last-good); it is starting.")))
        let relay = RollbackRelay(admins: [42], requester: supervisor)
        let answer = await relay.relay(.init(requestedBy: 42, target: nil))
        #expect(answer == .init(text: "Rolling back to abababab (last-good); it is starting.", revision: Self.sha))
        #expect(supervisor.requests.withLock { $0 } == [.init(requestedBy: 42, target: nil)])
    }

    @Test func aRefusalIsOneClearSentence() async {
        let cases: [(VarlinkError, String)] = [
            (
                VarlinkError("io.autonous.Worker.RollbackRefused", ["message": .string("nothing to roll back to")]),
                "Rollback refused: nothing to roll back to."
            ),
            (
                VarlinkError("io.autonous.Worker.NotAnAdmin", ["requestedBy": .int(42)]),
                "The supervisor refused: you are not in its AUTONOUS_TELEGRAM_ADMINS."
            ),
            (
                VarlinkError("io.autonous.Control.NoSuchRevision", ["revision": .string("0123abcd")]),
                "Rollback refused: no revision matches 0123abcd."
            ),
            (
                VarlinkError("io.autonous.Worker.InternalError", ["message": .string("disk full.")]),
                "The supervisor could not roll back: disk full."
            ),
        ]
        for (error, sentence) in cases {
            let relay = RollbackRelay(admins: [42], requester: FakeRollbacks(.failure(error)))
            let answer = await relay.relay(.init(requestedBy: 42, target: "0123abcd"))
            #expect(answer.text == sentence)
            #expect(answer.revision == nil)
            #expect(answer.error == error.description)
        }
        let unlinked = await RollbackRelay(admins: [42], requester: nil).relay(.init(requestedBy: 42, target: nil))
        #expect(unlinked.revision == nil)
        #expect(unlinked.text.contains("No supervisor"))
    }
}

/// /rollback through the Telegram commander: the relay, its events and the stored answer, and that a row a
/// restart requeued after the relay is answered but never relayed again. Telegram is a closed port here, so the
/// answer stays in the outbox (postponed), which is what a rollback's own restart leaves too.
@Suite struct TelegramRollbackTests {
    final class Fixture {
        private let store: TemporaryWorkerDatabase
        var database: AppDatabase { store.database }
        init() throws {
            store = try TemporaryWorkerDatabase(prefix: "rollback-")
        }

        func commander(_ requester: any RollbackRequesting) throws -> TelegramCommander {
            let logger = Logger(label: "test")
            let policy = RetryPolicy(attempts: 1, baseDelay: .milliseconds(1), maxDelay: .milliseconds(1))
            let agent = Agent(
                database: database, model: nil,
                context: ContextPipeline.make(ContextSettings(), database: database, systemPromptPath: "/nonexistent"),
                parentEventID: 0,
                control: AgentControl(settings: AgentControl.Settings(), ledger: SpendLedger(database: database)),
                counters: WorkerCounters(), logger: logger)
            return TelegramCommander(
                client: TelegramClient(
                    apiURL: try #require(URL(string: "http://127.0.0.1:1")), token: Secret("123:test"),
                    transport: HTTPTransport()),
                database: database, agent: agent, allowedUsers: [42, 7], parentEventID: 0, sendPolicy: policy,
                counters: WorkerCounters(), doorbell: Doorbell(), maxConcurrentRuns: 1, logger: logger, admins: [42],
                rollback: requester)
        }

        /// Stores `text` from user 42 and claims it, as the dispatcher would.
        func claim(_ text: String, updateID: Int64 = 1) throws -> InboxItem {
            let inbox = Inbox(database: database)
            _ = try inbox.store([
                NewInboxItem(updateID: updateID, kind: "message", chatID: 42, userID: 42, text: text, payload: "{}")
            ])
            return try #require(try inbox.claimNext(runID: "run-\(updateID)"))
        }

        func answer(_ commander: TelegramCommander, _ item: InboxItem) async throws {
            let command = try #require(RollbackCommand.parse(item.text ?? ""))
            await #expect(throws: TelegramCommander.DeferredDelivery.self) {
                try await commander.answerRollback(
                    command, item: item, userID: 42, chatID: 42, conversationID: "telegram:42",
                    context: EventContext(parentID: 0))
            }
        }
    }

    @Test func anAdminsRollbackIsRelayedOnceRecordedAndAnswered() async throws {
        let fixture = try Fixture()
        let supervisor = FakeRollbacks(.success(.init(revision: "ab12", message: "Rolling back to ab12cd34.")))
        let commander = try fixture.commander(supervisor)
        let item = try fixture.claim("/rollback ab12cd34")
        try await fixture.answer(commander, item)
        #expect(supervisor.requests.withLock { $0 } == [.init(requestedBy: 42, target: "ab12cd34")])
        #expect(
            try Outbox(database: fixture.database).pending(forInbox: item.id).map(\.text) == [
                "Rolling back to ab12cd34."
            ])
        let events = try EventLog(database: fixture.database).events(typePrefix: "rollback.")
        #expect(events.map(\.type) == [EventType.rollbackRequested.rawValue, EventType.rollbackAnswered.rawValue])
        #expect(events.first?.payload["target"] == .string("ab12cd34"))
        #expect(events.first?.payload["requested_by"] == .int(42))
        #expect(events.last?.payload["revision"] == .string("ab12"))
    }

    @Test func aRollbackRequeuedAfterItsRelayIsNotRelayedAgain() async throws {
        let fixture = try Fixture()
        let supervisor = FakeRollbacks(.success(.init(revision: "ab12", message: "Rolling back.")))
        let first = try fixture.claim("/rollback")
        // The worker died after the relay and before it stored the answer: the row carries the relay's mark.
        try await fixture.database.pool.write { db in
            try db.execute(
                sql: "UPDATE inbox SET outcome = ? WHERE id = ?",
                arguments: [TelegramCommander.rollbackRelayedOutcome, first.id])
        }
        _ = try Inbox(database: fixture.database).requeueInterrupted()
        let requeued = try #require(try Inbox(database: fixture.database).claimNext(runID: "again"))
        try await fixture.answer(try fixture.commander(supervisor), requeued)
        #expect(supervisor.requests.withLock { $0 }.isEmpty)
        let answer = try Outbox(database: fixture.database).pending(forInbox: requeued.id).map(\.text)
        #expect(answer.count == 1)
        #expect(answer.first?.contains("is not sent again") == true)
    }

    @Test func aNonAdminIsRefusedAndNothingIsRelayed() async throws {
        let fixture = try Fixture()
        let supervisor = FakeRollbacks(.success(.init(revision: "ab12", message: "Rolling back.")))
        let commander = try fixture.commander(supervisor)
        let inbox = Inbox(database: fixture.database)
        _ = try inbox.store([
            NewInboxItem(updateID: 5, kind: "message", chatID: 7, userID: 7, text: "/rollback", payload: "{}")
        ])
        let item = try #require(try inbox.claimNext(runID: "r"))
        await #expect(throws: TelegramCommander.DeferredDelivery.self) {
            try await commander.answerRollback(
                .request(target: nil), item: item, userID: 7, chatID: 7, conversationID: "telegram:7",
                context: EventContext(parentID: 0))
        }
        #expect(supervisor.requests.withLock { $0 }.isEmpty)
        #expect(
            try Outbox(database: fixture.database).pending(forInbox: item.id).map(\.text) == [RollbackRelay.notAnAdmin])
        let events = try EventLog(database: fixture.database).events(typePrefix: "rollback.")
        #expect(events.map(\.type) == [EventType.rollbackRefused.rawValue])
    }
}

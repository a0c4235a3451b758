import AutonousCore
import Foundation
import GRDB
import Testing

/// The whole daemon (real supervisor, real worker, real SQLite) against the fake Telegram and OpenAI servers.
@Suite("Telegram end to end", .serialized, .timeLimit(.minutes(5)))
struct TelegramEndToEndTests {
    @Test func allowedUserGetsTheModelsAnswerAndStrangerIsIgnoredAndRecorded() async throws {
        let fakes = try Fakes()
        let daemon = try Daemon(fakes: fakes)
        #expect(await daemon.waitUntilReady() != nil, "worker never became ready:\n\(daemon.log)")

        try await fakes.sendUserMessage(from: 999, text: "let me in")
        let last = try await fakes.sendUserMessage(from: 111, text: "hello there")
        let lastUpdateID = try #require(last["update_id"]?.intValue)
        #expect(try await fakes.waitForSent(1), "no reply was sent:\n\(daemon.log)")

        let sent = try await fakes.sentMessages()
        #expect(sent.count == 1)
        #expect(sent.first?["text"] == .string("echo: hello there"))
        #expect(sent.first?["chat"]?["id"] == .int(111))

        // The stranger's update is stored, marked done as ignored, recorded as an event, and never answered.
        let database = try daemon.database()
        let strangerHandled = try await eventually {
            try database.pool.read { db in
                try String.fetchOne(db, sql: "SELECT outcome FROM inbox WHERE user_id = 999") == "ignored_stranger"
            }
        }
        #expect(strangerHandled)
        let ignored = try daemon.events("telegram.update.ignored")
        #expect(ignored.count == 1)
        #expect(ignored.first?.payload["user_id"] == .int(999))
        // What proves nothing will be sent to the stranger: its row is done and no reply chunk was stored for it.
        let strangerChunks = try await database.pool.read { db in
            try Int.fetchOne(
                db, sql: "SELECT count(*) FROM outbox o JOIN inbox i ON i.id = o.inbox_id WHERE i.user_id = 999")
        }
        #expect(strangerChunks == 0)
        #expect(try await fakes.sentMessages().count == 1, "the stranger must get nothing")

        // The offset only moves past an update once it is stored: the first poll has none, later ones are one past
        // the highest stored update, never beyond.
        let offsetsStored = try await eventually(timeout: .seconds(10)) {
            guard case .array(let offsets) = try await fakes.request(port: fakes.telegramPort, "GET", "/_fake/offsets")
            else { return false }
            return offsets.contains(.int(lastUpdateID + 1))
        }
        #expect(offsetsStored)
        guard case .array(let offsets) = try await fakes.request(port: fakes.telegramPort, "GET", "/_fake/offsets")
        else { return }
        #expect(offsets.first == .null)
        #expect(offsets.allSatisfy { ($0.intValue ?? 0) <= lastUpdateID + 1 })
        let stored = try await database.pool.read { db in try Int.fetchOne(db, sql: "SELECT MAX(update_id) FROM inbox")
        }
        #expect(stored.map(Int64.init) == lastUpdateID)

        // The model saw the system prompt first, then the user's message, with the key as a bearer token.
        let modelRequests = try await fakes.openAIRequests()
        #expect(modelRequests.count == 1)
        #expect(modelRequests.first?["headers"]?["authorization"] == .string("Bearer \(Fakes.openAIKey)"))
        guard case .array(let messages)? = modelRequests.first?["body"]?["messages"] else {
            Issue.record("no messages in the model request")
            return
        }
        #expect(messages.first?["role"] == .string("system"))
        #expect(messages.last?["content"] == .string("hello there"))

        // The events form the tree process → worker → agent → turn.
        let events = try daemon.events()
        let byID = Dictionary(uniqueKeysWithValues: events.map { ($0.id, $0) })
        let turn = try #require(events.first { $0.type == "turn.completed" })
        var chain: [String] = []
        var cursor: EventRecord? = turn
        while let event = cursor {
            chain.append(event.type)
            cursor = event.parentID.flatMap { byID[$0] }
        }
        #expect(chain == ["turn.completed", "turn.started", "agent.started", "worker.spawning", "process.started"])
        let agent = try #require(events.first { $0.type == "agent.started" })
        #expect(agent.runID != nil)
        #expect(agent.conversationID == "telegram:111")
        #expect(events.contains { $0.type == "agent.completed" && $0.parentID == agent.id })

        // A model_calls row with the usage the API reported.
        let call = try await database.pool.read { db in
            try Row.fetchOne(db, sql: "SELECT * FROM model_calls WHERE run_id = ?", arguments: [agent.runID])
        }
        let row = try #require(call)
        #expect(row["model"] as String == "gpt-fake")
        #expect(row["status"] as String == "ok")
        #expect((row["input_tokens"] as Int?) ?? 0 > 0)
        #expect((row["output_tokens"] as Int?) ?? 0 > 0)
        #expect((row["latency_ms"] as Int?) != nil)

        // Inbox and outbox are settled.
        let pending = try await database.pool.read { db in
            try Int.fetchOne(db, sql: "SELECT COUNT(*) FROM inbox WHERE status IN ('queued', 'in_progress')") ?? -1
        }
        #expect(pending == 0)
        let unsent = try await database.pool.read { db in
            try Int.fetchOne(db, sql: "SELECT COUNT(*) FROM outbox WHERE status != 'sent'") ?? -1
        }
        #expect(unsent == 0)
        #expect(await daemon.stop() == 0)
    }

    @Test func statusShowsTheWorkersHeartbeatAndProgressAfterAMessage() async throws {
        let fakes = try Fakes()
        let daemon = try Daemon(fakes: fakes)
        #expect(await daemon.waitUntilReady() != nil, "worker never became ready:\n\(daemon.log)")
        try await fakes.sendUserMessage(from: 111, text: "hello there")
        #expect(try await fakes.waitForSent(1), "no reply was sent:\n\(daemon.log)")
        // The heartbeat after the answer was delivered (every 200 ms here) reports an empty backlog.
        var status: ControlInterface.Status?
        let settled = await eventually(timeout: .seconds(10)) {
            status = daemon.status()
            let progress = status?.worker.progress
            return progress?.messagesAnswered == 1 && progress?.outboxBacklog == 0 && progress?.runsInFlight == 0
                && progress?.oldestUnansweredMs == nil
        }
        #expect(settled, "\(String(describing: status?.worker))")
        let worker = try #require(status?.worker)
        let now = Int64(Date().timeIntervalSince1970 * 1000)
        // Polls complete every second at most (AUTONOUS_TELEGRAM_POLL_TIMEOUT=1s); heartbeats every 200 ms.
        let lastPoll = try #require(worker.progress?.lastPollCompletedMs)
        #expect(now - lastPoll < 5000, "last poll \(now - lastPoll) ms ago")
        #expect(try #require(worker.heartbeatAgeMs) < 2000)
        #expect(worker.progress?.updatesReceived == 1)

        let text = try daemon.autonousctl(["status"])
        #expect(text.status == 0, "\(text.stderr)")
        #expect(text.stdout.contains("telegram poll   last completed"), "\(text.stdout)")
        #expect(text.stdout.contains("outbox          0 chunk(s) waiting to be sent"), "\(text.stdout)")
        #expect(text.stdout.contains("1 answered"), "\(text.stdout)")
        let json = try daemon.autonousctl(["status", "--json"])
        let decoded = try JSONDecoder().decode(ControlInterface.Status.self, from: Data(json.stdout.utf8))
        #expect(decoded.worker.progress?.outboxBacklog == 0)
        #expect(decoded.worker.heartbeatAgeMs != nil)
        await daemon.stop()
    }

    @Test func longRepliesAreSplitAtTelegramsLimitAndHistoryIsSent() async throws {
        let fakes = try Fakes()
        let long = String(repeating: "word ", count: 1800) + "\n\n" + String(repeating: "é", count: 3000)
        try await fakes.scriptOpenAI([.object(["content": .string(long)]), .object(["content": .string("second")])])
        let daemon = try Daemon(fakes: fakes)
        #expect(await daemon.waitUntilReady() != nil)
        try await fakes.sendUserMessage(from: 222, text: "tell me a lot")
        #expect(try await fakes.waitForSent(3), "\(daemon.log)")
        let sent = try await fakes.sentMessages()
        #expect(sent.count == 3)
        for message in sent {
            #expect((message["text"]?.stringValue?.utf16.count ?? 5000) <= 4096)
        }
        let rejoined = sent.compactMap { $0["text"]?.stringValue }.joined()
        #expect(rejoined.filter { !$0.isWhitespace } == long.filter { !$0.isWhitespace })

        try await fakes.sendUserMessage(from: 222, text: "and again")
        #expect(try await fakes.waitForSent(4))
        let requests = try await fakes.openAIRequests()
        guard case .array(let messages)? = requests.last?["body"]?["messages"] else {
            Issue.record("no messages")
            return
        }
        // system, the first exchange (user + assistant), the new message.
        #expect(messages.count == 4)
        #expect(messages[1]["content"] == .string("tell me a lot"))
        #expect(messages[3]["content"] == .string("and again"))
        await daemon.stop()
    }

    @Test func killingTheWorkerMidAnswerAnswersExactlyOnce() async throws {
        let fakes = try Fakes()
        // The first model call hangs long enough to kill the worker during it.
        try await fakes.scriptOpenAI([.object(["delay": .int(30), "content": .string("too late")])])
        let daemon = try Daemon(fakes: fakes)
        let ready = try #require(await daemon.waitUntilReady())
        let firstPID = try #require(ready.worker.pid)

        try await fakes.sendUserMessage(from: 111, text: "are you there?")
        #expect(try await fakes.waitForModelRequests(1))
        #expect(kill(Int32(firstPID), SIGKILL) == 0)

        #expect(try await fakes.waitForSent(1), "no answer after the restart:\n\(daemon.log)")
        let restarted = try #require(await daemon.waitUntilReady())
        #expect(restarted.worker.pid != firstPID)
        #expect(restarted.worker.restarts == 1)
        // What proves no second answer will come: the update is done and every stored chunk is sent.
        let database = try daemon.database()
        let settled = try await eventually(timeout: .seconds(30)) {
            try await database.pool.read { db in
                try Int.fetchOne(
                    db,
                    sql: """
                        SELECT (SELECT count(*) FROM inbox WHERE status != 'done')
                             + (SELECT count(*) FROM outbox WHERE status != 'sent')
                        """) == 0
            }
        }
        #expect(settled, "\(daemon.log)")
        let sent = try await fakes.sentMessages()
        #expect(sent.count == 1)
        #expect(sent.first?["text"] == .string("echo: are you there?"))

        let statuses = try await database.pool.read { db in
            try Row.fetchAll(db, sql: "SELECT status, attempts FROM inbox").map {
                ($0["status"] as String, $0["attempts"] as Int)
            }
        }
        #expect(statuses.count == 1)
        #expect(statuses.first?.0 == "done")
        #expect(statuses.first?.1 == 2)
        let exited = try #require(try daemon.events("worker.exited").first)
        #expect(exited.payload["reason"] == .string("crashed"), "\(exited.payload)\n\(daemon.log)")
        #expect(exited.payload["signal"] == .int(Int64(SIGKILL)))
        #expect(
            exited.payload["revision"]?.stringValue == (try SHA256.hex(fileAt: TestPaths.binary("autonous-worker"))))
        #expect(try daemon.events("inbox.requeued").first?.payload["count"] == .int(1))
        // The user's message is in the history once, with one answer.
        let history = try await database.pool.read { db in
            try Row.fetchAll(db, sql: "SELECT role FROM messages ORDER BY id").map { $0["role"] as String }
        }
        #expect(history == ["user", "assistant"])
        await daemon.stop()
    }
}

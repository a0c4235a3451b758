import AutonousCore
import Foundation
import GRDB
import Testing

/// What the daemon does when Telegram or the model misbehave: retry with backoff, then fail clearly, losing
/// nothing and leaking no secret.
@Suite("Failure handling", .serialized, .timeLimit(.minutes(5)))
struct FailureHandlingTests {
    @Test func telegramRateLimitsServerErrorsAndDroppedConnectionsAreRetried() async throws {
        let fakes = try Fakes()
        try await fakes.scriptTelegram(
            "getUpdates", [.object(["status": .int(502), "html": .bool(true)]), .object(["malformed": .bool(true)])])
        try await fakes.scriptTelegram(
            "sendMessage",
            [
                .object(["status": .int(429), "retry_after": .int(1)]), .object(["status": .int(500)]),
                .object(["close": .bool(true)]),
            ])
        let daemon = try Daemon(fakes: fakes)
        #expect(await daemon.waitUntilReady() != nil)
        try await fakes.sendUserMessage(from: 111, text: "still there?")
        #expect(try await fakes.waitForSent(1), "\(daemon.log)")
        let sends = try await fakes.telegramRequests("sendMessage")
        #expect(sends.map { $0["http_status"]?.intValue } == [429, 500, 0, 200], "\(sends)\n\(daemon.log)")
        // retry_after: 1 was honoured: the retry came at least a second after the 429.
        if sends.count >= 2, case .double(let first)? = sends[0]["ts"], case .double(let second)? = sends[1]["ts"] {
            #expect(second - first >= 0.95)
        }
        #expect(try await fakes.sentMessages().count == 1)
        let failed = try daemon.events("telegram.poll.failed")
        #expect(failed.count >= 1)
        #expect(try daemon.events("telegram.poll.recovered").count >= 1)
        await daemon.stop()
    }

    @Test func aReplyTelegramKeepsRefusingIsDeferredAndDeliveredOnceItRecovers() async throws {
        let fakes = try Fakes()
        // Six failures with three attempts per round: two rounds are deferred, the third delivers.
        try await fakes.scriptTelegram("sendMessage", Array(repeating: .object(["status": .int(500)]), count: 6))
        let daemon = try Daemon(fakes: fakes, overrides: ["AUTONOUS_RETRY_ATTEMPTS": "3"])
        #expect(await daemon.waitUntilReady() != nil)
        try await fakes.sendUserMessage(from: 111, text: "patience")
        #expect(try await fakes.waitForSent(1), "\(daemon.log)")
        // What proves no second copy will be sent: the update is done once its last chunk is marked sent.
        let done = try await eventually(timeout: .seconds(30)) {
            try await daemon.database().pool.read { db in
                try String.fetchOne(db, sql: "SELECT status FROM inbox") == "done"
            }
        }
        #expect(done, "\(daemon.log)")
        #expect(try await fakes.sentMessages().count == 1)
        #expect(try await fakes.sentMessages().first?["text"] == .string("echo: patience"))
        #expect(try daemon.events("telegram.send.deferred").count == 2)
        // The model was asked once: the stored reply was re-sent, not recomputed.
        #expect(try await fakes.openAIRequests().count == 1)
        let database = try daemon.database()
        let row = try await database.pool.read { db in
            try Row.fetchOne(
                db,
                sql: "SELECT o.status, o.attempts, i.status AS inbox FROM outbox o JOIN inbox i ON i.id = o.inbox_id")
        }
        #expect(row?["status"] as String? == "sent")
        #expect(row?["attempts"] as Int? == 3)
        #expect(row?["inbox"] as String? == "done")
        await daemon.stop()
    }

    @Test func telegramUnreachableIsRecordedWithoutLeakingTheToken() async throws {
        let fakes = try Fakes()
        // A port nothing listens on: connection refused.
        let closed = try closedLoopbackPort()
        let daemon = try Daemon(fakes: fakes, overrides: ["AUTONOUS_TELEGRAM_API_URL": "http://127.0.0.1:\(closed)"])
        #expect(await daemon.waitUntilReady() != nil)
        let recorded = try await eventually(timeout: .seconds(20)) {
            try !daemon.events("telegram.poll.failed").isEmpty
        }
        #expect(recorded)
        let event = try #require(try daemon.events("telegram.poll.failed").first)
        #expect(event.payload["error"]?.stringValue?.contains("connection refused") == true, "\(event.payload)")
        let status = try #require(daemon.status())
        #expect(status.worker.state == "ready")
        await daemon.stop()
        try assertNoSecrets(in: daemon)
    }

    @Test func modelRateLimitsServerErrorsMalformedBodiesAndTimeoutsAreRetried() async throws {
        let fakes = try Fakes()
        try await fakes.scriptOpenAI([
            .object(["status": .int(429), "retry_after": .int(0)]),
            .object(["status": .int(500)]),
            .object(["malformed": .bool(true)]),
            .object(["delay": .int(60), "content": .string("too slow")]),
            .object(["content": .string("finally")]),
        ])
        // Only the slow answer may time out. The answers meant to be on time come back in milliseconds; a 10 s
        // timeout leaves them room on a loaded 2-core machine (with 1 s, and then 2 s, one of them sometimes timed
        // out too and the test counted 5 retries). The slow one would take 60 s, far past any timeout.
        let daemon = try Daemon(
            fakes: fakes, overrides: ["AUTONOUS_MODEL_TIMEOUT": "10s", "AUTONOUS_RETRY_ATTEMPTS": "6"])
        #expect(await daemon.waitUntilReady() != nil)
        try await fakes.sendUserMessage(from: 111, text: "ping")
        #expect(try await fakes.waitForSent(1), "\(daemon.log)")
        #expect(try await fakes.sentMessages().first?["text"] == .string("finally"))
        let retries = try daemon.events("model.call.retry")
        #expect(retries.count == 4)
        let errors = retries.compactMap { $0.payload["error"]?.stringValue }
        #expect(errors.count == 4)
        #expect(errors[0].contains("429"))
        #expect(errors[1].contains("500"))
        #expect(errors[2].contains("malformed"))
        #expect(errors[3].contains("timed out"))
        let database = try daemon.database()
        let retriesColumn = try await database.pool.read { db in
            try Int.fetchOne(db, sql: "SELECT retries FROM model_calls WHERE status = 'ok'")
        }
        #expect(retriesColumn == 4)
        await daemon.stop()
        try assertNoSecrets(in: daemon)
    }

    @Test func aModelThatKeepsFailingGetsTheUserAnApologyAndTheFailureRecorded() async throws {
        let fakes = try Fakes()
        try await fakes.scriptOpenAI(Array(repeating: .object(["status": .int(503)]), count: 3))
        let daemon = try Daemon(fakes: fakes, overrides: ["AUTONOUS_RETRY_ATTEMPTS": "3"])
        #expect(await daemon.waitUntilReady() != nil)
        try await fakes.sendUserMessage(from: 222, text: "will this work?")
        #expect(try await fakes.waitForSent(1), "\(daemon.log)")
        let apology = try #require(try await fakes.sentMessages().first?["text"]?.stringValue)
        #expect(apology.hasPrefix("Sorry, I could not answer that: the model service had an error."))
        #expect(try await fakes.openAIRequests().count == 3)

        let database = try daemon.database()
        let row = try await database.pool.read { db in
            try Row.fetchOne(db, sql: "SELECT status, outcome, error, text FROM inbox")
        }
        let inbox = try #require(row)
        #expect(inbox["status"] as String == "failed")
        #expect(inbox["outcome"] as String == "model_failed")
        #expect((inbox["error"] as String?)?.contains("503") == true)
        #expect(inbox["text"] as String == "will this work?")
        let call = try await database.pool.read { db in
            try Row.fetchOne(db, sql: "SELECT status, http_status, error FROM model_calls")
        }
        #expect(call?["status"] as String? == "failed")
        #expect(call?["http_status"] as Int? == 503)
        #expect(try daemon.events("turn.failed").count == 1)
        #expect(try daemon.events("agent.failed").count == 1)
        // The user's message is kept in the history even though it was not answered.
        let history = try await database.pool.read { db in
            try String.fetchAll(db, sql: "SELECT content FROM messages WHERE role = 'user'")
        }
        #expect(history == ["will this work?"])
        let status = try #require(daemon.status())
        #expect(status.inbox.failed == 1)
        await daemon.stop()
        try assertNoSecrets(in: daemon)
    }

    @Test func eventsAreAppendOnly() async throws {
        let daemon = try Daemon(telegram: false)
        #expect(await daemon.waitUntilReady() != nil)
        await daemon.stop()
        // Both logs: the supervisor's has the lifecycle events; the worker's gets one here, so the triggers have a
        // row to refuse.
        let worker = try daemon.database()
        try EventLog(database: worker).append(.inboxRequeued)
        for database in [try daemon.supervisorDatabase(), worker] {
            #expect(throws: DatabaseError.self) {
                try database.pool.write { db in try db.execute(sql: "UPDATE events SET type = 'forged'") }
            }
            #expect(throws: DatabaseError.self) {
                try database.pool.write { db in try db.execute(sql: "DELETE FROM events") }
            }
        }
        #expect(try daemon.events().allSatisfy { $0.type != "forged" })
        #expect(try daemon.events().count >= 5)
    }

    /// Neither the bot token nor the API key may appear in the log or in any stored event.
    private func assertNoSecrets(in daemon: Daemon) throws {
        let log = daemon.log
        #expect(!log.contains(Fakes.telegramToken), "the bot token leaked into the log")
        #expect(!log.contains(Fakes.openAIKey), "the API key leaked into the log")
        for event in try daemon.events() {
            let text = event.payload.jsonText
            #expect(!text.contains(Fakes.telegramToken) && !text.contains(Fakes.openAIKey), "secret in \(event.type)")
        }
    }
}

/// A loopback TCP port that was free a moment ago (bound, then closed), for connection-refused tests.
func closedLoopbackPort() throws -> Int {
    let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
    defer { close(fd) }
    var address = sockaddr_in()
    address.sin_family = sa_family_t(AF_INET)
    address.sin_addr.s_addr = inet_addr("127.0.0.1")
    address.sin_port = 0
    var length = socklen_t(MemoryLayout<sockaddr_in>.size)
    let bound = withUnsafeMutablePointer(to: &address) {
        $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { pointer -> Bool in
            bind(fd, pointer, length) == 0 && getsockname(fd, pointer, &length) == 0
        }
    }
    guard bound else { throw POSIXError(.EADDRNOTAVAIL) }
    return Int(UInt16(bigEndian: address.sin_port))
}

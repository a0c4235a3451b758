import AutonousCore
import Foundation
import GRDB
import Logging
import Testing

@testable import Worker

/// A model error only an operator can fix reaches the admins once, until a model call succeeds again.
@Suite struct ModelFatalReporterTests {
    static let refusedKey =
        #"{"error": {"status": 401, "code": "invalid_api_key", "message": "Incorrect API key provided."}}"#
    static let unknownModel =
        #"{"error": {"status": 404, "code": "model_not_found", "message": "The model gpt-9 does not exist."}}"#

    /// The admins' notices queued in the outbox: one row per admin and notice.
    static func notices(_ fixture: AgentTestSupport.Fixture) throws -> [Row] {
        try fixture.rows(
            "SELECT conversation_id, chat_id, text FROM outbox WHERE conversation_id LIKE 'admins:model-fatal-%' "
                + "ORDER BY id")
    }

    @Test func aRefusedKeyIsReportedOnceUntilACallSucceedsAgain() async throws {
        let fixture = try AgentTestSupport.Fixture()
        let reporter = ModelFatalReporter(
            database: fixture.database,
            notices: AdminNotices(
                database: fixture.database, admins: [11, 22], telegramEnabled: true, parentEventID: nil,
                doorbell: nil, logger: Logger(label: "test")),
            logger: Logger(label: "test"))
        let script = try AgentTestSupport.script([
            Self.refusedKey, Self.refusedKey, Self.unknownModel, #"{"text": "back"}"#, Self.refusedKey,
        ])
        let agent = fixture.agent(script: script, fatalReporter: reporter)

        for text in ["one", "two"] {
            let outcome = try await agent.run(fixture.request(text))
            #expect(outcome.reply.contains("the model API refused the key"))
        }
        var notices = try Self.notices(fixture)
        #expect(notices.count == 2, "one notice, to each of the two admins")
        #expect(Set(notices.map { $0["chat_id"] as Int64 }) == [11, 22])
        let text: String = try #require(notices.first?["text"])
        #expect(text.contains("HTTP 401 (invalid_api_key): Incorrect API key provided."))
        #expect(text.contains("scripted model scripted"))

        _ = try await agent.run(fixture.request("three"))
        notices = try Self.notices(fixture)
        #expect(Set(notices.map { $0["conversation_id"] as String }).count == 2, "another error, another notice")

        _ = try await agent.run(fixture.request("four"))
        _ = try await agent.run(fixture.request("five"))
        notices = try Self.notices(fixture)
        #expect(
            Set(notices.map { $0["conversation_id"] as String }).count == 3,
            "the key was refused again after a success, so the admins hear of it again")

        let events = try fixture.events("model.fatal")
        #expect(events.map { $0.payload["status"] } == [.int(401), .int(404), .int(401)])
        #expect(events.first?.payload["provider"] == .string("scripted"))
        #expect(events.first?.payload["model"] == .string("scripted"))
        #expect(events.first?.payload["message"] == .string("Incorrect API key provided."))
        #expect(events.first?.payload["code"] == .string("invalid_api_key"))
        let classes = try fixture.rows("SELECT error_class FROM model_calls ORDER BY id").map {
            $0["error_class"] as String?
        }
        #expect(classes == ["fatal", "fatal", "fatal", nil, "fatal"])
        let stops = try fixture.rows("SELECT stop_reason FROM runs ORDER BY started_ms, rowid").map {
            $0["stop_reason"] as String?
        }
        #expect(stops == ["model_fatal", "model_fatal", "model_fatal", "answered", "model_fatal"])
    }

    @Test func onlyErrorsAnOperatorMustFixAreReported() {
        func api(_ status: Int, _ code: String? = nil) -> ModelError {
            .api(status: status, message: "m", code: code, retryAfter: nil)
        }
        #expect(ModelFatalReporter.isReported(api(401)))
        #expect(ModelFatalReporter.isReported(api(403)))
        #expect(ModelFatalReporter.isReported(api(404, "model_not_found")))
        #expect(ModelFatalReporter.isReported(api(429, "insufficient_quota")))
        #expect(!ModelFatalReporter.isReported(api(429, "rate_limit_exceeded")))
        #expect(!ModelFatalReporter.isReported(api(500)))
        #expect(!ModelFatalReporter.isReported(api(400, "context_length_exceeded")))
        #expect(!ModelFatalReporter.isReported(.malformed("x")))
    }
}

import AutonousCore
import Foundation
import GRDB
import Testing

/// Network-tier tool calls under the default `ask` policy, end to end: the worker records an approval bound to the
/// exact call, the admins get Telegram buttons, and the call runs only after an admin approves it (autonousctl or
/// the button); no decision before the deadline denies it. The command reaches a path of the fake OpenAI server on
/// the host's loopback, which records every request, so the tests can count what got through.
@Suite("Tool approvals", .serialized, .timeLimit(.minutes(3)))
struct ApprovalTests {
    /// The path the sandboxed command fetches; the fake records it like any request.
    static let probePath = "/v1/models/from-the-sandbox"

    /// A model script: one bash call with network access to the fake OpenAI port, then a final answer. The command
    /// also tries the fake Telegram port, which is not listed.
    static func script(_ fakes: Fakes) -> [JSONValue] {
        let command =
            "curl -sS --max-time 10 -o /dev/null -w 'status=%{http_code}' "
            + "http://127.0.0.1:\(fakes.openAIPort)\(probePath); echo; "
            + "curl -sS --max-time 5 http://127.0.0.1:\(fakes.telegramPort)/; echo \"unlisted=$?\""
        return [
            .object([
                "tool_calls": .array([
                    .object([
                        "id": .string("call_net"), "name": .string("bash"),
                        "arguments": .object([
                            "command": .string(command), "timeout_seconds": .int(30),
                            "network": .array([.string("127.0.0.1:\(fakes.openAIPort)")]),
                        ]),
                    ])
                ])
            ]),
            .object(["content": .string("all done")]),
        ]
    }

    /// Waits (bounded) until autonousctl lists one pending approval, and returns it.
    static func pendingApproval(_ daemon: Daemon) async throws -> JSONValue? {
        for _ in 0 ..< 150 {
            let listed = try daemon.autonousctl(["approvals", "--json"])
            if listed.status == 0,
                let list = try? JSONDecoder().decode(JSONValue.self, from: Data(listed.stdout.utf8)),
                case .array(let approvals)? = list["approvals"], let first = approvals.first
            {
                return first
            }
            try await Task.sleep(for: .milliseconds(200))
        }
        return nil
    }

    /// The envelope of the tool message in the model's last request.
    static func toolEnvelope(_ fakes: Fakes) async throws -> JSONValue? {
        guard case .array(let messages)? = try await fakes.openAIRequests().last?["body"]?["messages"],
            let content = messages.last(where: { $0["role"] == .string("tool") })?["content"]?.stringValue
        else { return nil }
        return try JSONDecoder().decode(JSONValue.self, from: Data(content.utf8))
    }

    @Test func aNetworkCallRunsOnlyAfterAnAdminApprovesItWithAutonousctl() async throws {
        let fakes = try Fakes()
        try await fakes.scriptOpenAI(Self.script(fakes))
        let daemon = try Daemon(fakes: fakes, overrides: ["AUTONOUS_TELEGRAM_ADMINS": "111"])
        #expect(await daemon.waitUntilReady() != nil, "\(daemon.log)")
        try await fakes.sendUserMessage(from: 222, text: "fetch it")

        let pending = try #require(try await Self.pendingApproval(daemon), "no approval appeared\n\(daemon.log)")
        let id = try #require(pending["id"]?.stringValue)
        #expect(pending["subject"] == .string("bash"))
        #expect(pending["tier"] == .string("network"))
        #expect(pending["summary"]?.stringValue?.hasPrefix("bash with network access to 127.0.0.1:") == true)
        // Nothing ran yet, and the admin (only the admin) was asked with two buttons.
        #expect(try await fakes.openAIRequests(path: Self.probePath).isEmpty)
        #expect(try await fakes.waitForSent(1), "\(daemon.log)")
        let asked = try await fakes.telegramRequests("sendMessage")
        #expect(asked.count == 1)
        let request = try #require(asked.first)
        #expect(request["params"]?["chat_id"] == .int(111), "\(request)")
        guard case .array(let rows)? = request["params"]?["reply_markup"]?["inline_keyboard"],
            case .array(let buttons)? = rows.first
        else {
            Issue.record("the approval request has no inline keyboard: \(request)")
            return
        }
        #expect(
            buttons.map { $0["callback_data"] } == [
                .string("approval:\(id):approve"), .string("approval:\(id):reject"),
            ],
            "\(request)")

        let approved = try daemon.autonousctl(["approve", id])
        #expect(approved.status == 0, "\(approved)")
        #expect(approved.stdout.contains("\(id): approved"), "\(approved)")

        #expect(try await fakes.waitForSent(2), "\(daemon.log)")
        #expect(try await fakes.sentMessages().last?["text"] == .string("all done"))
        let envelope = try #require(try await Self.toolEnvelope(fakes))
        #expect(envelope["ok"] == .bool(true), "\(envelope)")
        #expect(envelope["tier"] == .string("network"))
        let stdout = envelope["stdout"]?.stringValue ?? ""
        // The fake answers an unauthenticated request with 401: the listed destination was reached.
        #expect(stdout.contains("status=401"), "the listed destination: \(envelope)")
        #expect(stdout.contains("unlisted=7"), "the unlisted port must be refused: \(envelope)")
        #expect(envelope["stderr"]?.stringValue?.contains("not in the network allowlist") == true, "\(envelope)")
        #expect(try await fakes.openAIRequests(path: Self.probePath).count == 1)

        // The approval's events sit under the tool call; the decision names the operator and the channel.
        let events = try daemon.events()
        let started = try #require(events.first { $0.type == "tool_call.started" })
        #expect(started.payload["tier"] == .string("network"))
        let requested = try #require(events.first { $0.type == "approval.requested" })
        #expect(requested.parentID == started.id)
        let decided = try #require(events.first { $0.type == "approval.decided" })
        #expect(decided.parentID == requested.id)
        #expect(decided.payload["decision"] == .string("approved"))
        #expect(decided.payload["via"] == .string("autonousctl"))
        #expect(decided.payload["by"]?.stringValue?.contains("(uid \(getuid()))") == true, "\(decided.payload)")
        let completed = try #require(events.first { $0.type == "tool_call.completed" })
        #expect(completed.payload["approval_id"] == .string(id))
        #expect(completed.payload["approval_status"] == .string("approved"))
        // The admin's message now says who decided, without buttons.
        #expect(try await fakes.waitForTelegram("edited", count: 1), "\(daemon.log)")
        let edits = try await fakes.telegramRequests("editMessageText")
        #expect(edits.first?["params"]?["text"]?.stringValue?.contains("Approved by") == true, "\(edits)")

        // A decision is final: a second one is refused and says why.
        let again = try daemon.autonousctl(["reject", id])
        #expect(again.status == 1)
        #expect(again.stderr.contains("approval \(id) is already approved"), "\(again)")
        let unknown = try daemon.autonousctl(["approve", "zzzzzzzz"])
        #expect(unknown.status == 1)
        #expect(unknown.stderr.contains("no approval has the id zzzzzzzz"), "\(unknown)")
        let malformed = try daemon.autonousctl(["approve", "../x"])
        #expect(malformed.status == 1)
        #expect(malformed.stderr.contains("an approval id is 4 to 32 lowercase letters and digits"), "\(malformed)")
        await daemon.stop()
    }

    @Test func aNetworkCallWithoutADecisionIsDeniedAtTheDeadline() async throws {
        let fakes = try Fakes()
        try await fakes.scriptOpenAI(Self.script(fakes))
        let daemon = try Daemon(
            fakes: fakes, overrides: ["AUTONOUS_TELEGRAM_ADMINS": "111", "AUTONOUS_APPROVAL_TIMEOUT": "2s"])
        #expect(await daemon.waitUntilReady() != nil, "\(daemon.log)")
        try await fakes.sendUserMessage(from: 111, text: "fetch it")
        // The approval may expire before a listing sees it (2 s on a loaded machine): wait for the outcome, then
        // read the approval from the database.
        #expect(try await fakes.waitForSent(2), "\(daemon.log)")
        let id = try #require(
            try await daemon.database().pool.read { db in
                try String.fetchOne(db, sql: "SELECT id FROM approvals")
            }, "\(daemon.log)")
        let envelope = try #require(try await Self.toolEnvelope(fakes))
        #expect(envelope["ok"] == .bool(false))
        #expect(envelope["tier"] == .string("network"))
        #expect(
            envelope["stderr"]
                == .string("no admin approved this call within 2 s (approval \(id)); it was not run"), "\(envelope)")
        #expect(try await fakes.openAIRequests(path: Self.probePath).isEmpty, "the command ran without approval")

        let row = try await daemon.database().pool.read { db in
            try Row.fetchOne(db, sql: "SELECT status, decided_via FROM approvals WHERE id = ?", arguments: [id])
        }
        #expect(row?["status"] == "expired")
        #expect(row?["decided_via"] == "timeout")
        #expect(
            try daemon.events().contains {
                $0.type == "tool_call.failed" && $0.payload["approval_status"] == .string("expired")
            })
        let late = try daemon.autonousctl(["approve", id])
        #expect(late.status == 1)
        #expect(late.stderr.contains("approval \(id) is already expired"), "\(late)")
        #expect(try await fakes.waitForTelegram("edited", count: 1), "\(daemon.log)")
        let edits = try await fakes.telegramRequests("editMessageText")
        #expect(edits.first?["params"]?["text"]?.stringValue?.contains("Expired without a decision") == true)
        await daemon.stop()
    }

    /// A worker that dies while a call waits leaves no approval that could still be granted for nothing: the next
    /// worker expires it, answers the requeued message again, and the new approval is the one that counts.
    @Test func aRestartedWorkerExpiresTheApprovalItsPredecessorWaitedFor() async throws {
        let fakes = try Fakes()
        let script = Self.script(fakes)
        try await fakes.scriptOpenAI([script[0]] + script)
        let daemon = try Daemon(fakes: fakes, overrides: ["AUTONOUS_TELEGRAM_ADMINS": "111"])
        let first = try #require(await daemon.waitUntilReady()?.worker.pid, "\(daemon.log)")
        try await fakes.sendUserMessage(from: 222, text: "fetch it")
        let abandoned = try #require(try await Self.pendingApproval(daemon)?["id"]?.stringValue, "\(daemon.log)")
        // The approval is listed as soon as it is recorded, before the admin's message is sent: wait for that
        // message, or the kill may come first and the test would count one message fewer (the race that failed
        // this test about one run in a few).
        #expect(try await fakes.waitForSent(1), "\(daemon.log)")

        kill(pid_t(first), SIGKILL)
        let restarted = try await eventually(timeout: .seconds(60)) {
            guard let pid = daemon.status()?.worker.pid, pid != first else { return false }
            return try await Self.pendingApproval(daemon)?["id"]?.stringValue.map { $0 != abandoned } ?? false
        }
        #expect(restarted, "\(daemon.log)")
        let row = try await daemon.database().pool.read { db in
            try String.fetchOne(db, sql: "SELECT status FROM approvals WHERE id = ?", arguments: [abandoned])
        }
        #expect(row == "expired")
        let late = try daemon.autonousctl(["approve", abandoned])
        #expect(late.status == 1 && late.stderr.contains("is already expired"), "\(late)")

        let current = try #require(try await Self.pendingApproval(daemon)?["id"]?.stringValue)
        #expect(try daemon.autonousctl(["approve", current]).status == 0)
        #expect(try await fakes.waitForSent(3), "\(daemon.log)")
        #expect(try await fakes.sentMessages().last?["text"] == .string("all done"))
        #expect(try await fakes.openAIRequests(path: Self.probePath).count == 1)
        await daemon.stop()
    }

    @Test func onlyAnAdminsTelegramButtonDecides() async throws {
        let fakes = try Fakes()
        try await fakes.scriptOpenAI(Self.script(fakes))
        let daemon = try Daemon(fakes: fakes, overrides: ["AUTONOUS_TELEGRAM_ADMINS": "111"])
        #expect(await daemon.waitUntilReady() != nil, "\(daemon.log)")
        try await fakes.sendUserMessage(from: 222, text: "fetch it")
        let id = try #require(try await Self.pendingApproval(daemon)?["id"]?.stringValue, "\(daemon.log)")

        // 222 may talk to the bot but is not an admin: the press is answered and changes nothing.
        try await fakes.pressButton(from: 222, data: "approval:\(id):approve")
        #expect(try await fakes.waitForTelegram("callback_answers", count: 1), "\(daemon.log)")
        #expect(try await fakes.callbackAnswers().first?["text"]?.stringValue?.hasPrefix("Only the admins") == true)
        #expect(try await Self.pendingApproval(daemon)?["id"]?.stringValue == id, "a non-admin decided")

        try await fakes.pressButton(from: 111, data: "approval:\(id):reject")
        #expect(try await fakes.waitForTelegram("callback_answers", count: 2), "\(daemon.log)")
        #expect(try await fakes.callbackAnswers().last?["text"] == .string("Denied."))
        #expect(try await fakes.waitForSent(2), "\(daemon.log)")
        let envelope = try #require(try await Self.toolEnvelope(fakes))
        #expect(envelope["ok"] == .bool(false))
        #expect(
            envelope["stderr"]
                == .string("an admin rejected this call (approval \(id), by telegram:111 (@user111)); it was not run"),
            "\(envelope)")
        #expect(try await fakes.openAIRequests(path: Self.probePath).isEmpty)
        let refused = try daemon.events("approval.decision_refused")
        #expect(refused.count == 1)
        #expect(refused.first?.payload["user_id"] == .int(222))
        await daemon.stop()
    }

    /// The worker owns the approvals: without a ready worker to record it, a decision is refused and changes nothing.
    @Test func aDecisionWhileNoWorkerIsReadyIsRefusedAndChangesNothing() async throws {
        let daemon = try Daemon(
            telegram: false,
            overrides: [
                "AUTONOUS_WORKER_BIN": TestPaths.fixture("fake_worker.py"), "AUTONOUS_TEST_FAKE_WORKER_MODE": "silent",
                "AUTONOUS_WORKER_READY_TIMEOUT": "60s",
            ])
        let started = await eventually { daemon.status()?.worker.state == "starting" }
        #expect(started, "\(daemon.log)")
        let approvals = Approvals(database: try daemon.database())
        let approval = try approvals.create(
            kind: "tool", subject: "bash", arguments: .object(["command": .string("true")]), tier: "network",
            summary: "bash", lifetime: .seconds(600), context: EventContext())
        let refused = try daemon.autonousctl(["approve", approval.id])
        #expect(refused.status == 1)
        #expect(refused.stderr.contains("no worker is ready to record the decision"), "\(refused)")
        #expect(try approvals.approval(approval.id)?.status == .pending)
        await daemon.stop()
    }
}

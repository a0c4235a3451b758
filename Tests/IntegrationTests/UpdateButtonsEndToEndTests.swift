import AutonousCore
import Foundation
import Testing

/// A staged self-update decided with its Telegram buttons, with the real worker and the real supervisor: the agent
/// proposes, the supervisor stages, the admins get Approve and Reject buttons naming the transaction and the full
/// artifact sha256, a stranger's press is relayed and refused by the supervisor, an admin's approval deploys the
/// update, and the admin's message is edited to say who approved.
@Suite("Self-update buttons end to end", .serialized, .timeLimit(.minutes(5)))
struct UpdateButtonsEndToEndTests {
    /// The build's "worker": the real worker binary (left in the build cache before the supervisor starts, since
    /// the build sandbox sees nothing else of the host) with a byte appended, so it is a revision of its own.
    static let buildCommand =
        "cat \"$AUTONOUS_BUILD_CACHE/worker-under-test\" > \"$AUTONOUS_BUILD_OUTPUT\" && "
        + "printf '\\n' >> \"$AUTONOUS_BUILD_OUTPUT\" && chmod 0755 \"$AUTONOUS_BUILD_OUTPUT\""

    static func call(_ id: String, _ name: String, _ arguments: [String: JSONValue]) -> JSONValue {
        .object([
            "tool_calls": .array([.object(["id": .string(id), "name": .string(name), "arguments": .object(arguments)])])
        ])
    }

    /// The sha256 a button's last field names (43 characters of unpadded base64url), in lowercase hex.
    static func sha256(ofButton data: String) -> String? {
        guard let field = data.split(separator: ":").last else { return nil }
        var standard = field.replacingOccurrences(of: "-", with: "+").replacingOccurrences(of: "_", with: "/")
        standard += String(repeating: "=", count: (4 - standard.count % 4) % 4)
        return Data(base64Encoded: standard).map { $0.map { String(format: "%02x", $0) }.joined() }
    }

    /// A daemon whose agent, asked once, proposes a self-update that the build stages; `source` must outlive it.
    static func daemonProposingAnUpdate(_ fakes: Fakes, source: SelfUpdateTests.Source) async throws -> Daemon {
        try await fakes.scriptOpenAI([
            Self.call("call_1", "propose_update", ["summary": .string("Add notes")]),
            Self.call("call_2", "bash", ["command": .string("echo 'notes from the agent' > autonous/NOTES.md")]),
            Self.call("call_3", "propose_update", ["summary": .string("Add notes")]),
            .object(["content": .string("Proposed.")]),
        ])
        var overrides = RevisionTests.overrides
        overrides["AUTONOUS_SOURCE_REPO"] = source.path
        overrides["AUTONOUS_UPDATE_BUILD_COMMAND"] = Self.buildCommand
        overrides["AUTONOUS_UPDATE_TEST_COMMAND"] = SelfUpdateTests.testCommand
        return try Daemon(fakes: fakes, overrides: overrides) { state in
            try FileManager.default.createDirectory(atPath: state + "/build-cache", withIntermediateDirectories: true)
            try FileManager.default.copyItem(
                atPath: TestPaths.binary("autonous-worker"), toPath: state + "/build-cache/worker-under-test")
        }
    }

    /// Asks the agent for the update, and waits until its transaction is staged (or failed on the way).
    static func askForAnUpdate(_ fakes: Fakes, _ daemon: Daemon) async throws
        -> (id: String, staged: ControlInterface.TransactionDetail)
    {
        try await fakes.sendUserMessage(from: 111, text: "add some notes to yourself")
        #expect(try await fakes.waitForSent(1, timeout: 90), "\(daemon.log)")
        let transactions = try await SelfUpdateTests.control(
            daemon, "ListTransactions", ControlInterface.ListTransactionsRequest(limit: nil),
            as: ControlInterface.TransactionList.self)
        let id = try #require(transactions.transactions.first?.id, "no transaction\n\(daemon.log)")
        let staged = try await SelfUpdateTests.wait(
            daemon, id, for: ["staged", "build_failed", "test_failed", "self_check_failed"])
        return (id, staged)
    }

    @Test func anAdminsApproveButtonDeploysTheUpdateAfterAStrangersPressIsRefused() async throws {
        let source = try SelfUpdateTests.Source()
        let fakes = try Fakes()
        let daemon = try await Self.daemonProposingAnUpdate(fakes, source: source)
        let ready = try #require(await daemon.waitUntilReady(), "\(daemon.log)")
        let bootstrap = try #require(ready.revisions?.current)

        let (id, staged) = try await Self.askForAnUpdate(fakes, daemon)
        let artifact = try #require(staged.transaction.artifactSha256, "\(staged)\n\(daemon.log)")

        // The admin's message has the two buttons, each naming the transaction and the full sha256 in 59 bytes.
        var buttons: [JSONValue] = []
        let announced = try await eventually(timeout: .seconds(30)) {
            for request in try await fakes.telegramRequests("sendMessage") {
                guard case .array(let rows)? = request["params"]?["reply_markup"]?["inline_keyboard"],
                    case .array(let row)? = rows.first
                else { continue }
                #expect(request["params"]?["chat_id"] == .int(111), "\(request)")
                #expect(request["params"]?["text"]?.stringValue?.contains(id) == true, "\(request)")
                buttons = row
                return true
            }
            return false
        }
        #expect(announced, "no message with buttons\n\(daemon.log)")
        let data = buttons.compactMap { $0["callback_data"]?.stringValue }
        try #require(data.count == 2, "\(buttons)")
        let (approve, reject) = (data[0], data[1])
        #expect(approve.hasPrefix("u:\(id):a:") && reject.hasPrefix("u:\(id):r:"), "\(data)")
        #expect(data.allSatisfy { $0.utf8.count <= 64 }, "\(data)")
        #expect(data.allSatisfy { Self.sha256(ofButton: $0) == artifact }, "\(data) \(artifact)")

        // 222 may talk to the bot but is no admin: the worker relays the press anyway, the supervisor refuses it
        // and records the refusal, and 222 reads why.
        try await fakes.pressButton(from: 222, data: approve)
        #expect(try await fakes.waitForTelegram("callback_answers", count: 1), "\(daemon.log)")
        let refusal = try await fakes.callbackAnswers().first?["text"]?.stringValue ?? ""
        #expect(refusal.contains("not in AUTONOUS_TELEGRAM_ADMINS"), "\(refusal)")
        #expect(try await SelfUpdateTests.transaction(daemon, id).transaction.state == "staged")
        let refused = try daemon.events("update.decision_refused")
        #expect(refused.count == 1, "\(refused)")

        try await fakes.pressButton(from: 111, data: approve)
        #expect(try await fakes.waitForTelegram("callback_answers", count: 2), "\(daemon.log)")
        let approved = try await fakes.callbackAnswers().last?["text"]?.stringValue ?? ""
        #expect(approved.hasPrefix("Approved \(id)"), "\(approved)")
        // The admin's message now says who approved, without buttons.
        #expect(try await fakes.waitForTelegram("edited", count: 1), "\(daemon.log)")
        let edit = try #require(try await fakes.telegramRequests("editMessageText").first)
        #expect(edit["params"]?["chat_id"] == .int(111), "\(edit)")
        #expect(
            edit["params"]?["text"]?.stringValue?.hasSuffix("Approved by telegram:111 (@user111).") == true, "\(edit)")
        #expect(edit["params"]?["reply_markup"] == nil, "\(edit)")

        let ended = try await SelfUpdateTests.wait(daemon, id, for: ["promoted", "reverted", "deploy_failed"])
        #expect(ended.transaction.state == "promoted", "\(ended)\n\(daemon.log)")
        let approval = ended.steps.first { $0.to == "approved" }
        #expect(approval?.reason == "approved by telegram:111", "\(ended.steps)")
        let status = try #require(await daemon.waitUntilReady(), "\(daemon.log)")
        #expect(status.revisions?.current == artifact && status.revisions?.lastGood == artifact)
        #expect(artifact != bootstrap)
        await daemon.stop()
    }

    /// Rejected from the shell, the update's buttons go away too: the admin's message says who rejected it.
    @Test func aShellDecisionTakesTheButtonsAway() async throws {
        let source = try SelfUpdateTests.Source()
        let fakes = try Fakes()
        let daemon = try await Self.daemonProposingAnUpdate(fakes, source: source)
        #expect(await daemon.waitUntilReady() != nil, "\(daemon.log)")
        let (id, staged) = try await Self.askForAnUpdate(fakes, daemon)
        #expect(staged.transaction.state == "staged", "\(staged)\n\(daemon.log)")
        let announced = try await eventually(timeout: .seconds(30)) {
            try await fakes.telegramRequests("sendMessage").contains { $0["params"]?["reply_markup"] != nil }
        }
        #expect(announced, "no message with buttons\n\(daemon.log)")

        let rejected = try daemon.autonousctl(["reject", id])
        #expect(rejected.status == 0, "\(rejected)")
        #expect(try await fakes.waitForTelegram("edited", count: 1), "\(daemon.log)")
        let edit = try #require(try await fakes.telegramRequests("editMessageText").first)
        #expect(edit["params"]?["chat_id"] == .int(111), "\(edit)")
        let text = edit["params"]?["text"]?.stringValue ?? ""
        #expect(text.contains(id) && text.hasSuffix("Rejected by shell:root (uid 0) with autonousctl."), "\(edit)")
        #expect(edit["params"]?["reply_markup"] == nil, "\(edit)")
        #expect(try await SelfUpdateTests.transaction(daemon, id).transaction.state == "rejected")
        await daemon.stop()
    }
}

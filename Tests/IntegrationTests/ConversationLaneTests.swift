import AutonousCore
import Foundation
import Testing

/// One lane per conversation, end to end: a run waiting for an admin's approval holds up only its own chat, and
/// one chat's messages are answered one after another, in order.
@Suite("Conversation lanes", .serialized, .timeLimit(.minutes(3)))
struct ConversationLaneTests {
    /// The texts the bot sent to `chat`, in order.
    static func texts(to chat: Int64, in sent: [JSONValue]) -> [String] {
        sent.filter { $0["chat"]?["id"] == .int(chat) }.compactMap { $0["text"]?.stringValue }
    }

    /// The model request whose last user message is `text`, and the contents of all its messages.
    static func history(ofRequestFor text: String, _ fakes: Fakes) async throws -> [String]? {
        for request in try await fakes.openAIRequests() {
            guard case .array(let messages)? = request["body"]?["messages"] else { continue }
            if messages.last(where: { $0["role"] == .string("user") })?["content"] == .string(text) {
                return messages.compactMap { $0["content"]?.stringValue }
            }
        }
        return nil
    }

    @Test func aChatWaitingForAnApprovalDoesNotHoldUpAnotherChat() async throws {
        let fakes = try Fakes()
        // Chat A's first model call asks for a network call (needs approval); every later call is answered with
        // "echo: <last user text>", whatever its order, so chat B's answers do not depend on scheduling.
        try await fakes.scriptOpenAI([ApprovalTests.script(fakes).first ?? .null])
        let daemon = try Daemon(fakes: fakes, overrides: ["AUTONOUS_TELEGRAM_ADMINS": "111"])
        #expect(await daemon.waitUntilReady() != nil, "\(daemon.log)")
        let chatA: Int64 = 222
        let chatB: Int64 = 333
        try await fakes.sendUserMessage(from: 222, chat: chatA, text: "fetch it")
        let pending = try #require(try await ApprovalTests.pendingApproval(daemon), "no approval\n\(daemon.log)")
        let id = try #require(pending["id"]?.stringValue)

        // Chat B (the admin, in a group chat) sends three messages back to back while A waits.
        for text in ["b1", "b2", "b3"] { try await fakes.sendUserMessage(from: 111, chat: chatB, text: text) }
        // The admin's approval prompt plus B's three answers.
        #expect(try await fakes.waitForSent(4), "\(daemon.log)")
        let sent = try await fakes.sentMessages()
        #expect(Self.texts(to: chatB, in: sent) == ["echo: b1", "echo: b2", "echo: b3"], "\(sent)")
        #expect(Self.texts(to: chatA, in: sent).isEmpty, "A must still wait: \(sent)")
        // A's approval is still undecided at this point.
        let stillPending = try #require(try await ApprovalTests.pendingApproval(daemon))
        #expect(stillPending["id"] == .string(id))

        // Within chat B each run started after the one before had answered: its history holds that answer.
        let second = try #require(try await Self.history(ofRequestFor: "b2", fakes))
        #expect(second.contains("echo: b1"), "\(second)")
        let third = try #require(try await Self.history(ofRequestFor: "b3", fakes))
        #expect(third.contains("echo: b1") && third.contains("echo: b2"), "\(third)")
        #expect(!second.contains("echo: b2") && !second.contains("b3"), "\(second)")

        let approved = try daemon.autonousctl(["approve", id])
        #expect(approved.status == 0, "\(approved)")
        #expect(try await fakes.waitForSent(5), "\(daemon.log)")
        let after = try await fakes.sentMessages()
        #expect(Self.texts(to: chatA, in: after) == ["echo: fetch it"], "\(after)")
        #expect(Self.texts(to: chatB, in: after).count == 3)
        #expect(await daemon.stop() == 0)
    }

    @Test func twoMessagesOfOneChatAreAnsweredInOrderOneRunAfterTheOther() async throws {
        let fakes = try Fakes()
        // The first answer is slow: a second run started beside it would overtake it.
        try await fakes.scriptOpenAI([.object(["content": .string("first answer"), "delay": .double(1.0)])])
        let daemon = try Daemon(fakes: fakes)
        #expect(await daemon.waitUntilReady() != nil, "\(daemon.log)")
        try await fakes.sendUserMessage(from: 111, text: "one")
        try await fakes.sendUserMessage(from: 111, text: "two")
        #expect(try await fakes.waitForSent(2), "\(daemon.log)")
        let sent = try await fakes.sentMessages()
        #expect(Self.texts(to: 111, in: sent) == ["first answer", "echo: two"], "\(sent)")
        let second = try #require(try await Self.history(ofRequestFor: "two", fakes))
        #expect(second.contains("one") && second.contains("first answer"), "\(second)")
        #expect(await daemon.stop() == 0)
    }

    @Test func aRunInFlightWhenTheWorkerStopsIsAnsweredByTheNextWorker() async throws {
        let fakes = try Fakes()
        try await fakes.scriptOpenAI([ApprovalTests.script(fakes).first ?? .null])
        let daemon = try Daemon(fakes: fakes, overrides: ["AUTONOUS_TELEGRAM_ADMINS": "111"])
        let ready = try #require(await daemon.waitUntilReady(), "\(daemon.log)")
        let firstPID = try #require(ready.worker.pid)
        try await fakes.sendUserMessage(from: 222, text: "fetch it")
        #expect(try await ApprovalTests.pendingApproval(daemon) != nil, "\(daemon.log)")

        // SIGTERM while the run waits for its approval: the worker stops claiming, gives the run its grace
        // period, then cancels it (or is killed); either way the update is not lost.
        #expect(kill(Int32(firstPID), SIGTERM) == 0)
        let restarted = try await eventually(timeout: .seconds(30)) {
            guard let pid = daemon.status()?.worker.pid, pid != firstPID else { return false }
            return daemon.status()?.worker.state == "ready"
        }
        #expect(restarted, "\(daemon.log)")
        // The next worker requeued it and answered it (the model's script is used up: a plain echo).
        let answered = try await eventually(timeout: .seconds(30)) {
            Self.texts(to: 222, in: try await fakes.sentMessages()) == ["echo: fetch it"]
        }
        let sent = try await fakes.sentMessages()
        #expect(answered, "\(sent)\n\(daemon.log)")
        #expect(try daemon.events("inbox.requeued").first?.payload["count"] == .int(1), "\(daemon.log)")
        await daemon.stop()
    }
}

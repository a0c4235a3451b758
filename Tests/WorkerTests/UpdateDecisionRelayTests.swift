import AutonousCore
import Foundation
import GRDB
import Logging
import Testing

@testable import Worker

/// Presses on a staged update's buttons, relayed to the supervisor (the FakeSupervisor over worker.sock): the worker
/// relays every press with the full sha256 and the presser's id and shows the supervisor's answer.
@Suite(.serialized) struct UpdateDecisionRelayTests {
    static let tx = UpdateButtonTests.tx
    static let sha256 = UpdateButtonTests.sha256

    static func button(approve: Bool) throws -> UpdateButton {
        let data = try #require(UpdateButton(tx: tx, sha256: sha256, approve: approve)?.callbackData)
        // What a press brings back, decoded as the desk decodes it.
        return try #require(UpdateButton(callbackData: data))
    }

    @Test func anApprovalIsRelayedWithTheFullSHA256AndThePressersID() async throws {
        let supervisor = FakeSupervisor(
            decision: .success(
                .init(state: "approved", message: "approved \(Self.tx); it deploys now through probation")))
        try await withLink(supervisor) { link, _ in
            let relay = UpdateDecisionRelay(decider: link, logger: Logger(label: "test"))
            let answer = await relay.relay(try Self.button(approve: true), userID: 111, username: "ann")
            #expect(
                supervisor.decisions.withLock { $0 } == [
                    .init(tx: Self.tx, sha256: Self.sha256, approve: true, requestedBy: 111)
                ])
            #expect(answer.text == "Approved \(Self.tx); it deploys now through probation.")
            #expect(answer.outcome == "update_approved")
            #expect(answer.closing == "Approved by telegram:111 (@ann).")
        }
    }

    /// The worker does not judge the presser: a stranger's press reaches the supervisor, which refuses and records
    /// it, and the stranger reads why.
    @Test func aStrangersPressIsRelayedAndTheRefusalIsShown() async throws {
        let refusal = VarlinkError(
            UpdateDecisionRelay.refusalName,
            ["message": .string("Telegram user 222 is not in AUTONOUS_TELEGRAM_ADMINS and cannot decide on updates")])
        let supervisor = FakeSupervisor(decision: .failure(refusal))
        try await withLink(supervisor) { link, _ in
            let relay = UpdateDecisionRelay(decider: link, logger: Logger(label: "test"))
            let answer = await relay.relay(try Self.button(approve: false), userID: 222, username: nil)
            #expect(
                supervisor.decisions.withLock { $0 } == [
                    .init(tx: Self.tx, sha256: Self.sha256, approve: false, requestedBy: 222)
                ])
            #expect(
                answer
                    == .init(
                        text: "Telegram user 222 is not in AUTONOUS_TELEGRAM_ADMINS and cannot decide on updates.",
                        outcome: "update_refused", closing: nil))
        }
    }

    @Test func aSupervisorThatCannotBeReachedOrDoesNotAnswerNamesTheShellCommand() async throws {
        let expected = UpdateDecisionRelay.Answer(
            text: "Could not reach the supervisor; try again or use autonousctl reject \(Self.tx).",
            outcome: "update_unreachable")
        let gone = UpdateDecisionRelay(decider: Unreachable(), logger: Logger(label: "test"))
        #expect(await gone.relay(try Self.button(approve: false), userID: 111, username: nil) == expected)
        // A supervisor that never answers: the deadline (on a clock whose sleeps end at once) wins the race.
        let silent = UpdateDecisionRelay(
            decider: Silent(), timeout: .seconds(10), clock: ImmediateClock(), logger: Logger(label: "test"))
        #expect(await silent.relay(try Self.button(approve: false), userID: 111, username: nil) == expected)
        let none = UpdateDecisionRelay(decider: nil, logger: Logger(label: "test"))
        #expect(
            await none.relay(try Self.button(approve: true), userID: 111, username: nil).text
                == "No supervisor is connected; try again or use autonousctl approve \(Self.tx).")
    }

    /// After a decision every admin's copy of the message (found by its buttons in the outbox) is edited.
    @Test func theMessagesToEditAreEveryAdminsSentCopyOfThatUpdate() throws {
        let fixture = try AdminNoticesTests.Fixture()
        let notices = fixture.notices(admins: [11, 22, 33])
        let other = "tx-aaaaaaaa"
        notices.handle(AdminNoticesTests.staged(tx: Self.tx, sha256: Self.sha256, id: "s1"))
        notices.handle(AdminNoticesTests.staged(tx: other, sha256: Self.sha256, id: "s2"))
        let outbox = Outbox(database: fixture.database)
        for row in try fixture.rows() where row.chatID != 33 {
            try outbox.markSent(row.id, telegramMessageID: 500 + row.id)
        }
        for approve in [true, false] {
            let data = try Self.button(approve: approve).callbackData
            let messages = try outbox.sentBroadcasts(withButton: data)
            #expect(messages.map(\.chatID) == [11, 22], "33's copy is not sent yet")
            #expect(messages.allSatisfy { $0.conversationID == "admins:s1" })
        }
        let otherData = try #require(UpdateButton(tx: other, sha256: Self.sha256, approve: true)?.callbackData)
        #expect(try outbox.sentBroadcasts(withButton: otherData).map(\.conversationID) == ["admins:s2", "admins:s2"])
    }

    @Test func anEditedMessageEndsWithWhoDecidedWithinTelegramsLimit() {
        #expect(
            UpdateMessages.closed("Staged.", with: "Approved by telegram:1.") == "Staged.\n\nApproved by telegram:1.")
        let long = String(repeating: "word ", count: 1000)
        let closed = UpdateMessages.closed(long, with: "Rejected by telegram:1.")
        #expect(closed.utf16.count <= MessageSplitter.telegramLimit)
        #expect(closed.hasSuffix("\n\nRejected by telegram:1."))
        #expect(CallbackDesk.shortened(String(repeating: "x", count: 300)).count == CallbackDesk.answerLimit)
        #expect(CallbackDesk.shortened("short") == "short")
    }
}

private struct Unreachable: UpdateDeciding {
    func decideUpdate(_ request: WorkerInterface.DecideUpdateRequest) async throws
        -> WorkerInterface.DecideUpdateReply
    {
        throw AutonousError(.unavailable, "connect: no such file or directory")
    }
}

/// Never answers; ends when cancelled.
private struct Silent: UpdateDeciding {
    func decideUpdate(_ request: WorkerInterface.DecideUpdateRequest) async throws
        -> WorkerInterface.DecideUpdateReply
    {
        try await Task.sleep(for: .seconds(3600))
        throw CancellationError()
    }
}

/// A clock whose sleeps end at once: every deadline on it has passed.
struct ImmediateClock: Clock {
    struct Instant: InstantProtocol {
        var offset: Duration

        func advanced(by duration: Duration) -> Instant { Instant(offset: offset + duration) }
        func duration(to other: Instant) -> Duration { other.offset - offset }
        static func < (lhs: Instant, rhs: Instant) -> Bool { lhs.offset < rhs.offset }
    }

    var now: Instant { Instant(offset: .zero) }
    var minimumResolution: Duration { .zero }

    func sleep(until deadline: Instant, tolerance: Duration?) async throws {
        try Task.checkCancellation()
    }
}

import AutonousCore
import Foundation
import GRDB
import Logging
import Synchronization
import Testing

@testable import Worker

/// The supervisor's "admins" notices: stored in the outbox for every admin, once, and sent once by the courier.
@Suite struct AdminNoticesTests {
    /// A fresh worker database in a temporary directory, removed afterwards.
    final class Fixture {
        private let store: TemporaryWorkerDatabase
        var database: AppDatabase { store.database }
        init() throws {
            store = try TemporaryWorkerDatabase(prefix: "admin-notices-")
        }

        func notices(admins: [Int64] = [11, 22], telegram: Bool = true, doorbell: Doorbell? = nil) -> AdminNotices {
            AdminNotices(
                database: database, admins: admins, telegramEnabled: telegram, parentEventID: nil, doorbell: doorbell,
                logger: Logger(label: "test"))
        }

        func courier(_ send: @escaping BroadcastCourier.Send) -> BroadcastCourier {
            BroadcastCourier(
                outbox: Outbox(database: database), events: EventLog(database: database), parentEventID: nil,
                doorbell: Doorbell(),
                retryPolicy: RetryPolicy(attempts: 3, baseDelay: .milliseconds(1), maxDelay: .milliseconds(2)),
                send: send, logger: Logger(label: "test"))
        }

        func rows() throws -> [OutboxItem] {
            try database.pool.read { db in try OutboxItem.fetchAll(db, sql: "SELECT * FROM outbox ORDER BY id") }
        }
    }

    static let reverted = WorkerInterface.Notice(
        kind: "admins", id: "n1", text: "Revision 0123abcd was reverted: it crashed 3 times in 60 s.")

    /// The supervisor's notice of a staged self-update.
    static func staged(tx: String, sha256: String, id: String = "update-staged", text: String? = nil)
        -> WorkerInterface.Notice
    {
        WorkerInterface.Notice(
            kind: "admins", id: id, text: text ?? "Self-update \(tx) is staged: answer as v2", updateTx: tx,
            updateSha256: sha256)
    }

    @Test func aNoticeIsQueuedForEveryAdminOnceAndRingsTheCourier() async throws {
        let fixture = try Fixture()
        let doorbell = Doorbell()
        let notices = fixture.notices(doorbell: doorbell)
        #expect(notices.handle(Self.reverted) == .queued(admins: 2))
        #expect(await doorbell.wait(timeout: .seconds(5)))
        // The supervisor sending it again (after its own restart, say) stores nothing new.
        #expect(notices.handle(Self.reverted) == .duplicate)
        let rows = try fixture.rows()
        #expect(rows.map(\.chatID) == [11, 22])
        #expect(rows.allSatisfy { $0.text == Self.reverted.text && $0.inboxID == nil && $0.status == "pending" })
        #expect(rows.allSatisfy { $0.conversationID == "admins:n1" })
        let events = try EventLog(database: fixture.database).events(typePrefix: AdminNotices.eventType.rawValue)
        #expect(events.count == 1)
    }

    @Test func aTellNoticeGoesToTheOneAllowedUserItNamesOnce() throws {
        let fixture = try Fixture()
        let notices = fixture.notices()
        let tell = WorkerInterface.Notice(
            kind: "tell", id: "update-tx-abcdefgh-staged", text: "Your self-update tx-abcdefgh was staged.",
            conversation: "telegram:33")
        #expect(notices.tell(tell, allowedUsers: [11, 33]) == .queued(admins: 1))
        #expect(notices.tell(tell, allowedUsers: [11, 33]) == .duplicate)
        let rows = try fixture.rows()
        #expect(rows.map(\.chatID) == [33])
        #expect(rows.first?.conversationID == "tell:update-tx-abcdefgh-staged")
        #expect(
            try EventLog(database: fixture.database).events(typePrefix: AdminNotices.tellEventType.rawValue).count == 1)
        // Not a user this bot serves, or no such conversation: nothing is stored.
        var stranger = tell
        stranger.id = "other"
        #expect(notices.tell(stranger, allowedUsers: [11]) == .logged)
        stranger.conversation = "local"
        #expect(notices.tell(stranger, allowedUsers: [11, 33]) == .dropped)
        #expect(try fixture.rows().count == 1)
    }

    @Test func aStagedUpdatesLastChunkCarriesApproveAndRejectButtons() throws {
        let fixture = try Fixture()
        let (tx, sha256) = (UpdateButtonTests.tx, UpdateButtonTests.sha256)
        // Long enough for two chunks: the buttons go under the whole text, so with the second.
        let text = "Self-update \(tx) is staged.\n\n" + String(repeating: "diffstat line\n", count: 400)
        #expect(fixture.notices().handle(Self.staged(tx: tx, sha256: sha256, text: text)) == .queued(admins: 2))
        let rows = try fixture.rows()
        #expect(rows.map(\.chatID) == [11, 11, 22, 22])
        #expect(rows.map(\.seq) == [0, 1, 0, 1])
        let keyboard = try #require(UpdateButton.keyboard(tx: tx, sha256: sha256))
        #expect(rows.map(\.replyMarkup) == [nil, keyboard, nil, keyboard])
        guard case .array(let keyRows)? = keyboard["inline_keyboard"], case .array(let buttons)? = keyRows.first else {
            Issue.record("no inline keyboard: \(keyboard)")
            return
        }
        #expect(buttons.map { $0["text"] } == [.string("Approve"), .string("Reject")])
        let pressed = buttons.compactMap { UpdateButton(callbackData: $0["callback_data"]?.stringValue) }
        #expect(pressed.map(\.approve) == [true, false])
        #expect(pressed.allSatisfy { $0.tx == tx && $0.sha256 == sha256 })
        let event = try #require(
            try EventLog(database: fixture.database).events(typePrefix: AdminNotices.eventType.rawValue).first)
        #expect(event.payload["update_tx"] == .string(tx))
        #expect(event.payload["buttons"] == .bool(true))
    }

    @Test func aStagedUpdateWithAMalformedTransactionOrSHA256IsSentWithoutButtons() throws {
        let fixture = try Fixture()
        let notices = fixture.notices()
        let good = UpdateButtonTests.sha256
        let malformed: [WorkerInterface.Notice] = [
            Self.staged(tx: "tx-NOTBASE32", sha256: good, id: "a"),
            Self.staged(tx: UpdateButtonTests.tx, sha256: good.uppercased(), id: "b"),
            Self.staged(tx: UpdateButtonTests.tx, sha256: String(good.prefix(12)), id: "c"),
            WorkerInterface.Notice(kind: "admins", id: "d", text: "staged", updateTx: UpdateButtonTests.tx),
        ]
        for notice in malformed { #expect(notices.handle(notice) == .queued(admins: 2)) }
        let rows = try fixture.rows()
        #expect(rows.count == 8)
        #expect(rows.allSatisfy { $0.replyMarkup == nil })
    }

    @Test func theCourierSendsTheButtonsWithTheChunk() async throws {
        let fixture = try Fixture()
        fixture.notices(admins: [11]).handle(Self.staged(tx: UpdateButtonTests.tx, sha256: UpdateButtonTests.sha256))
        fixture.notices(admins: [11]).handle(Self.reverted)
        let sent = Mutex<[JSONValue?]>([])
        let courier = fixture.courier { _, _, markup throws(TelegramError) in
            sent.withLock { $0.append(markup) }
            return 7
        }
        #expect(await courier.deliverPending() == .done)
        let keyboard = UpdateButton.keyboard(tx: UpdateButtonTests.tx, sha256: UpdateButtonTests.sha256)
        #expect(sent.withLock { $0 } == [keyboard, nil])
    }

    @Test func withoutTelegramOrAdminsItIsOnlyLogged() throws {
        let fixture = try Fixture()
        #expect(fixture.notices(telegram: false).handle(Self.reverted) == .logged)
        #expect(fixture.notices(admins: []).handle(Self.reverted) == .logged)
        #expect(fixture.notices().handle(.init(kind: "admins", id: "n2", text: "  ")) == .dropped)
        #expect(try fixture.rows().isEmpty)
    }

    @Test func theCourierSendsEachChunkOnce() async throws {
        let fixture = try Fixture()
        fixture.notices().handle(Self.reverted)
        let sent = Mutex<[Int64]>([])
        let courier = fixture.courier { chatID, _, _ throws(TelegramError) in
            sent.withLock { $0.append(chatID) }
            return 100 + chatID
        }
        #expect(await courier.deliverPending() == .done)
        #expect(await courier.deliverPending() == .done)
        #expect(sent.withLock { $0 } == [11, 22])
        #expect(try fixture.rows().map(\.status) == ["sent", "sent"])
        #expect(try fixture.rows().map(\.telegramMessageID) == [111, 122])
    }

    @Test func anUnreachableTelegramKeepsTheChunkForLaterAndABlockedAdminIsSkipped() async throws {
        let fixture = try Fixture()
        fixture.notices().handle(Self.reverted)
        let unreachable = fixture.courier { _, _, _ throws(TelegramError) in
            throw .api(code: 429, description: "Too Many Requests", retryAfter: 7)
        }
        #expect(await unreachable.deliverPending() == .retry(retryAfter: .seconds(7)))
        #expect(try fixture.rows().map(\.status) == ["pending", "pending"])
        #expect(try fixture.rows().map(\.attempts) == [1, 0])

        let blocked = fixture.courier { chatID, _, _ throws(TelegramError) in
            if chatID == 11 {
                throw .api(code: 403, description: "Forbidden: bot was blocked by the user", retryAfter: nil)
            }
            return 1
        }
        #expect(await blocked.deliverPending() == .done)
        #expect(try fixture.rows().map(\.status) == ["failed", "sent"])
    }
}

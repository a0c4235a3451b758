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
        let events = try EventLog(database: fixture.database).events(typePrefix: AdminNotices.eventType)
        #expect(events.count == 1)
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
        let courier = fixture.courier { chatID, _ throws(TelegramError) in
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
        let unreachable = fixture.courier { _, _ throws(TelegramError) in
            throw .api(code: 429, description: "Too Many Requests", retryAfter: 7)
        }
        #expect(await unreachable.deliverPending() == .retry(retryAfter: .seconds(7)))
        #expect(try fixture.rows().map(\.status) == ["pending", "pending"])
        #expect(try fixture.rows().map(\.attempts) == [1, 0])

        let blocked = fixture.courier { chatID, _ throws(TelegramError) in
            if chatID == 11 {
                throw .api(code: 403, description: "Forbidden: bot was blocked by the user", retryAfter: nil)
            }
            return 1
        }
        #expect(await blocked.deliverPending() == .done)
        #expect(try fixture.rows().map(\.status) == ["failed", "sent"])
    }
}

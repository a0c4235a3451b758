import Foundation
import GRDB
import Testing

@testable import AutonousCore

/// The message claim: one lane per chat, in update_id order, callbacks apart, postponed rows wait.
@Suite struct InboxLaneTests {
    /// An update of `kind` in `chat` from the user of the same id; a button press when `kind` is callback_query.
    private func message(_ updateID: Int64, chat: Int64, kind: String = "message", text: String? = nil)
        -> NewInboxItem
    {
        NewInboxItem(
            updateID: updateID, kind: kind, chatID: chat, userID: chat,
            text: kind == "message" ? text ?? "m\(updateID)" : nil, payload: #"{"update_id":\#(updateID)}"#)
    }

    private func press(_ updateID: Int64, chat: Int64) -> NewInboxItem {
        message(updateID, chat: chat, kind: "callback_query")
    }

    @Test func twoChatsAreClaimedSideBySideButOneChatOnlyOnceAtATime() throws {
        let fixture = try TemporaryDatabase()
        let inbox = Inbox(database: fixture.database)
        _ = try inbox.store([message(1, chat: 10), message(2, chat: 10), message(3, chat: 20)])
        let a = try #require(try inbox.claimNext(runID: "a"))
        let b = try #require(try inbox.claimNext(runID: "b"))
        #expect(a.updateID == 1)
        #expect(b.updateID == 3)
        // Chat 10 has update 1 in progress: its update 2 waits, and chat 20 has nothing left.
        #expect(try inbox.claimNext(runID: "c") == nil)
        try inbox.finish(b.id, status: .done, outcome: "answered")
        #expect(try inbox.claimNext(runID: "d") == nil)
        try inbox.finish(a.id, status: .done, outcome: "answered")
        #expect(try inbox.claimNext(runID: "e")?.updateID == 2)
    }

    @Test func aChatsMessagesAreClaimedInUpdateIDOrderWhateverOrderTheyWereStoredIn() throws {
        let fixture = try TemporaryDatabase()
        let inbox = Inbox(database: fixture.database)
        _ = try inbox.store([message(7, chat: 10), message(5, chat: 10)])
        _ = try inbox.store([message(6, chat: 10)])
        var order: [Int64] = []
        while let item = try inbox.claimNext(runID: "r") {
            order.append(item.updateID)
            try inbox.finish(item.id, status: .done, outcome: "answered")
        }
        #expect(order == [5, 6, 7])
    }

    @Test func rowsWithoutAChatAreEachALaneOfTheirOwn() throws {
        let fixture = try TemporaryDatabase()
        let inbox = Inbox(database: fixture.database)
        let orphan = { (id: Int64) in
            NewInboxItem(updateID: id, kind: "edited", chatID: nil, userID: nil, text: nil, payload: "{}")
        }
        _ = try inbox.store([orphan(1), orphan(2)])
        #expect(try inbox.claimNext(runID: "a")?.updateID == 1)
        #expect(try inbox.claimNext(runID: "b")?.updateID == 2)
    }

    @Test func callbackQueriesNeitherBlockNorAreBlockedByTheirChatsMessages() throws {
        let fixture = try TemporaryDatabase()
        let inbox = Inbox(database: fixture.database)
        _ = try inbox.store([press(1, chat: 10), message(2, chat: 10), press(3, chat: 10), message(4, chat: 10)])
        // An older queued button press does not hold the chat's messages back, and is never given out as one.
        let first = try #require(try inbox.claimNext(runID: "m1"))
        #expect(first.updateID == 2)
        // With a message in progress, the chat's presses are still claimed (approvals arrive during a run).
        #expect(try inbox.claimNext(runID: "c1", lane: .callbacks)?.updateID == 1)
        #expect(try inbox.claimNext(runID: "c2", lane: .callbacks)?.updateID == 3)
        #expect(try inbox.claimNext(runID: "c3", lane: .callbacks) == nil)
        // A press in progress does not count as the chat's run either.
        try inbox.finish(first.id, status: .done, outcome: "answered")
        #expect(try inbox.claimNext(runID: "m2")?.updateID == 4)
    }

    @Test func aPostponedMessageWaitsForItsTimeAndKeepsItsChatsLaterMessagesBehindIt() throws {
        let fixture = try TemporaryDatabase()
        let inbox = Inbox(database: fixture.database)
        _ = try inbox.store([message(1, chat: 10), message(2, chat: 10), message(3, chat: 20)])
        let now: Int64 = 1_000_000
        let first = try #require(try inbox.claimNext(runID: "a", now: now))
        try fixture.database.pool.write { db in try Inbox.postpone(db, first.id, until: now + 5000, now: now) }
        #expect(try inbox.nextPostponed(after: now) == now + 5000)
        // Before its time: chat 10 yields nothing (update 2 must not overtake update 1); chat 20 goes on.
        #expect(try inbox.claimNext(runID: "b", now: now + 4999)?.updateID == 3)
        #expect(try inbox.claimNext(runID: "c", now: now + 4999) == nil)
        let again = try #require(try inbox.claimNext(runID: "d", now: now + 5000))
        #expect(again.updateID == 1)
        #expect(again.attempts == 2)
        #expect(try inbox.nextPostponed(after: now + 5000) == nil)
    }

    @Test func aCrashedWorkersRunsAreRequeuedAndClaimedAgainInOrder() throws {
        let fixture = try TemporaryDatabase()
        let inbox = Inbox(database: fixture.database)
        _ = try inbox.store([message(1, chat: 10), message(2, chat: 10), message(3, chat: 20)])
        _ = try inbox.claimNext(runID: "a")
        _ = try inbox.claimNext(runID: "b")
        #expect(try inbox.counts() == InboxCounts(queued: 1, inProgress: 2))
        // The worker died here; the next one starts with requeueInterrupted().
        let restarted = Inbox(database: try AppDatabase(path: fixture.database.path, role: .worker))
        #expect(try restarted.requeueInterrupted() == 2)
        let first = try #require(try restarted.claimNext(runID: "c"))
        let second = try #require(try restarted.claimNext(runID: "d"))
        #expect([first.updateID, second.updateID] == [1, 3])
        #expect(first.attempts == 2 && second.attempts == 2)
        #expect(try restarted.claimNext(runID: "e") == nil)
    }

    @Test func concurrentClaimersOverSeparateConnectionsNeverTakeTwoMessagesOfOneChat() async throws {
        let fixture = try TemporaryDatabase()
        let chats: [Int64] = Array(1 ... 20)
        var items: [NewInboxItem] = []
        var updateID: Int64 = 0
        for round in 0 ..< 3 {
            for chat in chats {
                updateID += 1
                items.append(message(updateID, chat: chat, text: "round \(round)"))
            }
        }
        _ = try Inbox(database: fixture.database).store(items)
        // Two pools on one file stand in for two processes: each has its own writer connection.
        let second = try AppDatabase(path: fixture.database.path, role: .worker)
        let inboxes = [Inbox(database: fixture.database), Inbox(database: second)]
        let claimed = try await withThrowingTaskGroup(of: [InboxItem].self) { group in
            for claimer in 0 ..< 8 {
                let inbox = inboxes[claimer % 2]
                group.addTask {
                    var mine: [InboxItem] = []
                    while let item = try inbox.claimNext(runID: "claimer-\(claimer)") { mine.append(item) }
                    return mine
                }
            }
            return try await group.reduce(into: []) { $0 += $1 }
        }
        // Nobody finished anything: exactly the first message of each chat is out, each once.
        #expect(claimed.count == chats.count)
        #expect(Set(claimed.compactMap(\.chatID)) == Set(chats))
        #expect(claimed.allSatisfy { $0.text == "round 0" && $0.attempts == 1 })
    }
}

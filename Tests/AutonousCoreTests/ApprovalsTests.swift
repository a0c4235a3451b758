import Foundation
import GRDB
import Testing

@testable import AutonousCore

/// The approvals table: one decision wins, deadlines hold, and every change commits with its event.
@Suite struct ApprovalsTests {
    private func make(_ approvals: Approvals, lifetime: Duration = .seconds(60), now: Int64 = 1_000_000) throws
        -> Approval
    {
        try approvals.create(
            kind: "tool", subject: "bash",
            arguments: .object(["network": .array([.string("example.com:443")]), "command": .string("curl x")]),
            tier: "network", summary: "bash with network access to example.com:443", lifetime: lifetime,
            context: EventContext(runID: "run-1", conversationID: "c"), now: now)
    }

    @Test func aNewApprovalIsPendingBoundToItsArgumentsAndRecorded() throws {
        let fixture = try TemporaryDatabase()
        let approvals = Approvals(database: fixture.database)
        let approval = try make(approvals)
        #expect(approval.status == .pending)
        #expect(Approvals.isWellFormedID(approval.id) && approval.id.count == 8)
        // Sorted keys: the same arguments in any order bind to the same digest.
        #expect(approval.arguments == #"{"command":"curl x","network":["example.com:443"]}"#)
        let reordered = Approvals.canonical(
            .object(["command": .string("curl x"), "network": .array([.string("example.com:443")])]))
        #expect(reordered.sha256 == approval.argumentsSHA256)
        #expect(Approvals.canonical(.object(["command": .string("curl y")])).sha256 != approval.argumentsSHA256)
        #expect(approval.expiresMs == 1_060_000)
        let event = try #require(try EventLog(database: fixture.database).events(typePrefix: "approval.").first)
        #expect(event.id == approval.eventID)
        #expect(event.payload["approval_id"] == .string(approval.id))
        #expect(try approvals.pending(now: 1_000_001).map(\.id) == [approval.id])
        #expect(try approvals.pending(now: 1_060_000).isEmpty, "an approval past its deadline is not pending")
    }

    @Test func theFirstDecisionWinsAndLaterOnesAreRefused() throws {
        let fixture = try TemporaryDatabase()
        let approvals = Approvals(database: fixture.database)
        let approval = try make(approvals)
        guard
            case .decided(let decided) = try approvals.decide(
                approval.id, approve: true, by: "root (uid 0)", via: .autonousctl, now: 1_000_500)
        else {
            Issue.record("the first decision was not recorded")
            return
        }
        #expect(decided.status == .approved)
        #expect(decided.decidedBy == "root (uid 0)")
        #expect(decided.decidedVia == .autonousctl)
        #expect(decided.decidedMs == 1_000_500)
        #expect(
            try approvals.decide(approval.id, approve: false, by: "telegram:1", via: .telegram, now: 1_000_600)
                == .alreadyDecided(decided))
        #expect(try approvals.expire(approval.id, now: 2_000_000) == decided, "expiry must not undo a decision")
        #expect(try approvals.decide("nosuchid", approve: true, by: "x", via: .telegram) == .notFound)
        let decisions = try EventLog(database: fixture.database).events(typePrefix: "approval.decided")
        #expect(decisions.count == 1)
        #expect(decisions.first?.parentID == approval.eventID)
        #expect(decisions.first?.runID == "run-1")
    }

    @Test func aDecisionAfterTheDeadlineRecordsTheExpiryInstead() throws {
        let fixture = try TemporaryDatabase()
        let approvals = Approvals(database: fixture.database)
        let approval = try make(approvals, lifetime: .seconds(1))
        guard
            case .expired(let expired) = try approvals.decide(
                approval.id, approve: true, by: "root (uid 0)", via: .autonousctl, now: 1_001_000)
        else {
            Issue.record("a late approval was accepted")
            return
        }
        #expect(expired.status == .expired)
        #expect(expired.decidedVia == .timeout)
        #expect(try approvals.approval(approval.id)?.status == .expired)
        let decided = try EventLog(database: fixture.database).events(typePrefix: "approval.decided")
        #expect(decided.map { $0.payload["decision"] } == [.string("expired")])
    }

    @Test func aNewWorkerExpiresWhatThePreviousOneWaitedFor() throws {
        let fixture = try TemporaryDatabase()
        let approvals = Approvals(database: fixture.database)
        let waiting = try make(approvals)
        let decided = try make(approvals)
        _ = try approvals.decide(decided.id, approve: false, by: "root (uid 0)", via: .autonousctl, now: 1_000_100)
        let expired = try approvals.expireAbandoned(now: 1_000_200)
        #expect(expired.map(\.id) == [waiting.id])
        #expect(expired.first?.status == .expired)
        #expect(try approvals.approval(decided.id)?.status == .rejected)
        #expect(try approvals.expireAbandoned(now: 1_000_300).isEmpty)
    }

    @Test func theSchemaRefusesInconsistentRows() throws {
        let fixture = try TemporaryDatabase()
        let approval = try make(Approvals(database: fixture.database))
        #expect(throws: DatabaseError.self) {
            try fixture.database.pool.write { db in
                try db.execute(sql: "UPDATE approvals SET status = 'approved' WHERE id = ?", arguments: [approval.id])
            }
        }
        #expect(throws: DatabaseError.self) {
            try fixture.database.pool.write { db in
                try db.execute(sql: "UPDATE approvals SET status = 'maybe' WHERE id = ?", arguments: [approval.id])
            }
        }
    }

    @Test func noticesAreRememberedForTheOutcomeEdit() throws {
        let fixture = try TemporaryDatabase()
        let approvals = Approvals(database: fixture.database)
        let approval = try make(approvals)
        #expect(try approvals.notices(approval.id).isEmpty)
        let notices = [ApprovalNotice(chatID: 111, messageID: 7), ApprovalNotice(chatID: 222, messageID: 9)]
        try approvals.recordNotices(approval.id, notices)
        #expect(try approvals.notices(approval.id) == notices)
    }
}

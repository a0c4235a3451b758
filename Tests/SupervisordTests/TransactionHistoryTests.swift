import AutonousCore
import Foundation
import GRDB
import Testing

@testable import Supervisord

/// What the transaction tables guarantee by themselves (append-only history, an immutable proposal and artifact),
/// that a step commits with its event or not at all, and what a restarted supervisor resolves.
@Suite struct TransactionHistoryTests {
    private func failure(_ fixture: TransactionFixture, _ sql: String) -> String? {
        let error = #expect(throws: DatabaseError.self) {
            try fixture.database.pool.write { db in try db.execute(sql: sql) }
        }
        return error?.message
    }

    @Test func stepsAndApprovalsAreAppendOnlyAndAProposalIsImmutable() throws {
        let fixture = try TransactionFixture()
        let staged = try fixture.staged()
        try fixture.decide(TransactionFixture.shell(staged.id))
        #expect(
            failure(fixture, "UPDATE transaction_steps SET reason = 'x'")
                == "transaction steps are append-only: UPDATE is not allowed")
        #expect(
            failure(fixture, "DELETE FROM transaction_steps")
                == "transaction steps are append-only: DELETE is not allowed")
        #expect(
            failure(fixture, "UPDATE update_approvals SET decision = 'reject'")
                == "update approvals are append-only: UPDATE is not allowed")
        #expect(
            failure(fixture, "DELETE FROM update_approvals")
                == "update approvals are append-only: DELETE is not allowed")
        #expect(failure(fixture, "DELETE FROM transactions") == "transactions are never deleted")
        #expect(
            failure(fixture, "UPDATE transactions SET patch_sha256 = '\(String(repeating: "e", count: 64))'")
                == "a transaction's proposal is immutable")
        #expect(
            failure(fixture, "UPDATE transactions SET artifact_sha256 = '\(String(repeating: "e", count: 64))'")
                == "a transaction's artifact sha256 is immutable once set")
        #expect(try fixture.count("transaction_steps") == 6 && fixture.count("update_approvals") == 1)
        #expect(try fixture.store.get(staged.id)?.artifactSHA256 == TransactionFixture.artifact)
    }

    @Test func aStepThatCannotBeAppendedLeavesNoEventAndNoStateChange() throws {
        let fixture = try TransactionFixture()
        let created = try fixture.store.create(TransactionFixture.proposal())
        let events = try fixture.count("events")
        // The step is written after the row and the event: failing it must take both back.
        try fixture.database.pool.write { db in
            try db.execute(
                sql: """
                    CREATE TEMP TRIGGER refuse_steps BEFORE INSERT ON main.transaction_steps
                    BEGIN SELECT RAISE(ABORT, 'refused for the test'); END
                    """)
        }
        let error = #expect(throws: AutonousError.self) {
            try fixture.store.transition(created.id, to: .building, reason: nil)
        }
        #expect(error?.code == .database)
        #expect(try fixture.count("events") == events)
        #expect(try fixture.store.get(created.id)?.state == .created)
        #expect(try fixture.store.steps(created.id).count == 1)
    }

    @Test(arguments: [
        (TransactionState.building, TransactionState.buildFailed), (.testing, .testFailed),
        (.selfChecking, .selfCheckFailed),
    ])
    func aRestartEndsAnInterruptedPipelineStep(_ state: TransactionState, _ end: TransactionState) throws {
        let fixture = try TransactionFixture()
        let interrupted = try TransactionStoreTests.drive(fixture, to: state)
        let queued = try fixture.store.create(TransactionFixture.proposal("queued"))
        let resolved = try fixture.store.resolveInterrupted(now: fixture.clock.now())
        #expect(resolved.map(\.id) == [interrupted.id])
        #expect(resolved.first?.state == end)
        #expect(resolved.first?.reason == "interrupted: the supervisor restarted")
        #expect(try fixture.store.get(interrupted.id)?.state == end)
        #expect(try fixture.store.steps(interrupted.id).last?.reason == "interrupted: the supervisor restarted")
        #expect(try fixture.events().last?.type == end.eventType.rawValue)
        #expect(try fixture.store.inFlight() == nil && fixture.store.nextQueued()?.id == queued.id)
        #expect(try fixture.store.resolveInterrupted(now: fixture.clock.now()).isEmpty)
    }

    @Test(arguments: [TransactionState.deploying, .probation])
    func aRestartLeavesADeployToTheRevisionLifecycle(_ state: TransactionState) throws {
        let fixture = try TransactionFixture()
        let deploying = try TransactionStoreTests.drive(fixture, to: state)
        let steps = try fixture.count("transaction_steps")
        #expect(try fixture.store.resolveInterrupted(now: fixture.clock.now()) == [deploying])
        #expect(try fixture.count("transaction_steps") == steps)
    }

    @Test func aRestartExpiresStagedUpdatesPastTheirDeadline() throws {
        let fixture = try TransactionFixture()
        let due = try fixture.staged("due")
        fixture.clock.advance(by: 3_600_000)
        let fresh = try fixture.staged("fresh")
        let approved = try fixture.staged("approved")
        try fixture.decide(TransactionFixture.shell(approved.id))
        let deploying = try TransactionStoreTests.drive(fixture, to: .deploying)

        let resolved = try fixture.store.resolveInterrupted(now: fixture.clock.now() + 86_400_000 - 1)
        #expect(resolved.map(\.id) == [due.id, deploying.id])
        #expect(resolved.first?.state == .expired)
        #expect(resolved.first?.reason == "nobody decided before the approval deadline")
        #expect(try fixture.store.get(fresh.id)?.state == .staged)
        #expect(try fixture.store.get(approved.id)?.state == .approved)
    }

    @Test func expiryHappensAtTheDeadlineAndOnlyForStagedUpdates() throws {
        let fixture = try TransactionFixture()
        let staged = try fixture.staged()
        let deadline = try #require(staged.expiresMs)
        #expect(try fixture.store.expireIfDue(staged.id, now: deadline - 1) == staged)
        let expired = try fixture.store.expireIfDue(staged.id, now: deadline)
        #expect(expired.state == .expired && expired.updatedMs == deadline)
        #expect(try fixture.store.expireIfDue(staged.id, now: deadline + 1) == expired)
        #expect(throws: TransactionError.notFound("tx-zzzzzzzz")) {
            try fixture.store.expireIfDue("tx-zzzzzzzz", now: deadline)
        }
    }
}

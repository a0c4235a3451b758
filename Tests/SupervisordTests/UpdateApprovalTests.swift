import AutonousCore
import Foundation
import GRDB
import Synchronization
import Testing

@testable import Supervisord

/// The rules an update decision must pass, alone and as `TransactionStore.recordDecision` applies them inside its
/// write transaction: each refusal with its exact sentence, and of two decisions at once exactly one recorded.
@Suite struct UpdateApprovalTests {
    static let lastGood = TransactionFixture.base
    static let probation = String(repeating: "d", count: 64)
    static let trusted = RelayTrust(relayingRevision: lastGood, lastGood: lastGood, probation: probation)

    private func fromTelegram(_ id: String, user: Int64 = 111, sha256: String = TransactionFixture.artifact)
        -> UpdateDecisionRequest
    {
        UpdateDecisionRequest(
            transactionID: id, artifactSHA256: sha256, decision: .approve, via: .telegram(userID: user))
    }

    /// Checks `request` against `transaction` one second after it was staged, with admin 111.
    private func check(
        _ request: UpdateDecisionRequest, _ transaction: Transaction, now: Int64? = nil,
        mode: UpdateApprovalMode = .telegram, relay: RelayTrust = trusted
    ) -> UpdateApprovalError? {
        let result = UpdateApproval.check(
            request: request, transaction: transaction, now: now ?? transaction.updatedMs + 1000, admins: [111],
            mode: mode, relay: relay)
        if case .failure(let error) = result { return error }
        return nil
    }

    @Test func anAdminsTelegramDecisionOnTheStagedArtifactPasses() throws {
        let fixture = try TransactionFixture()
        let staged = try fixture.staged()
        #expect(check(fromTelegram(staged.id), staged) == nil)
        #expect(check(TransactionFixture.shell(staged.id, .reject), staged) == nil)
        #expect(fromTelegram(staged.id).decidedBy == "telegram:111")
        #expect(TransactionFixture.shell(staged.id).decidedBy == "shell:root")
        #expect(UpdateApproval.deadline(stagedMs: 1000, ttl: .seconds(86400)) == 86_401_000)
    }

    @Test func eachRuleRefusesWithAPreciseSentence() throws {
        let fixture = try TransactionFixture()
        let staged = try fixture.staged()
        let id = staged.id
        let wrong = String(repeating: "f", count: 64)

        let mismatch = check(fromTelegram(id, sha256: wrong), staged)
        #expect(mismatch == .artifactMismatch(id, expected: TransactionFixture.artifact, got: wrong))
        #expect(
            mismatch?.description == "the decision names artifact ffffffffffff…, but \(id) staged aaaaaaaaaaaa…: "
                + "decide on the artifact shown for it")

        let stranger = check(fromTelegram(id, user: 222), staged)
        #expect(stranger == .notAnAdmin(userID: 222))
        #expect(
            stranger?.description == "Telegram user 222 is not in AUTONOUS_TELEGRAM_ADMINS and cannot decide on updates"
        )

        let shellOnly = check(fromTelegram(id), staged, mode: .shell)
        #expect(shellOnly == .telegramDisabled(id))
        #expect(
            shellOnly?.description == "updates are decided only from a shell (AUTONOUS_UPDATE_APPROVAL=shell): "
                + "run autonousctl approve \(id) or autonousctl reject \(id)")
        #expect(check(TransactionFixture.shell(id), staged, mode: .shell) == nil)

        let onProbation = RelayTrust(
            relayingRevision: Self.probation, lastGood: Self.lastGood, probation: Self.probation)
        let relayed = check(fromTelegram(id), staged, relay: onProbation)
        #expect(relayed == .untrustedRelay(relaying: Self.probation, lastGood: Self.lastGood, onProbation: true))
        #expect(
            relayed?.description == "the decision was relayed by revision dddddddddddd…, which is on probation; "
                + "only the promoted last-good revision bbbbbbbbbbbb… may relay update decisions")
        let stale = RelayTrust(relayingRevision: wrong, lastGood: Self.lastGood)
        #expect(
            check(fromTelegram(id), staged, relay: stale)
                == .untrustedRelay(relaying: wrong, lastGood: Self.lastGood, onProbation: false))
        let noLastGood = RelayTrust(relayingRevision: Self.lastGood, lastGood: nil)
        #expect(check(fromTelegram(id), staged, relay: noLastGood) != nil)
        // The same sha256 deployed again is on probation even though it was last-good.
        let redeployed = RelayTrust(relayingRevision: Self.lastGood, lastGood: Self.lastGood, probation: Self.lastGood)
        #expect(check(fromTelegram(id), staged, relay: redeployed) != nil)
        // A shell decision comes over the control socket: no relay is involved.
        #expect(check(TransactionFixture.shell(id), staged, relay: onProbation) == nil)

        let deadline = try #require(staged.expiresMs)
        let late = check(fromTelegram(id), staged, now: deadline)
        #expect(late == .expired(id, expiresMs: deadline))
        #expect(late?.description.hasPrefix("the approval of \(id) expired at 2023-11-15T22:13:20Z") == true)
        #expect(check(fromTelegram(id), staged, now: deadline - 1) == nil)

        let other = try fixture.store.create(TransactionFixture.proposal())
        #expect(check(fromTelegram(other.id), staged) == .wrongTransaction(requested: other.id, checked: id))
    }

    @Test(arguments: [
        (TransactionState.testing, "is not staged yet: it is testing"),
        (.approved, "is already approved (it is approved)"),
        (.probation, "is already approved (it is probation)"), (.rejected, "is already rejected"),
        (.expired, "has expired: nobody decided before its deadline"),
        (.testFailed, "cannot be decided: it ended test_failed"),
    ])
    func aTransactionThatIsNotStagedCannotBeDecided(_ state: TransactionState, _ sentence: String) throws {
        let fixture = try TransactionFixture()
        let transaction = try TransactionStoreTests.drive(fixture, to: state)
        let error = check(fromTelegram(transaction.id), transaction)
        #expect(error == .notStaged(transaction.id, state: state))
        #expect(error?.description == "transaction \(transaction.id) \(sentence)")
    }

    @Test func theStoreRecordsOneDecisionWithWhoHowAndWhen() throws {
        let fixture = try TransactionFixture()
        let staged = try fixture.staged()
        let approved = try fixture.decide(fromTelegram(staged.id))
        #expect(approved.state == .approved && approved.reason == "approved by telegram:111")
        let row = try #require(
            try fixture.database.pool.read { db in try Row.fetchOne(db, sql: "SELECT * FROM update_approvals") })
        #expect(row["tx"] as String == staged.id && row["artifact_sha256"] as String == TransactionFixture.artifact)
        #expect(row["decision"] as String == "approve" && row["decided_by"] as String == "telegram:111")
        #expect(row["via"] as String == "telegram" && row["ts_ms"] as Int64 == fixture.clock.now())
        #expect(try row["event_id"] as Int64? == fixture.events().last?.id)
        #expect(try fixture.events().last?.type == "update.approved")

        let twice = #expect(throws: UpdateApprovalError.self) { try fixture.decide(fromTelegram(staged.id)) }
        #expect(twice == .notStaged(staged.id, state: .approved))
        #expect(twice?.description == "transaction \(staged.id) is already approved (it is approved)")
        #expect(try fixture.count("update_approvals") == 1)
        let refused = try fixture.events(TransactionStore.decisionRefusedEvent.rawValue)
        #expect(refused.count == 1)
        #expect(refused.first?.payload.objectValue?["tx"]?.stringValue == staged.id)
        #expect(refused.first?.payload.objectValue?["reason"]?.stringValue == twice?.description)
    }

    @Test func theStoreRefusesEveryBadDecisionAndRecordsNone() throws {
        let fixture = try TransactionFixture()
        let testing = try TransactionStoreTests.drive(fixture, to: .testing)
        #expect(throws: UpdateApprovalError.notStaged(testing.id, state: .testing)) {
            try fixture.decide(TransactionFixture.shell(testing.id))
        }
        try fixture.store.transition(testing.id, to: .testFailed, reason: "2 tests failed")
        let staged = try fixture.staged()
        #expect(throws: UpdateApprovalError.notAnAdmin(userID: 5)) {
            try fixture.decide(fromTelegram(staged.id, user: 5))
        }
        #expect(throws: UpdateApprovalError.telegramDisabled(staged.id)) {
            try fixture.store.recordDecision(
                fromTelegram(staged.id), admins: [111], mode: .shell,
                relay: RelayTrust(relayingRevision: Self.lastGood, lastGood: Self.lastGood))
        }
        #expect(throws: UpdateApprovalError.self) {
            try fixture.store.recordDecision(
                fromTelegram(staged.id), admins: [111], mode: .telegram, relay: Self.onProbation)
        }
        let wrong = String(repeating: "e", count: 64)
        #expect(
            throws: UpdateApprovalError.artifactMismatch(staged.id, expected: TransactionFixture.artifact, got: wrong)
        ) {
            try fixture.decide(fromTelegram(staged.id, sha256: wrong))
        }
        #expect(throws: TransactionError.notFound("tx-zzzzzzzz")) {
            try fixture.decide(TransactionFixture.shell("tx-zzzzzzzz"))
        }
        #expect(try fixture.count("update_approvals") == 0)
        #expect(try fixture.store.get(staged.id)?.state == .staged)
        #expect(try fixture.events(TransactionStore.decisionRefusedEvent.rawValue).count == 5)
    }

    static let onProbation = RelayTrust(relayingRevision: probation, lastGood: lastGood, probation: probation)

    @Test func aDecisionAfterTheDeadlineRecordsTheExpiry() throws {
        let fixture = try TransactionFixture()
        let staged = try fixture.staged()
        let deadline = try #require(staged.expiresMs)
        fixture.clock.advance(by: deadline - fixture.clock.now())
        #expect(throws: UpdateApprovalError.expired(staged.id, expiresMs: deadline)) {
            try fixture.decide(fromTelegram(staged.id))
        }
        let expired = try fixture.store.get(staged.id)
        #expect(expired?.state == .expired && expired?.reason == "nobody decided before the approval deadline")
        #expect(try fixture.store.steps(staged.id).last?.to == .expired)
        #expect(throws: UpdateApprovalError.notStaged(staged.id, state: .expired)) {
            try fixture.decide(TransactionFixture.shell(staged.id))
        }
        #expect(try fixture.count("update_approvals") == 0)
    }

    @Test func ofConcurrentDecisionsExactlyOneIsRecorded() throws {
        let fixture = try TransactionFixture()
        let staged = try fixture.staged()
        let requests = (0 ..< 8).map { index in
            TransactionFixture.shell(staged.id, index.isMultiple(of: 2) ? .approve : .reject)
        }
        let outcomes = Mutex<[Result<TransactionState, UpdateApprovalError>]>([])
        DispatchQueue.concurrentPerform(iterations: requests.count) { index in
            let outcome: Result<TransactionState, UpdateApprovalError>
            do {
                outcome = .success(try fixture.decide(requests[index]).state)
            } catch let error as UpdateApprovalError {
                outcome = .failure(error)
            } catch {
                Issue.record("unexpected \(error)")
                return
            }
            outcomes.withLock { $0.append(outcome) }
        }
        let all = outcomes.withLock { $0 }
        let winners = all.compactMap { try? $0.get() }
        #expect(all.count == 8 && winners.count == 1)
        let final = try #require(winners.first)
        for case .failure(let error) in all {
            #expect(error == .notStaged(staged.id, state: final))
        }
        #expect(try fixture.count("update_approvals") == 1)
        #expect(try fixture.store.steps(staged.id).filter { $0.to == final }.count == 1)
    }
}

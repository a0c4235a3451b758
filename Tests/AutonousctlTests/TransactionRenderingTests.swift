import AutonousCore
import Foundation
import Testing

@testable import autonousctl

/// `autonousctl transactions` and `transaction TX` as text, from fixed transactions and a fixed now.
@Suite struct TransactionRenderingTests {
    typealias Fixtures = TransactionFixtures

    @Test func theListIsATableNewestFirstWithCutTitlesArtifactPrefixesAndTestCounts() {
        let text = TransactionsCommand.render(
            [Fixtures.testFailed, Fixtures.staged, Fixtures.building], nowMs: Fixtures.nowMs)
        #expect(
            text == """
                ID           STATE        AGE       TITLE                                     ARTIFACT      TESTS
                tx-zz22zz22  building     30s ago   Shorter replies                           -             -
                tx-k3m7qa2z  staged       1h0m ago  Reply to /version with the running revi…  3f1c9a2e4b5d  41/0
                tx-abcdefgh  test_failed  2h0m ago  Make the grep tool follow symbolic link…  -             39/2
                """)
    }

    @Test func anEmptyListSaysSo() {
        #expect(TransactionsCommand.render([], nowMs: Fixtures.nowMs) == "no transactions yet")
    }

    @Test func aStagedTransactionShowsEverythingAnApproverNeeds() {
        let detail = ControlInterface.TransactionDetail(
            transaction: Fixtures.staged, steps: Fixtures.stagedSteps,
            buildLogTail: ["Compiling Worker Commands.swift", "Build complete! (41.20s)"],
            testLogTail: ["✔ Test run with 41 tests passed after 3.1 seconds."])
        let text = TransactionCommand.render(
            detail, nowMs: Fixtures.nowMs, timeZone: TimeZone(identifier: "UTC") ?? .current)
        #expect(
            text == """
                transaction   tx-k3m7qa2z
                state         staged
                title         Reply to /version with the running revision
                summary       Adds a /version command.
                              It answers with the revision's sha256 prefix.
                requested by  telegram:111 (run 3f1c9a2e-0000-4000-8000-000000000001)
                base          revision aa11bb22cc33, commit 0123456789ab
                commit        89abcdef0123456789abcdef0123456789abcdef
                artifact      sha256 \(Fixtures.sha256)
                created       2026-12-05 11:00:00 (1h0m ago)
                updated       2026-12-05 11:05:00 (55m0s ago)
                expires       2026-12-06 11:55:00 (in 23h55m)
                diffstat       Sources/Worker/Commands.swift | 12 ++++++++++--
                               1 file changed, 10 insertions(+), 2 deletions(-)
                tests         41 passed, 0 failed

                steps
                  2026-12-05 11:00:00  - → created
                  2026-12-05 11:00:01  created → building
                  2026-12-05 11:02:00  building → testing
                  2026-12-05 11:04:50  testing → self_checking
                  2026-12-05 11:05:00  self_checking → staged   41 tests passed

                build log (last 2 lines)
                  Compiling Worker Commands.swift
                  Build complete! (41.20s)

                test log (last 1 line)
                  ✔ Test run with 41 tests passed after 3.1 seconds.

                decide with: autonousctl approve tx-k3m7qa2z | autonousctl reject tx-k3m7qa2z
                """)
    }

    @Test func aFailedTransactionShowsItsReasonAndNoArtifactOrDeadline() {
        let detail = ControlInterface.TransactionDetail(
            transaction: Fixtures.testFailed, steps: [], buildLogTail: [], testLogTail: ["✘ 2 tests failed"])
        let text = TransactionCommand.render(
            detail, nowMs: Fixtures.nowMs, timeZone: TimeZone(identifier: "UTC") ?? .current)
        let lines = text.split(separator: "\n", omittingEmptySubsequences: false).map(String.init)
        #expect(lines.contains("artifact      -"))
        #expect(lines.contains("reason        2 tests failed"))
        #expect(lines.contains("tests         39 passed, 2 failed"))
        #expect(lines.contains("diffstat      -"))
        #expect(lines.contains("requested by  telegram:111"))
        #expect(!lines.contains { $0.hasPrefix("expires") })
        #expect(lines.contains("  none recorded"))
        #expect(lines.contains("build log: no lines"))
        #expect(lines.contains("  ✘ 2 tests failed"))
        #expect(!lines.contains { $0.hasPrefix("decide with") })
    }

    @Test func aStagedTransactionPastItsDeadlineSaysItCanNoLongerBeApproved() {
        var late = Fixtures.staged
        late.expiresMs = Fixtures.nowMs - 90_000
        #expect(
            TransactionCommand.expiry(late, nowMs: Fixtures.nowMs)
                == " (1m30s ago; it can no longer be approved)")
        var approved = Fixtures.staged
        approved.state = "approved"
        #expect(TransactionCommand.expiry(approved, nowMs: Fixtures.nowMs) == "")
    }

    @Test func titlesAreCutToOneLineAndTheirWidth() {
        #expect(truncated("short", to: 10) == "short")
        #expect(truncated("exactly10!", to: 10) == "exactly10!")
        #expect(truncated("eleven char", to: 10) == "eleven ch…")
        #expect(truncated("first\nsecond", to: 10) == "first…")
    }
}

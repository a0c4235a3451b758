import AutonousCore
import Foundation
import GRDB
import Testing

@testable import Worker

/// The daily budget: every call reserves its worst case in the worker database's ledger before it is made.
@Suite struct ControlBudgetTests {
    private func settings(tokens: Int?, cost: Dollars? = nil, prices: PriceTable? = nil) -> AgentControl.Settings {
        AgentControl.Settings(
            runLimits: RunLimits(maxTurns: 1000, maxRunTokens: 100_000_000),
            dailyBudget: DailyBudget(tokens: tokens, cost: cost), priceTable: prices)
    }

    @Test func aCallReservesItsWorstCaseAndSettlesWithTheReportedUsage() async throws {
        let fixture = try ControlFixture(settings(tokens: 10000))
        let control = fixture.control
        await control.beginRun(runID: "r", conversationID: "telegram:1")
        let reservation = try #require(await control.admit("r", prompt: 4000, completion: 1000).reservation)
        #expect(try fixture.today() == SpendLedger.Totals(tokens: 5000, cost: .zero, open: 1))
        await control.settle(
            reservation, usage: ModelUsage(inputTokens: 2000, cachedTokens: 500, outputTokens: 500), errorClass: nil)
        #expect(try fixture.today() == SpendLedger.Totals(tokens: 2500, cost: .zero, open: 0))
        let row = try #require(
            try fixture.database.database.pool.read { db in try Row.fetchOne(db, sql: "SELECT * FROM spend_ledger") })
        #expect(row["state"] as String? == "settled")
        #expect(row["run_id"] as String? == "r" && row["conversation_id"] as String? == "telegram:1")
        #expect(row["reserved_tokens"] as Int? == 5000 && row["tokens"] as Int? == 2500)
        #expect(row["cached_tokens"] as Int? == 500)
        #expect(row["day"] as String? == "2026-01-01")
    }

    @Test func aCallThatDoesNotFitIsRefusedBeforeItIsMade() async throws {
        let fixture = try ControlFixture(settings(tokens: 10000))
        let control = fixture.control
        await control.beginRun(runID: "a", conversationID: nil)
        await control.beginRun(runID: "b", conversationID: nil)
        let first = try #require(await control.admit("a", prompt: 6000, completion: 2000).reservation)
        // While the first call is in flight its worst case counts: 8,000 + 3,000 does not fit.
        #expect(await control.admit("b", prompt: 2000, completion: 1000) == .refused(.dailyBudget))
        #expect(try fixture.ledgerStates() == ["reserved"])
        await control.settle(first, usage: ModelUsage(inputTokens: 3000, outputTokens: 1000), errorClass: nil)
        await control.beginRun(runID: "c", conversationID: nil)
        // 4,000 used: 6,000 more fits exactly, one more token would not.
        #expect(await control.admit("c", prompt: 5001, completion: 1000) == .refused(.dailyBudget))
        await control.beginRun(runID: "d", conversationID: nil)
        #expect(await control.admit("d", prompt: 5000, completion: 1000).reservation != nil)
    }

    @Test func aFailureWithoutUsageReleasesAndAnAnswerWithoutUsageCountsTheWorstCase() async throws {
        let fixture = try ControlFixture(settings(tokens: 10000))
        let control = fixture.control
        await control.beginRun(runID: "r", conversationID: nil)
        let failed = try #require(await control.admit("r", prompt: 3000, completion: 1000).reservation)
        await control.settle(failed, usage: nil, errorClass: "timeout")
        #expect(try fixture.today().tokens == 0)
        let cancelled = try #require(await control.admit("r", prompt: 3000, completion: 1000).reservation)
        await control.cancel(cancelled)
        #expect(try fixture.today().tokens == 0)
        let silent = try #require(await control.admit("r", prompt: 3000, completion: 1000).reservation)
        await control.settle(silent, usage: nil, errorClass: nil)
        #expect(try fixture.today() == SpendLedger.Totals(tokens: 4000, cost: .zero, open: 0))
        #expect(try fixture.ledgerStates() == ["released", "released", "settled"])
        #expect(await control.summary(runID: "r")?.tokens == 4000)
    }

    @Test func aBudgetOfZeroAllowsNoModelCall() async throws {
        let fixture = try ControlFixture(settings(tokens: 0))
        await fixture.control.beginRun(runID: "r", conversationID: nil)
        #expect(await fixture.control.admit("r", prompt: 1, completion: 0) == .refused(.dailyBudget))
        #expect(try fixture.ledgerStates().isEmpty)
    }

    @Test func anUnlimitedBudgetStillRecordsEveryCall() async throws {
        let fixture = try ControlFixture(settings(tokens: nil))
        await fixture.control.beginRun(runID: "r", conversationID: nil)
        let reservation = try #require(
            await fixture.control.admit("r", prompt: 50_000_000, completion: 1000).reservation)
        await fixture.control.settle(
            reservation, usage: ModelUsage(inputTokens: 40_000_000, outputTokens: 10), errorClass: nil)
        #expect(try fixture.today().tokens == 40_000_010)
    }

    @Test func aLedgerThatCannotBeReadRefusesTheCall() async throws {
        let fixture = try ControlFixture(settings(tokens: nil))
        try await fixture.database.database.pool.write { db in try db.execute(sql: "DROP TABLE spend_ledger") }
        await fixture.control.beginRun(runID: "r", conversationID: nil)
        #expect(await fixture.control.admit("r", prompt: 1, completion: 1) == .refused(.budgetUnavailable))
        #expect(
            fixture.control.explanation(for: .budgetUnavailable)
                == "I stopped because I could not read today's spending ledger, and I make no model call I cannot "
                + "count.")
    }

    @Test func concurrentReservationsFromManyLanesNeverOvershoot() async throws {
        let fixture = try ControlFixture(settings(tokens: 100_000))
        // A second control plane on the same file, as a second process would open it: the SQLite transaction, not
        // only the actor, keeps the two from both taking the last of the budget.
        let second = try fixture.secondControl(settings(tokens: 100_000))
        let allowed = await withTaskGroup(of: Bool.self) { group in
            for lane in 0 ..< 60 {
                let control = lane % 2 == 0 ? fixture.control : second
                group.addTask {
                    await control.beginRun(runID: "run-\(lane)", conversationID: "lane-\(lane)")
                    let admission = await control.admit("run-\(lane)", prompt: 4000, completion: 1000)
                    return admission.reservation != nil
                }
            }
            var count = 0
            for await ok in group where ok { count += 1 }
            return count
        }
        #expect(allowed == 20)
        #expect(try fixture.today() == SpendLedger.Totals(tokens: 100_000, cost: .zero, open: 20))
    }

    @Test func aReservationLeftByACrashCountsItsWorstCaseAndBlocksOnlyItsDay() async throws {
        let fixture = try ControlFixture(settings(tokens: 10000))
        await fixture.control.beginRun(runID: "r", conversationID: nil)
        _ = try #require(await fixture.control.admit("r", prompt: 7000, completion: 1000).reservation)
        // The worker dies with the call in flight; the next one starts on the same database.
        let restarted = try fixture.secondControl(settings(tokens: 10000))
        #expect(try await restarted.recoverLedger() == 1)
        #expect(try fixture.ledgerStates() == ["abandoned"])
        #expect(try fixture.today() == SpendLedger.Totals(tokens: 8000, cost: .zero, open: 0))
        await restarted.beginRun(runID: "s", conversationID: nil)
        #expect(await restarted.admit("s", prompt: 2000, completion: 1) == .refused(.dailyBudget))
        // A closed row never changes again.
        await #expect(throws: (any Error).self) {
            try await fixture.database.database.pool.write { db in
                try db.execute(sql: "UPDATE spend_ledger SET state = 'released'")
            }
        }
        // The next UTC day starts empty: midnight is 12 hours after the fixture's start.
        fixture.clock.advance(by: .seconds(12 * 3600))
        await restarted.beginRun(runID: "t", conversationID: nil)
        #expect(await restarted.admit("t", prompt: 9000, completion: 1000).reservation != nil)
        #expect(try fixture.today() == SpendLedger.Totals(tokens: 10000, cost: .zero, open: 1))
    }

    @Test func theDailyCostBudgetCountsWorstCaseCostsAndSettledOnes() async throws {
        let prices = PriceTable(prices: ["m": PriceTable.Price(input: 10, cachedInput: 1, output: 30)])
        // 0.10 dollars a day; 10 dollars per million input tokens is 10 µUSD a token.
        let fixture = try ControlFixture(settings(tokens: nil, cost: Dollars(microdollars: 100_000), prices: prices))
        let control = fixture.control
        await control.beginRun(runID: "r", conversationID: nil)
        let reservation = try #require(await control.admit("r", prompt: 5000, completion: 1000).reservation)
        #expect(try fixture.today().cost == Dollars(microdollars: 80000))
        #expect(await control.admit("r", prompt: 2001, completion: 0) == .refused(.dailyCostBudget))
        await control.beginRun(runID: "s", conversationID: nil)
        await control.settle(
            reservation, usage: ModelUsage(inputTokens: 5000, cachedTokens: 4000, outputTokens: 100), errorClass: nil)
        // 1,000 uncached at 10, 4,000 cached at 1, 100 output at 30: 17,000 µUSD.
        #expect(try fixture.today().cost == Dollars(microdollars: 17000))
        #expect(await control.admit("s", prompt: 8300, completion: 0).reservation != nil)
    }

    @Test(arguments: [
        (Int64(0), "1970-01-01"), (Int64(951_782_400_000), "2000-02-29"), (Int64(1_767_225_599_999), "2025-12-31"),
        (Int64(1_767_225_600_000), "2026-01-01"), (Int64(-1), "1969-12-31"), (Int64(4_107_456_000_000), "2100-02-28"),
    ])
    func daysAreUTCDates(_ milliseconds: Int64, _ day: String) {
        #expect(SpendLedger.day(unixMilliseconds: milliseconds) == day)
    }
}

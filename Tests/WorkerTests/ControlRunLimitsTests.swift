import AutonousCore
import Foundation
import Testing

@testable import Worker

/// The limits of one run: turns, run time, tokens and cost, each checked before a call and between iterations.
@Suite struct ControlRunLimitsTests {
    private func settings(_ limits: RunLimits, prices: PriceTable? = nil) -> AgentControl.Settings {
        AgentControl.Settings(runLimits: limits, dailyBudget: DailyBudget(tokens: nil), priceTable: prices)
    }

    private let prices = PriceTable(prices: ["priced": PriceTable.Price(input: 1, output: 2)])

    @Test func theTurnAfterTheLastIsRefusedAndFailedCallsAreNotTurns() async throws {
        let fixture = try ControlFixture(settings(RunLimits(maxTurns: 2)))
        let control = fixture.control
        await control.beginRun(runID: "r", conversationID: "c")
        for _ in 0 ..< 2 {
            // A failed attempt (retried) does not use a turn.
            let failed = try #require(await control.admit("r", prompt: 100, completion: 100).reservation)
            await control.settle(failed, usage: nil, errorClass: "server")
            let answered = try #require(await control.admit("r", prompt: 100, completion: 100).reservation)
            await control.settle(answered, usage: ModelUsage(inputTokens: 100, outputTokens: 10), errorClass: nil)
        }
        #expect(await control.checkLimits(runID: "r") == .maxTurns)
        let refused = await control.admit("r", prompt: 100, completion: 100)
        #expect(refused == .refused(.maxTurns))
        let summary = try #require(await control.endRun(runID: "r"))
        #expect(summary.turns == 2 && summary.tokens == 220 && summary.stopReason == .maxTurns)
    }

    @Test func theRunTimeCountsOnTheInjectedClock() async throws {
        let fixture = try ControlFixture(settings(RunLimits(maxRunTime: .seconds(600))))
        let control = fixture.control
        await control.beginRun(runID: "r", conversationID: nil)
        fixture.clock.advance(by: .seconds(599))
        #expect(await control.checkLimits(runID: "r") == nil)
        let admission = await control.admit("r", prompt: 10, completion: 10)
        #expect(admission.reservation != nil)
        fixture.clock.advance(by: .seconds(1))
        #expect(await control.checkLimits(runID: "r") == .maxRunTime)
        #expect(await control.admit("r", prompt: 10, completion: 10) == .refused(.maxRunTime))
        // Another run started now has its own ten minutes.
        await control.beginRun(runID: "s", conversationID: nil)
        #expect(await control.checkLimits(runID: "s") == nil)
    }

    @Test func aCallWhoseWorstCaseWouldPassTheRunsTokensIsRefused() async throws {
        let fixture = try ControlFixture(settings(RunLimits(maxRunTokens: 10000)))
        let control = fixture.control
        await control.beginRun(runID: "r", conversationID: nil)
        let first = try #require(await control.admit("r", prompt: 6000, completion: 3000).reservation)
        await control.settle(first, usage: ModelUsage(inputTokens: 5000, outputTokens: 1000), errorClass: nil)
        // 6,000 used: a worst case of 4,001 more would pass 10,000; 4,000 fits exactly.
        #expect(await control.admit("r", prompt: 3001, completion: 1000) == .refused(.maxRunTokens))
        // The refusal stopped the run: it stays stopped with the first reason.
        #expect(await control.admit("r", prompt: 10, completion: 10) == .refused(.maxRunTokens))
        #expect(await control.checkLimits(runID: "r") == .maxRunTokens)

        await control.beginRun(runID: "s", conversationID: nil)
        let second = try #require(await control.admit("s", prompt: 6000, completion: 0).reservation)
        await control.settle(second, usage: ModelUsage(inputTokens: 6000, outputTokens: 0), errorClass: nil)
        #expect(await control.admit("s", prompt: 3000, completion: 1000).reservation != nil)
    }

    @Test func aCallThatCouldPassTheRunsCostIsRefused() async throws {
        // One dollar per million input tokens, two per million output: 0.01 dollars is 10,000 input tokens.
        let fixture = try ControlFixture(
            settings(RunLimits(maxRunCost: Dollars(microdollars: 10000)), prices: prices))
        let control = fixture.control
        await control.beginRun(runID: "r", conversationID: nil)
        let first = try #require(await control.admit("r", prompt: 4000, completion: 1000, model: "priced").reservation)
        #expect(first.cost == Dollars(microdollars: 6000))
        await control.settle(first, usage: ModelUsage(inputTokens: 4000, outputTokens: 500), errorClass: nil)
        #expect(await control.summary(runID: "r")?.cost == Dollars(microdollars: 5000))
        // 5,000 µUSD used; a worst case of 5,001 more is refused.
        #expect(await control.admit("r", prompt: 3001, completion: 1000, model: "priced") == .refused(.maxRunCost))
    }

    @Test func withACostCapAModelWithoutAPriceIsRefusedNotCountedAsFree() async throws {
        let capped = try ControlFixture(
            settings(RunLimits(maxRunCost: Dollars(microdollars: 1_000_000)), prices: prices))
        await capped.control.beginRun(runID: "r", conversationID: nil)
        #expect(
            await capped.control.admit("r", prompt: 10, completion: 10, model: "unpriced")
                == .refused(.unpricedModel))
        #expect(try capped.ledgerStates().isEmpty)

        // Without a cost cap an unpriced model is allowed; its ledger row has no cost.
        let uncapped = try ControlFixture(settings(RunLimits(), prices: prices))
        await uncapped.control.beginRun(runID: "r", conversationID: nil)
        let reservation = try #require(
            await uncapped.control.admit("r", prompt: 10, completion: 10, model: "unpriced").reservation)
        #expect(reservation.cost == nil)
    }

    @Test func aRunThatWasNeverBegunIsRefused() async throws {
        let fixture = try ControlFixture()
        #expect(await fixture.control.admit("nobody", prompt: 1, completion: 1) == .refused(.cancelled))
        #expect(await fixture.control.checkLimits(runID: "nobody") == .cancelled)
    }

    @Test func everyStopReasonHasOneSentenceForTheUser() {
        let settings = AgentControl.Settings()
        for reason in StopReason.allCases {
            let sentence = reason.explanation(settings)
            #expect(sentence.hasPrefix("I ") && sentence.hasSuffix("."), "\(reason.rawValue): \(sentence)")
            #expect(!sentence.contains(". "), "one sentence: \(reason.rawValue): \(sentence)")
        }
        #expect(
            StopReason.dailyBudget.explanation(settings)
                == "I stopped because this would pass today's token budget (2,000,000 tokens for all conversations); "
                + "it resets at 00:00 UTC.")
        #expect(
            StopReason.maxRunTime.explanation(settings)
                == "I stopped because this answer has run for 10 minutes, the longest one message may take.")
        #expect(
            StopReason.breakerOpen.explanation(settings)
                == "I stopped because the model failed 5 times in a row; I pause model calls for 1 minute, please try "
                + "again then.")
        var zero = settings
        zero.dailyBudget.tokens = 0
        #expect(
            StopReason.dailyBudget.explanation(zero)
                == "I make no model calls because the daily token budget is set to 0.")
        #expect(StopReason.maxRunTokens.rawValue == "max_run_tokens" && StopReason.noProgress.rawValue == "no_progress")
    }
}

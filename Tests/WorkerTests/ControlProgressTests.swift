import AutonousCore
import Testing

@testable import Worker

/// No progress: iterations whose tool calls and results repeat stop the run; full-jitter backoff; the test clock.
@Suite struct ControlProgressTests {
    private let ls = ToolStep(name: "ls", arguments: #"{"path": ".", "limit": 10}"#, result: "a\nb")
    private let read = ToolStep(name: "read", arguments: #"{"path": "a"}"#, result: "hello")

    /// Feeds `iterations` to a detector; what each one returned and the streak after it.
    private func record(_ iterations: [[ToolStep]], limit: Int = 3) -> [(stalled: Bool, streak: Int)] {
        var detector = NoProgressDetector(limit: limit)
        return iterations.map { steps in
            let stalled = detector.record(steps)
            return (stalled, detector.streak)
        }
    }

    @Test func theSameCallsAndResultsThreeTimesInARowStall() {
        // The same calls in another order, with arguments written with other spacing and key order.
        let lsAgain = ToolStep(name: "ls", arguments: #"{"limit":10,"path":"."}"#, result: "a\nb")
        let outcomes = record([[ls, read], [read, lsAgain], [ls, read]])
        #expect(outcomes.map(\.stalled) == [false, false, true])
        #expect(outcomes.map(\.streak) == [1, 2, 3])
    }

    @Test func aDifferentResultOrCallOrAnAnswerStartsTheCountAgain() {
        let changed = ToolStep(name: "read", arguments: #"{"path": "a"}"#, result: "hello, world")
        // A changed result; an iteration without tool calls (an answer, not a repeat); one read against two.
        let outcomes = record([[read], [read], [changed], [changed], [], [changed], [changed, changed]])
        #expect(outcomes.map(\.stalled) == [false, false, false, false, false, false, false])
        #expect(outcomes.map(\.streak) == [1, 2, 1, 2, 0, 1, 1])
        #expect(record([[read], [read], [read], [read]], limit: 4).map(\.stalled) == [false, false, false, true])
    }

    @Test func theControlPlaneStopsAStalledRunAndRefusesItsNextCall() async throws {
        let fixture = try ControlFixture(
            AgentControl.Settings(safeguards: AgentSafeguards(noProgressLimit: 3)))
        let control = fixture.control
        await control.beginRun(runID: "r", conversationID: nil)
        #expect(await control.recordIteration(runID: "r", steps: [ls]) == nil)
        #expect(await control.recordIteration(runID: "r", steps: [ls]) == nil)
        #expect(await control.recordIteration(runID: "r", steps: [ls]) == .noProgress)
        #expect(await control.checkLimits(runID: "r") == .noProgress)
        #expect(await control.admit("r", prompt: 1, completion: 1) == .refused(.noProgress))
        // Other runs are not affected.
        await control.beginRun(runID: "s", conversationID: nil)
        #expect(await control.recordIteration(runID: "s", steps: [ls]) == nil)
    }

    @Test func fullJitterStaysWithinZeroAndTheCappedExponentialCeiling() {
        let backoff = Backoff(attempts: 8, baseDelay: .milliseconds(500), maxDelay: .seconds(30))
        let ceilings: [Duration] = [
            .milliseconds(500), .seconds(1), .seconds(2), .seconds(4), .seconds(8), .seconds(16), .seconds(30),
        ]
        var top = FixedJitter(1)
        var bottom = FixedJitter(0)
        var half = FixedJitter(0.5)
        for (index, ceiling) in ceilings.enumerated() {
            let highest = backoff.delay(afterAttempt: index + 1, retryAfter: nil, jitter: &top)
            let lowest = backoff.delay(afterAttempt: index + 1, retryAfter: nil, jitter: &bottom)
            let middle = backoff.delay(afterAttempt: index + 1, retryAfter: nil, jitter: &half)
            #expect(highest == ceiling && lowest == .zero && middle == ceiling / 2)
        }
        var system = SystemJitter()
        for attempt in 1 ... 7 {
            let ceiling = backoff.ceiling(afterAttempt: attempt)
            let delays = (0 ..< 200).map { _ in backoff.delay(afterAttempt: attempt, retryAfter: nil, jitter: &system) }
            #expect(delays.allSatisfy { $0.map { $0 >= .zero && $0 <= ceiling } == true })
        }
        // A ceiling far past the cap does not overflow.
        #expect(backoff.ceiling(afterAttempt: 10000) == .seconds(30))
    }

    @Test func attemptsAreBoundedAndTheServersRetryAfterWinsUpToItsCap() async throws {
        let backoff = Backoff(attempts: 3, baseDelay: .milliseconds(100), maxDelay: .seconds(1))
        var jitter = FixedJitter(1)
        let delays = [
            backoff.delay(afterAttempt: 2, retryAfter: nil, jitter: &jitter),
            backoff.delay(afterAttempt: 3, retryAfter: nil, jitter: &jitter),
            backoff.delay(afterAttempt: 1, retryAfter: .seconds(7), jitter: &jitter),
            backoff.delay(afterAttempt: 1, retryAfter: .seconds(3600), jitter: &jitter),
            backoff.delay(afterAttempt: 3, retryAfter: .seconds(1), jitter: &jitter),
        ]
        #expect(delays == [.milliseconds(200), nil, .seconds(7), .seconds(600), nil])

        let fixture = try ControlFixture(AgentControl.Settings(backoff: backoff))
        #expect(await fixture.control.retryDelay(afterAttempt: 1, retryAfter: nil) == .milliseconds(100))
        #expect(await fixture.control.retryDelay(afterAttempt: 3, retryAfter: nil) == nil)
    }

    @Test func aSleepOnTheManualClockEndsWhenTheClockIsAdvanced() async throws {
        let clock = ManualClock()
        let sleeper = Task { try await clock.sleep(for: .seconds(30)) }
        await clock.waitForSleepers(1)
        clock.advance(by: .seconds(29))
        #expect(clock.sleeperCount == 1)
        clock.advance(by: .seconds(1))
        try await sleeper.value
        #expect(clock.sleeperCount == 0)

        let cancelled = Task { try await clock.sleep(for: .seconds(30)) }
        await clock.waitForSleepers(1)
        cancelled.cancel()
        await #expect(throws: CancellationError.self) { try await cancelled.value }
    }
}

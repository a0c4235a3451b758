import AutonousCore
import Testing

@testable import Worker

/// The circuit breaker: closed → open after N failures of one class in a row → half-open after the cooldown →
/// closed after a good probe, or open again after a bad one.
@Suite struct ControlBreakerTests {
    @Test func theSameClassNTimesInARowOpensIt() {
        var breaker = CircuitBreaker(threshold: 3, cooldown: .seconds(60))
        let now = Duration.zero
        breaker.recordFailure(.normal, errorClass: "server", now: now)
        breaker.recordFailure(.normal, errorClass: "server", now: now)
        // Another class starts the count again, and so does a success.
        breaker.recordFailure(.normal, errorClass: "timeout", now: now)
        breaker.recordFailure(.normal, errorClass: "server", now: now)
        breaker.recordFailure(.normal, errorClass: "server", now: now)
        breaker.recordSuccess(.normal)
        breaker.recordFailure(.normal, errorClass: "server", now: now)
        breaker.recordFailure(.normal, errorClass: "server", now: now)
        #expect(breaker.state == .closed)
        breaker.recordFailure(.normal, errorClass: "server", now: now)
        #expect(breaker.state == .open(until: .seconds(60)))
        let ticket1 = breaker.admit(now: .seconds(59))
        #expect(ticket1 == nil)
    }

    @Test func halfOpenLetsOneProbeThroughAndASuccessfulProbeClosesIt() {
        var breaker = CircuitBreaker(threshold: 1, cooldown: .seconds(60))
        breaker.recordFailure(.normal, errorClass: "rate_limited", now: .seconds(10))
        #expect(breaker.state(at: .seconds(69)) == .open(until: .seconds(70)))
        #expect(breaker.state(at: .seconds(70)) == .halfOpen(probing: false))
        let ticket2 = breaker.admit(now: .seconds(70))
        #expect(ticket2 == .probe)
        // Only the probe: everyone else waits for its verdict.
        let ticket3 = breaker.admit(now: .seconds(71))
        #expect(ticket3 == nil)
        // A call admitted before the breaker opened ends now: it decides nothing.
        breaker.recordSuccess(.normal)
        #expect(breaker.state == .halfOpen(probing: true))
        breaker.recordSuccess(.probe)
        #expect(breaker.state == .closed)
        let ticket4 = breaker.admit(now: .seconds(72))
        #expect(ticket4 == .normal)
    }

    @Test func aFailedProbeOpensItForAnotherCooldown() {
        var breaker = CircuitBreaker(threshold: 2, cooldown: .seconds(30))
        breaker.recordFailure(.normal, errorClass: "server", now: .zero)
        breaker.recordFailure(.normal, errorClass: "server", now: .zero)
        let ticket5 = breaker.admit(now: .seconds(30))
        #expect(ticket5 == .probe)
        breaker.recordFailure(.probe, errorClass: "transport", now: .seconds(31))
        #expect(breaker.state == .open(until: .seconds(61)))
        let ticket6 = breaker.admit(now: .seconds(60))
        #expect(ticket6 == nil)
        let ticket7 = breaker.admit(now: .seconds(61))
        #expect(ticket7 == .probe)
    }

    @Test func aCancelledProbeLetsTheNextCallProbe() {
        var breaker = CircuitBreaker(threshold: 1, cooldown: .seconds(5))
        breaker.recordFailure(.normal, errorClass: "server", now: .zero)
        let ticket8 = breaker.admit(now: .seconds(5))
        #expect(ticket8 == .probe)
        breaker.recordAbandoned(.probe)
        let ticket9 = breaker.admit(now: .seconds(6))
        #expect(ticket9 == .probe)
    }

    @Test func theControlPlaneRefusesEveryLaneWhileOpenAndProbesAfterTheCooldown() async throws {
        let settings = AgentControl.Settings(
            safeguards: AgentSafeguards(breakerThreshold: 5, breakerCooldown: .seconds(60)))
        let fixture = try ControlFixture(settings)
        let control = fixture.control
        await control.beginRun(runID: "a", conversationID: nil)
        await control.beginRun(runID: "b", conversationID: nil)
        for _ in 0 ..< 5 {
            let reservation = try #require(await control.admit("a", prompt: 10, completion: 10).reservation)
            await control.settle(reservation, usage: nil, errorClass: "server")
        }
        #expect(await control.breakerState == .open(until: .seconds(60)))
        #expect(await control.admit("b", prompt: 10, completion: 10) == .refused(.breakerOpen))
        // A refused call reserves nothing.
        #expect(try fixture.today().open == 0)

        fixture.clock.advance(by: .seconds(60))
        await control.beginRun(runID: "c", conversationID: nil)
        await control.beginRun(runID: "d", conversationID: nil)
        let probe = try #require(await control.admit("c", prompt: 10, completion: 10).reservation)
        #expect(probe.ticket == .probe)
        #expect(await control.admit("d", prompt: 10, completion: 10) == .refused(.breakerOpen))
        await control.settle(probe, usage: ModelUsage(inputTokens: 10, outputTokens: 5), errorClass: nil)
        #expect(await control.breakerState == .closed)
        await control.beginRun(runID: "e", conversationID: nil)
        #expect(await control.admit("e", prompt: 10, completion: 10).reservation?.ticket == .normal)
    }

    @Test func aProbeRefusedByTheBudgetDoesNotTakeTheProbesPlace() async throws {
        let settings = AgentControl.Settings(
            dailyBudget: DailyBudget(tokens: 1000),
            safeguards: AgentSafeguards(breakerThreshold: 1, breakerCooldown: .seconds(1)))
        let fixture = try ControlFixture(settings)
        let control = fixture.control
        await control.beginRun(runID: "a", conversationID: nil)
        let failed = try #require(await control.admit("a", prompt: 10, completion: 10).reservation)
        await control.settle(failed, usage: nil, errorClass: "server")
        fixture.clock.advance(by: .seconds(1))
        await control.beginRun(runID: "big", conversationID: nil)
        #expect(await control.admit("big", prompt: 2000, completion: 0) == .refused(.dailyBudget))
        #expect(await control.breakerState == .halfOpen(probing: false))
        await control.beginRun(runID: "small", conversationID: nil)
        #expect(await control.admit("small", prompt: 10, completion: 0).reservation?.ticket == .probe)
    }
}

import AutonousCore
import Foundation
import Testing

@testable import Worker

/// The agent's own time in a run leaves out the model's: a model that takes 400 ms to answer does not make the
/// agent's overhead 400 ms. (A behaviour, not a speed target: `make bench` measures the overhead itself.)
@Suite struct RunStopwatchTests {
    @Test func theModelsTimeIsNotTheAgentsOverhead() async throws {
        let fixture = try AgentTestSupport.Fixture()
        let script = try AgentTestSupport.script([#"{"delay": 0.4}"#, #"{"text": "slowly"}"#])
        let began = ContinuousClock.now
        let outcome = try await fixture.agent(script: script).run(fixture.request("take your time"))
        let wall = ContinuousClock.now - began
        #expect(outcome.reply == "slowly")
        let completed = try #require(try fixture.events("agent.completed").first?.payload)
        let overhead = try #require(completed["overhead_us"]?.intValue)
        #expect(overhead >= 0)
        // However slow the machine, the model's 400 ms are left out of what the run took.
        let ceiling = (wall - .milliseconds(400)).components
        let ceilingMicroseconds = ceiling.seconds * 1_000_000 + ceiling.attoseconds / 1_000_000_000_000
        #expect(overhead <= ceilingMicroseconds, "the model's 400 ms counted as the agent's: \(overhead) µs")
        #expect(completed["overhead_per_turn_us"]?.intValue == overhead, "one turn")
    }

    @Test func timeOutsideIsSubtractedAndPerTurnSharesIt() async {
        let stopwatch = RunStopwatch()
        await stopwatch.outside { try? await Task.sleep(for: .milliseconds(200)) }
        stopwatch.exclude(.seconds(1))
        // Everything so far was outside (and more was counted than has passed): the overhead is below zero.
        #expect(stopwatch.overhead < .zero)
        #expect(stopwatch.overheadMicroseconds() < -700_000)
    }
}

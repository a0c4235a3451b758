import Testing

@testable import Worker

/// The doorbell between the Telegram poller and the inbox processors. Its old wait rang the bell itself when its
/// timeout task was cancelled, so every wait after the first real ring returned at once: a busy loop at full CPU.
@Suite("Doorbell")
struct DoorbellTests {
    @Test func aRingBeforeTheWaitIsRemembered() async {
        let bell = Doorbell()
        bell.ring()
        #expect(await bell.wait(timeout: .seconds(30)))
    }

    @Test func aRingWakesAWaitingTask() async {
        let bell = Doorbell()
        async let woken = bell.wait(timeout: .seconds(30))
        // Ring until the waiter has taken it: a ring before it waits is remembered, so one ring is enough either way.
        bell.ring()
        #expect(await woken)
    }

    @Test func wakingUpLeavesNoRingBehind() async {
        let bell = Doorbell()
        for _ in 0 ..< 3 {
            async let woken = bell.wait(timeout: .seconds(30))
            bell.ring()
            #expect(await woken)
            // The regression: these waits returned true at once, found a ring nobody had rung.
            #expect(await bell.wait(timeout: .milliseconds(20)) == false)
            #expect(await bell.wait(timeout: .milliseconds(20)) == false)
        }
    }

    @Test func aTimedOutWaitLeavesNoRingBehind() async {
        let bell = Doorbell()
        #expect(await bell.wait(timeout: .milliseconds(10)) == false)
        #expect(await bell.wait(timeout: .milliseconds(10)) == false)
    }

    @Test func severalRingsCoalesceIntoOne() async {
        let bell = Doorbell()
        bell.ring()
        bell.ring()
        bell.ring()
        #expect(await bell.wait(timeout: .seconds(30)))
        #expect(await bell.wait(timeout: .milliseconds(20)) == false)
    }

    @Test func cancellationEndsTheWait() async {
        let bell = Doorbell()
        let waiter = Task { await bell.wait(timeout: .seconds(600)) }
        waiter.cancel()
        #expect(await waiter.value == false)
        // The cancelled wait left no ring and no waiter: a ring now is remembered for the next wait.
        bell.ring()
        #expect(await bell.wait(timeout: .seconds(30)))
    }
}

import Testing

@testable import AutonousCore

/// Keyed wake-ups: a value reaches its waiter whether it comes before or during the wait, once, and not at all
/// for a key nobody registered.
@Suite struct KeyedWakeUpsTests {
    @Test func aValueWakesTheWaiter() async {
        let wakeUps = KeyedWakeUps<Int>()
        wakeUps.register("a")
        let waiting = Task { await wakeUps.wait("a", timeout: .seconds(600)) }
        while !wakeUps.resume("a", with: 7) { await Task.yield() }
        #expect(await waiting.value == 7)
    }

    @Test func aValueBeforeTheWaitIsKeptAndAnUnknownKeyRefused() async {
        let wakeUps = KeyedWakeUps<Int>()
        #expect(!wakeUps.resume("nobody", with: 1))
        wakeUps.register("a")
        #expect(wakeUps.resume("a", with: 2))
        #expect(!wakeUps.resume("a", with: 3), "one value per key")
        #expect(await wakeUps.wait("a", timeout: .seconds(600)) == 2)
        #expect(!wakeUps.resume("a", with: 4), "the key is forgotten after the wait")
    }

    @Test func theDeadlineAndCancellationEndTheWait() async {
        let wakeUps = KeyedWakeUps<Int>()
        #expect(await wakeUps.wait("a", timeout: .milliseconds(10)) == nil)
        let waiting = Task { await wakeUps.wait("b", timeout: .seconds(600)) }
        waiting.cancel()
        #expect(await waiting.value == nil)
    }

    @Test func resumeAllWakesEveryone() async {
        let wakeUps = KeyedWakeUps<String>()
        wakeUps.register("a")
        wakeUps.register("b")
        wakeUps.resumeAll(with: "gone")
        #expect(await wakeUps.wait("a", timeout: .seconds(600)) == "gone")
        #expect(await wakeUps.wait("b", timeout: .seconds(600)) == "gone")
    }
}

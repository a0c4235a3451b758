import AutonousCore
import Testing

@testable import Supervisord

/// The relay between operators' chats and the worker: wake-ups, not polling, and no waiter left behind.
@Suite struct ChatRelayTests {
    @Test func theWorkersAnswerWakesTheWaitingCaller() async throws {
        let relay = ChatRelay()
        let generation = relay.notices.subscribe()
        let waiting = Task { await relay.send(text: "hi", conversation: "ops", timeout: .seconds(600)) }
        let notice = try #require(try await relay.notices.next(generation))
        #expect(notice.kind == "chat" && notice.text == "hi" && notice.conversation == "ops")
        #expect(relay.deliver(id: try #require(notice.id), outcome: .answered(text: "hello", runID: "r1")))
        guard case .answered(let text, let runID) = await waiting.value else {
            Issue.record("not answered")
            return
        }
        #expect(text == "hello" && runID == "r1")
        #expect(!relay.deliver(id: try #require(notice.id), outcome: .failed("twice")), "an answer counts once")
    }

    @Test func aCallerThatGivesUpLeavesNothingToAnswer() async throws {
        let relay = ChatRelay()
        let generation = relay.notices.subscribe()
        let waiting = Task { await relay.send(text: "hi", conversation: "ops", timeout: .seconds(600)) }
        let notice = try #require(try await relay.notices.next(generation))
        waiting.cancel()
        guard case .failed(let message) = await waiting.value else {
            Issue.record("a cancelled wait must fail")
            return
        }
        #expect(message == "the caller hung up")
        #expect(!relay.deliver(id: try #require(notice.id), outcome: .failed("late")))
    }

    @Test func aWaitEndsAtItsDeadline() async {
        let relay = ChatRelay()
        guard case .failed(let message) = await relay.send(text: "hi", conversation: "ops", timeout: .milliseconds(20))
        else {
            Issue.record("expected a timeout")
            return
        }
        #expect(message.contains("did not answer"))
    }

    @Test func workerGoneTellsEveryWaiterAndDropsTheQueue() async {
        let relay = ChatRelay()
        let waiting = Task { await relay.send(text: "hi", conversation: "ops", timeout: .seconds(600)) }
        // The notice is queued (no subscriber yet) once the queue holds it.
        while relay.notices.drain().isEmpty { await Task.yield() }
        relay.workerGone("the worker crashed")
        guard case .workerGone(let reason) = await waiting.value else {
            Issue.record("expected workerGone")
            return
        }
        #expect(reason == "the worker crashed")
    }

    @Test func theNewestSubscriberTakesTheStreamOver() async throws {
        let queue = NoticeQueue()
        let old = queue.subscribe()
        let oldWait = Task { try await queue.next(old) }
        await Task.yield()
        let new = queue.subscribe()
        #expect(try await oldWait.value == nil, "the older stream ends")
        queue.push(.init(kind: "chat", id: "a"))
        queue.requeue(.init(kind: "chat", id: "b"))
        #expect(try await queue.next(new)?.id == "b")
        #expect(try await queue.next(new)?.id == "a")
        #expect(try await queue.next(old) == nil)
    }

    @Test func aCancelledStreamLosesNoNotice() async throws {
        let queue = NoticeQueue()
        let generation = queue.subscribe()
        let waiting = Task { try await queue.next(generation) }
        waiting.cancel()
        _ = await waiting.result
        queue.push(.init(kind: "chat", id: "kept"))
        #expect(try await queue.next(generation)?.id == "kept")
    }
}

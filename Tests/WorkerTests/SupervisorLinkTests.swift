import AutonousCore
import Foundation
import Logging
import Synchronization
import Testing

@testable import Worker

@Suite(.serialized) struct SupervisorLinkTests {
    @Test func aHelloWithTheWrongRevisionThrowsWrongRevision() async throws {
        try await withSupervisor(FakeSupervisor(expectedRevision: "aaaa1111")) { directory in
            await #expect(throws: WrongRevision(expected: "aaaa1111", claimed: "bbbb2222")) {
                _ = try await SupervisorLink.connect(
                    path: directory + "/worker.sock", revision: "bbbb2222", logger: Logger(label: "test"))
            }
        }
    }

    @Test func theWorkingCopyAndAProposalGoToTheSupervisorAndARefusalComesBackAsItsError() async throws {
        let base = String(repeating: "ab", count: 20)
        let refused = VarlinkError("io.autonous.Worker.UpdateRefused", ["message": .string("the patch is empty")])
        let supervisor = FakeSupervisor(
            workingCopy: .init(commit: base, path: "autonous", created: true), proposal: .failure(refused))
        try await withLink(supervisor) { link, _ in
            let copy = try await link.prepareWorkingCopy()
            #expect(copy == .init(commit: base, path: "autonous", created: true))
            let request = WorkerInterface.ProposeUpdateRequest(
                patch: "diff --git a/x b/x\n", base: base, summary: "s", title: nil, runId: "r", requestedBy: "local")
            await #expect(throws: refused) { try await link.proposeUpdate(request) }
            #expect(supervisor.proposals.withLock { $0 } == [request])
        }
    }

    @Test func heartbeatsCarryTheCountersAndTheBacklogs() async throws {
        let supervisor = FakeSupervisor()
        try await withLink(supervisor) { link, database in
            #expect(link.heartbeatInterval == .milliseconds(50))
            let counters = WorkerCounters()
            counters.pollCompleted(at: 1234)
            counters.runStarted()
            let service = HeartbeatService(
                link: link, counters: counters, inbox: Inbox(database: database), outbox: Outbox(database: database))
            let running = Task { try await service.run() }
            let arrived = await eventually { supervisor.heartbeats.withLock { !$0.isEmpty } }
            running.cancel()
            try await running.value
            #expect(arrived)
            let first = try #require(supervisor.heartbeats.withLock { $0.first })
            #expect(first.lastPollCompletedMs == 1234)
            #expect(first.runsInFlight == 1)
            #expect(first.outboxBacklog == 0)
            #expect(first.oldestUnansweredMs == nil)
        }
    }

    /// A slow PrepareWorkingCopy (a clone of the source) must not hold up the heartbeats, or the supervisor takes the
    /// worker for hung (and the worker itself gives up on a heartbeat without an answer): the call has a connection
    /// of its own.
    @Test func heartbeatsKeepArrivingWhileTheSupervisorHoldsAPrepareWorkingCopy() async throws {
        let supervisor = FakeSupervisor(
            workingCopy: .init(commit: "abc", path: "autonous", created: true), holdWorkingCopy: true)
        try await withLink(supervisor) { link, database in
            defer { supervisor.releaseWorkingCopy() }
            let service = HeartbeatService(
                link: link, counters: WorkerCounters(), inbox: Inbox(database: database),
                outbox: Outbox(database: database))
            let beating = Task { try await service.run() }
            let preparing = Task { try await link.prepareWorkingCopy() }
            #expect(await eventually { supervisor.workingCopyCalls.withLock { $0 } == 1 })
            let before = supervisor.heartbeats.withLock { $0.count }
            // Heartbeats come every 50 ms: three more while the call still waits for its answer.
            let kept = await eventually { supervisor.heartbeats.withLock { $0.count } >= before + 3 }
            #expect(kept, "heartbeats waited behind PrepareWorkingCopy")
            supervisor.releaseWorkingCopy()
            #expect(try await preparing.value == supervisor.workingCopy)
            beating.cancel()
            try await beating.value
        }
    }

    @Test func aRefusedHeartbeatEndsTheServiceWithSupervisorLost() async throws {
        try await withLink(FakeSupervisor(failHeartbeats: true)) { link, database in
            let service = HeartbeatService(
                link: link, counters: WorkerCounters(), inbox: Inbox(database: database),
                outbox: Outbox(database: database))
            await #expect(throws: SupervisorLost.self) { try await service.run() }
        }
    }

    @Test func anEndedNoticeStreamEndsTheServiceWithSupervisorLost() async throws {
        let chat = WorkerInterface.Notice(kind: "chat", id: "c1", text: "hi", conversation: "ops")
        try await withLink(FakeSupervisor(notices: [chat])) { link, _ in
            let received = Mutex<[WorkerInterface.Notice]>([])
            let service = SupervisorNoticeService(link: link) { notice in received.withLock { $0.append(notice) } }
            await #expect(throws: SupervisorLost.self) { try await service.run() }
            #expect(received.withLock { $0 } == [chat])
        }
    }
}

/// True once `condition` holds, checked every 10 ms for up to `timeout`.
private func eventually(timeout: Duration = .seconds(10), _ condition: () -> Bool) async -> Bool {
    let deadline = ContinuousClock.now + timeout
    while ContinuousClock.now < deadline {
        if condition() { return true }
        try? await Task.sleep(for: .milliseconds(10))
    }
    return condition()
}

import AutonousCore
import Foundation
import Logging
import Synchronization
import Testing

@testable import Worker

/// An announcer that decides the approval itself while announcing it: a decision that arrives before the tool
/// call starts waiting.
private struct DecidingAnnouncer: ApprovalAnnouncer {
    let approvals: Approvals
    let waiters: ApprovalWaiters

    func announce(_ approval: Approval) async -> [ApprovalNotice] {
        _ = try? approvals.decide(approval.id, approve: true, by: "early", via: .telegram)
        waiters.decided(approval.id)
        return []
    }

    func close(_ approval: Approval, notices: [ApprovalNotice]) async {}
}

/// `ask` waits for a wake-up from whoever records the decision, never polls, and expires at the deadline.
@Suite struct ToolGateTests {
    private final class Fixture: Sendable {
        let directory: String
        let approvals: Approvals
        let waiters = ApprovalWaiters()
        let ran = Mutex(0)

        init() throws {
            directory = FileManager.default.temporaryDirectory.appendingPathComponent("tg-" + UUID().uuidString).path
            try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
            approvals = Approvals(database: try AppDatabase(path: directory + "/worker.db", role: .worker))
        }

        deinit {
            try? FileManager.default.removeItem(atPath: directory)
        }

        func gate(timeout: Duration, announcer: (any ApprovalAnnouncer)? = nil) -> ToolGate {
            ToolGate(
                policy: ToolPolicy(modes: ["read": .ask]), approvals: approvals, timeout: timeout,
                announcer: announcer, waiters: waiters, logger: Logger(label: "test"))
        }

        var call: ToolRegistry.PreparedCall {
            ToolRegistry.PreparedCall(
                name: "read", tier: .read, arguments: .object(["path": .string("a")]), summary: "read a",
                execute: { [self] in
                    ran.withLock { $0 += 1 }
                    return .failure("ran", tier: .read)
                })
        }
    }

    @Test func aRecordedDecisionWakesTheWaitingCallAtOnce() async throws {
        let fixture = try Fixture()
        let gate = fixture.gate(timeout: .seconds(600))
        let call = fixture.call
        let started = ContinuousClock.now
        let running = Task { try await gate.run(call, context: EventContext()) }
        var pending: [Approval] = []
        while pending.isEmpty {
            await Task.yield()
            pending = try fixture.approvals.pending()
        }
        let id = try #require(pending.first?.id)
        _ = try fixture.approvals.decide(id, approve: true, by: "tester", via: .autonousctl)
        fixture.waiters.decided(id)
        let (_, approval) = try await running.value
        #expect(approval?.status == .approved)
        #expect(fixture.ran.withLock { $0 } == 1)
        #expect(ContinuousClock.now - started < .seconds(30), "woken by the decision, not by the deadline")
    }

    @Test func aDecisionBeforeTheWaitStartsIsNotMissed() async throws {
        let fixture = try Fixture()
        let gate = fixture.gate(
            timeout: .seconds(600),
            announcer: DecidingAnnouncer(approvals: fixture.approvals, waiters: fixture.waiters))
        let (_, approval) = try await gate.run(fixture.call, context: EventContext())
        #expect(approval?.status == .approved)
        #expect(approval?.decidedBy == "early")
        #expect(fixture.ran.withLock { $0 } == 1)
    }

    @Test func withoutADecisionTheCallExpiresAtItsDeadline() async throws {
        let fixture = try Fixture()
        let gate = fixture.gate(timeout: .milliseconds(100))
        let (result, approval) = try await gate.run(fixture.call, context: EventContext())
        #expect(approval?.status == .expired)
        #expect(approval?.decidedVia == .timeout)
        #expect(result.ok == false)
        #expect(fixture.ran.withLock { $0 } == 0)
    }
}

import AutonousCore
import Testing

@testable import Supervisord

/// The revision rules of the worker monitor: deploy through self-check and probation, promotion, every kind of
/// automatic revert, crash loops, a sandbox the host cannot set up, and rollbacks. Instants are fed, never waited.
@Suite struct RevisionMonitorTests {
    let start = ContinuousClock.now
    let settings = WorkerMonitor.Settings(
        readyTimeout: .seconds(10), heartbeatTimeout: .seconds(30), stopTimeout: .seconds(5),
        backoffInitial: .seconds(1), backoffMax: .seconds(8), stableAfter: .seconds(60), probation: .seconds(60),
        stuckAfter: .seconds(120), crashLoopRestarts: 3, crashLoopWindow: .seconds(60))
    let good = String(repeating: "a", count: 64)
    let older = String(repeating: "0", count: 64)
    let new = String(repeating: "b", count: 64)

    private func at(_ seconds: Double) -> ContinuousClock.Instant { start + .milliseconds(Int64(seconds * 1000)) }

    private func names(_ actions: [WorkerMonitor.Action]) -> [String] {
        actions.map { action in
            switch action {
            case .spawn(let revision): "spawn \(revision.prefix(1))"
            case .terminate: "terminate"
            case .kill: "kill"
            case .record(let type, _): type.rawValue
            case .finished: "finished"
            case .transition(let revision, let state, _, _, _): "\(revision.prefix(1)) \(state.rawValue)"
            case .runSelfCheck(let revision): "self-check \(revision.prefix(1))"
            case .tellAdmins: "tell admins"
            case .deployFinished(_, let promoted, _): promoted ? "deploy promoted" : "deploy reverted"
            }
        }
    }

    /// A monitor running `good` (current and last-good, `older` as N-1), ready since 0.2 s, pid 100.
    private func running() -> WorkerMonitor {
        var monitor = WorkerMonitor(
            settings: settings, pointers: .init(current: good, lastGood: good, previousGood: older), now: at(0))
        _ = monitor.handle(.tick, now: at(0))
        _ = monitor.handle(.spawned(pid: 100), now: at(0))
        _ = monitor.handle(.ready(pid: 100), now: at(0.2))
        return monitor
    }

    /// `running()`, then `new` deployed at 1 s, self-checked at 2 s, the old worker gone at 2.5 s and `new`
    /// spawned as pid 200.
    private func onProbation() -> WorkerMonitor {
        var monitor = running()
        _ = monitor.handle(.deploy(revision: new, reason: "test"), now: at(1))
        _ = monitor.handle(.selfCheckFinished(revision: new, passed: true, message: "ok"), now: at(2))
        _ = monitor.handle(.exited(pid: 100, .exited(0)), now: at(2.5))
        _ = monitor.handle(.tick, now: at(2.5))
        _ = monitor.handle(.spawned(pid: 200), now: at(2.5))
        return monitor
    }

    private func transition(_ actions: [WorkerMonitor.Action], _ state: WorkerMonitor.RevisionState)
        -> (revision: String, reason: String, pointers: WorkerMonitor.Pointers, check: String?)?
    {
        for case .transition(let revision, state, let reason, let pointers, let check) in actions {
            return (revision, reason, pointers, check)
        }
        return nil
    }

    @Test func aDeployIsSelfCheckedWhileTheOldWorkerServesThenReplacesItAndIsPromotedAfterProbation() {
        var monitor = running()
        let deploy = monitor.handle(.deploy(revision: new, reason: "by ops"), now: at(1))
        #expect(names(deploy) == ["b probation", "self-check b"])
        #expect(monitor.pointers.current == new)
        #expect(monitor.isReady, "the old worker keeps serving during the self-check")
        #expect(monitor.revisionToRun == good, "a restart before the self-check passed runs the last-good")

        #expect(
            names(monitor.handle(.selfCheckFinished(revision: new, passed: true, message: "ok"), now: at(2)))
                == ["revision.self_check_passed", "terminate"])
        #expect(names(monitor.handle(.exited(pid: 100, .exited(0)), now: at(2.5))) == ["worker.exited"])
        #expect(monitor.consecutiveFailures == 0, "a replaced worker is not a failure")
        #expect(names(monitor.handle(.tick, now: at(2.5))) == ["spawn b"])
        _ = monitor.handle(.spawned(pid: 200), now: at(2.5))
        _ = monitor.handle(.ready(pid: 200), now: at(3))
        #expect(monitor.probation?.readyAt == at(3))
        #expect(monitor.nextDeadline(now: at(4)) == at(33) + .nanoseconds(1), "the heartbeat comes before promotion")
        for second in stride(from: 10.0, through: 60, by: 10) {
            _ = monitor.handle(.heartbeat(pid: 200, pollCompleted: at(second)), now: at(second))
        }
        #expect(monitor.handle(.tick, now: at(62.9)).isEmpty)
        let promoted = monitor.handle(.tick, now: at(63))
        #expect(names(promoted) == ["b promoted", "deploy promoted"])
        #expect(transition(promoted, .promoted)?.pointers == .init(current: new, lastGood: new, previousGood: good))
        #expect(monitor.probation == nil)
    }

    @Test func aFailedSelfCheckRevertsWithoutTouchingTheRunningWorker() {
        var monitor = running()
        _ = monitor.handle(.deploy(revision: new, reason: "test"), now: at(1))
        let actions = monitor.handle(
            .selfCheckFinished(revision: new, passed: false, message: "migrations: no such table"), now: at(2))
        #expect(names(actions) == ["b reverted", "tell admins", "deploy reverted"])
        let reverted = transition(actions, .reverted)
        #expect(reverted?.check == "self_check")
        #expect(reverted?.reason.contains("migrations: no such table") == true)
        #expect(reverted?.pointers == .init(current: good, lastGood: good, previousGood: older))
        #expect(monitor.pid == 100 && monitor.isReady)
        #expect(monitor.probation == nil)
    }

    @Test func aProbationRevisionThatExitsIsRevertedAndTheLastGoodStartsWithoutBackoff() {
        var monitor = onProbation()
        let actions = monitor.handle(.exited(pid: 200, .exited(3)), now: at(2.6))
        #expect(names(actions) == ["worker.exited", "b reverted", "tell admins", "deploy reverted"])
        #expect(transition(actions, .reverted)?.check == "exit")
        #expect(names(monitor.handle(.tick, now: at(2.6))) == ["spawn a"])
        #expect(monitor.consecutiveFailures == 0)
    }

    @Test func aProbationRevisionThatNeverSaysReadyIsRevertedAtTheDeadline() {
        var monitor = onProbation()
        let actions = monitor.handle(.tick, now: at(12.6))
        #expect(
            names(actions) == ["worker.unhealthy", "terminate", "b reverted", "tell admins", "deploy reverted"])
        #expect(transition(actions, .reverted)?.check == "ready_timeout")
        #expect(monitor.pointers.current == good)
        #expect(names(monitor.handle(.exited(pid: 200, .signaled(15)), now: at(13))) == ["worker.exited"])
        #expect(names(monitor.handle(.tick, now: at(13))) == ["spawn a"])
    }

    @Test func aProbationRevisionThatStopsHeartbeatingIsReverted() {
        var monitor = onProbation()
        _ = monitor.handle(.ready(pid: 200), now: at(3))
        let actions = monitor.handle(.tick, now: at(33.1))
        #expect(transition(actions, .reverted)?.check == "heartbeat_timeout")
    }

    @Test func aWorkerThatHeartbeatsButNeverCompletesAPollIsStuck() {
        var monitor = onProbation()
        _ = monitor.handle(.ready(pid: 200), now: at(3))
        var now = 3.0
        while now < 123 {
            now += 5
            // The poll time it reports never moves past Ready.
            _ = monitor.handle(.heartbeat(pid: 200, pollCompleted: at(3)), now: at(now))
        }
        #expect(monitor.nextDeadline(now: at(now)) == at(123) + .nanoseconds(1))
        let actions = monitor.handle(.tick, now: at(123.1))
        #expect(transition(actions, .reverted)?.check == "stuck")
        #expect(monitor.lastError?.contains("no Telegram poll ended") == true)
    }

    /// A Telegram outage is not the revision's fault: polls that keep ending in errors are not stuck. But a
    /// revision on probation is promoted only once a poll completed after Ready.
    @Test func aTelegramOutageIsNotStuckButDelaysPromotionUntilAPollCompletes() {
        var monitor = onProbation()
        _ = monitor.handle(.ready(pid: 200), now: at(3))
        var now = 3.0
        var seen: [String] = []
        while now < 200 {
            now += 5
            _ = monitor.handle(.heartbeat(pid: 200, pollCompleted: nil, pollAttempted: at(now - 1)), now: at(now))
            seen += names(monitor.handle(.tick, now: at(now)))
        }
        #expect(seen.isEmpty, "\(seen)")
        #expect(monitor.probation?.revision == new, "not promoted without a completed poll")
        _ = monitor.handle(.heartbeat(pid: 200, pollCompleted: at(now), pollAttempted: at(now)), now: at(now + 0.5))
        #expect(names(monitor.handle(.tick, now: at(now + 0.5))) == ["b promoted", "deploy promoted"])
    }

    @Test func aWorkerNamingAnotherRevisionIsStoppedAndReverted() {
        var monitor = onProbation()
        let actions = monitor.handle(.wrongRevision(pid: 200, claimed: "c"), now: at(2.7))
        #expect(transition(actions, .reverted)?.check == "wrong_revision")
    }

    @Test func aPromotedRevisionThatCrashLoopsIsRevertedToTheOneBeforeOnceThenDegrades() {
        var monitor = running()
        var now = 1.0
        var pid: Int32 = 100
        var seen: [String] = []
        for _ in 0 ..< 3 {
            seen += names(monitor.handle(.exited(pid: pid, .signaled(11)), now: at(now)))
            now += 2
            _ = monitor.handle(.tick, now: at(now))
            pid += 1
            _ = monitor.handle(.spawned(pid: pid), now: at(now))
            _ = monitor.handle(.ready(pid: pid), now: at(now))
        }
        #expect(seen.contains("a reverted"), "\(seen)")
        #expect(monitor.pointers == .init(current: older, lastGood: older, previousGood: nil))
        // The older one crash-loops too: no second revert, a degraded service that keeps trying.
        seen = []
        for _ in 0 ..< 3 {
            seen += names(monitor.handle(.exited(pid: pid, .signaled(11)), now: at(now)))
            now += 10
            _ = monitor.handle(.tick, now: at(now))
            pid += 1
            _ = monitor.handle(.spawned(pid: pid), now: at(now))
        }
        #expect(!seen.contains { $0.hasSuffix("reverted") }, "\(seen)")
        #expect(seen.contains("service.degraded"))
        #expect(monitor.degraded?.contains("nothing older to trust") == true)
        #expect(monitor.pointers.current == older)
    }

    @Test func aSandboxTheHostCannotSetUpIsRetriedAndReportedNeverReverted() {
        var monitor = onProbation()
        let actions = monitor.handle(
            .sandboxFailed(pid: 200, message: "autonous-sandbox: cannot create a cgroup"), now: at(2.6))
        #expect(names(actions) == ["worker.sandbox_failed", "worker.restart_scheduled"])
        #expect(monitor.degraded?.contains("cannot create a cgroup") == true)
        #expect(monitor.probation?.revision == new, "still on probation")
        #expect(names(monitor.handle(.tick, now: at(3.7))) == ["spawn b"])
        _ = monitor.handle(.spawned(pid: 201), now: at(3.7))
        _ = monitor.handle(.ready(pid: 201), now: at(4))
        #expect(monitor.degraded == nil, "the sandbox works again")
    }

    @Test func aRevisionWhoseFileDoesNotVerifyIsRefused() {
        // On probation: reverted.
        var probation = running()
        _ = probation.handle(.deploy(revision: new, reason: "test"), now: at(1))
        _ = probation.handle(.selfCheckFinished(revision: new, passed: true, message: "ok"), now: at(2))
        _ = probation.handle(.exited(pid: 100, .exited(0)), now: at(2.5))
        _ = probation.handle(.tick, now: at(2.5))
        let refused = probation.handle(.spawnRefused(revision: new, reason: "its file changed"), now: at(2.5))
        #expect(transition(refused, .reverted)?.check == "verify")
        #expect(names(probation.handle(.tick, now: at(2.5))) == ["spawn a"])

        // The last-good itself: N-1 takes over.
        var monitor = running()
        _ = monitor.handle(.exited(pid: 100, .exited(1)), now: at(1))
        _ = monitor.handle(.tick, now: at(2))
        let fallback = monitor.handle(.spawnRefused(revision: good, reason: "its file is missing"), now: at(2))
        #expect(transition(fallback, .refused)?.pointers == .init(current: older, lastGood: older, previousGood: nil))
        #expect(names(monitor.handle(.tick, now: at(2))) == ["spawn 0"])

        // Nothing older: degraded, and it keeps trying.
        let refusedAgain = monitor.handle(.spawnRefused(revision: older, reason: "its file is missing"), now: at(2))
        #expect(names(refusedAgain) == ["revision.refused", "worker.restart_scheduled"])
        #expect(monitor.degraded?.contains("does not verify") == true)
    }

    @Test func aRollbackMakesTheTargetCurrentAndLastGoodAndReplacesTheWorker() {
        var monitor = running()
        let actions = monitor.handle(.rollback(to: older, reason: "rolled back by ops"), now: at(5))
        #expect(names(actions) == ["a rolled_back", "0 promoted", "terminate"])
        #expect(monitor.pointers == .init(current: older, lastGood: older, previousGood: good))
        _ = monitor.handle(.exited(pid: 100, .exited(0)), now: at(5.5))
        #expect(names(monitor.handle(.tick, now: at(5.5))) == ["spawn 0"])

        // During a probation: the probation revision is reverted and the target runs.
        var probation = onProbation()
        let during = probation.handle(.rollback(to: good, reason: "rolled back by ops"), now: at(3))
        #expect(names(during).starts(with: ["b reverted", "tell admins", "deploy reverted"]), "\(names(during))")
        #expect(probation.pointers.current == good && probation.probation == nil)
    }

    @Test func anInterruptedProbationStartsOverWhileTheLastGoodServes() {
        var monitor = WorkerMonitor(
            settings: settings, pointers: .init(current: new, lastGood: good, previousGood: older), onProbation: true,
            now: at(0))
        #expect(names(monitor.handle(.tick, now: at(0))) == ["self-check b", "spawn a"])
        _ = monitor.handle(.spawned(pid: 100), now: at(0))
        _ = monitor.handle(.ready(pid: 100), now: at(0.5))
        #expect(
            names(monitor.handle(.selfCheckFinished(revision: new, passed: true, message: "ok"), now: at(1)))
                == ["revision.self_check_passed", "terminate"])
    }

    @Test func aRevisionChangeIsRecordedAsRevisionDotItsState() {
        let states: [WorkerMonitor.RevisionState] = [.probation, .promoted, .reverted, .refused, .rolledBack]
        for state in states {
            #expect(state.eventType.rawValue == "revision." + state.rawValue, "\(state)")
        }
    }
}

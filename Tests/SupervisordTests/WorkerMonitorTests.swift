import AutonousCore
import Testing

@testable import Supervisord

/// The worker lifecycle rules, driven with explicit instants instead of sleeping.
@Suite struct WorkerMonitorTests {
    let start = ContinuousClock.now
    let settings = WorkerMonitor.Settings(
        readyTimeout: .seconds(10), heartbeatTimeout: .seconds(30), stopTimeout: .seconds(5),
        backoffInitial: .seconds(1), backoffMax: .seconds(8), stableAfter: .seconds(60))

    private func at(_ seconds: Double) -> ContinuousClock.Instant { start + .milliseconds(Int64(seconds * 1000)) }

    private func types(_ actions: [WorkerMonitor.Action]) -> [String] {
        actions.map { action in
            switch action {
            case .spawn: "spawn"
            case .terminate: "terminate"
            case .kill: "kill"
            case .record(let type, _): type.rawValue
            case .finished: "finished"
            case .transition(_, let state, _, _, _): "revision.\(state.rawValue)"
            case .runSelfCheck: "self_check"
            case .tellAdmins: "tell_admins"
            case .deployFinished(_, let promoted, _): promoted ? "deploy_promoted" : "deploy_reverted"
            }
        }
    }

    private func readyMonitor(pid: Int32 = 100) -> WorkerMonitor {
        var monitor = WorkerMonitor(settings: settings)
        _ = monitor.handle(.tick, now: at(0))
        _ = monitor.handle(.spawned(pid: pid), now: at(0))
        _ = monitor.handle(.hello(pid: pid), now: at(0.1))
        _ = monitor.handle(.ready(pid: pid), now: at(0.2))
        return monitor
    }

    @Test func spawnsOnceAndBecomesReady() {
        var monitor = WorkerMonitor(settings: settings)
        #expect(types(monitor.handle(.tick, now: at(0))) == ["spawn"])
        #expect(monitor.handle(.tick, now: at(0.1)).isEmpty, "no second spawn while spawning")
        _ = monitor.handle(.spawned(pid: 7), now: at(0.1))
        #expect(monitor.pid == 7)
        #expect(types(monitor.handle(.ready(pid: 8), now: at(0.2))).isEmpty, "another pid's Ready is ignored")
        #expect(types(monitor.handle(.ready(pid: 7), now: at(0.3))) == ["worker.ready"])
        #expect(monitor.isReady)
        #expect(monitor.restarts == 0)
    }

    @Test func noReadyWithinTheDeadlineTerminatesThenKills() {
        var monitor = WorkerMonitor(settings: settings)
        _ = monitor.handle(.tick, now: at(0))
        _ = monitor.handle(.spawned(pid: 7), now: at(0))
        #expect(monitor.handle(.tick, now: at(9.9)).isEmpty)
        #expect(types(monitor.handle(.tick, now: at(10.1))) == ["worker.unhealthy", "terminate"])
        #expect(monitor.handle(.tick, now: at(15.0)).isEmpty)
        #expect(types(monitor.handle(.tick, now: at(15.2))) == ["worker.kill", "kill"])
        #expect(monitor.handle(.tick, now: at(16)).isEmpty, "SIGKILL is sent once")
        let exit = monitor.handle(.exited(pid: 7, .signaled(9)), now: at(15.3))
        #expect(types(exit) == ["worker.exited", "worker.restart_scheduled"])
        guard case .record(_, let payload) = exit[0] else { return }
        #expect(payload["reason"] == .string("ready_timeout"))
        #expect(payload["signal_name"] == .string("SIGKILL"))
    }

    @Test func silenceAfterReadyIsCaughtByTheHeartbeatTimeout() {
        var monitor = readyMonitor()
        _ = monitor.handle(.heartbeat(pid: 100), now: at(20))
        #expect(monitor.handle(.tick, now: at(49)).isEmpty)
        #expect(types(monitor.handle(.tick, now: at(50.5))) == ["worker.unhealthy", "terminate"])
        #expect(monitor.lastError?.contains("no heartbeat") == true)
    }

    @Test func backoffDoublesUpToTheMaximumAndResetsAfterAStableRun() {
        var monitor = WorkerMonitor(settings: settings)
        var now = 0.0
        var delays: [Int64] = []
        for pid in Int32(1) ... 6 {
            _ = monitor.handle(.tick, now: at(now))
            _ = monitor.handle(.spawned(pid: pid), now: at(now))
            let actions = monitor.handle(.exited(pid: pid, .exited(1)), now: at(now + 0.5))
            for case .record(.workerRestartScheduled, let payload) in actions {
                delays.append(payload["delay_ms"]?.intValue ?? -1)
            }
            now += 100
        }
        #expect(delays == [1000, 2000, 4000, 8000, 8000, 8000])
        #expect(monitor.restarts == 5)

        // Not before the backoff ends.
        _ = monitor.handle(.tick, now: at(now))
        _ = monitor.handle(.spawned(pid: 50), now: at(now))
        _ = monitor.handle(.ready(pid: 50), now: at(now))
        _ = monitor.handle(.heartbeat(pid: 50), now: at(now + 60))
        let actions = monitor.handle(.exited(pid: 50, .signaled(11)), now: at(now + 61))
        #expect(monitor.consecutiveFailures == 1, "a worker that ran a stable minute starts the streak over")
        guard case .record(.workerExited, let payload) = actions[0] else {
            Issue.record("no exit event")
            return
        }
        #expect(payload["reason"] == .string("crashed"))
        #expect(monitor.handle(.tick, now: at(now + 61.5)).isEmpty)
        #expect(types(monitor.handle(.tick, now: at(now + 62.1))) == ["spawn"])
    }

    @Test func shutdownStopsTheWorkerAndNeverRespawns() {
        var monitor = readyMonitor()
        #expect(types(monitor.handle(.shutdown, now: at(1))) == ["terminate"])
        #expect(monitor.handle(.tick, now: at(2)).isEmpty)
        let exit = monitor.handle(.exited(pid: 100, .exited(0)), now: at(2))
        #expect(types(exit) == ["worker.exited", "finished"])
        guard case .record(_, let payload) = exit[0] else { return }
        #expect(payload["reason"] == .string("shutdown"))
        #expect(monitor.handle(.tick, now: at(100)).isEmpty)
        #expect(monitor.phase == .stopped)
    }

    @Test func shutdownDuringBackoffFinishesAtOnce() {
        var monitor = WorkerMonitor(settings: settings)
        _ = monitor.handle(.tick, now: at(0))
        _ = monitor.handle(.spawnFailed("no such file"), now: at(0))
        #expect(monitor.lastError == "cannot start the worker: no such file")
        #expect(types(monitor.handle(.shutdown, now: at(0.1))) == ["finished"])
    }

    @Test func aSpawnThatCompletesAfterShutdownIsStoppedRightAway() {
        var monitor = WorkerMonitor(settings: settings)
        _ = monitor.handle(.tick, now: at(0))
        #expect(monitor.handle(.shutdown, now: at(0)).isEmpty)
        #expect(types(monitor.handle(.spawned(pid: 9), now: at(0.1))) == ["terminate"])
        #expect(types(monitor.handle(.exited(pid: 9, .signaled(15)), now: at(0.2))) == ["worker.exited", "finished"])
    }

    /// Ticks at every deadline the monitor names (and nowhere else) and returns the actions, as the manager does.
    private func tickAtDeadlines(_ monitor: inout WorkerMonitor, from start: Double, until end: Double) -> [String] {
        var now = at(start)
        var seen: [String] = []
        while let deadline = monitor.nextDeadline(now: now), deadline <= at(end) {
            now = max(now, deadline)
            seen += types(monitor.handle(.tick, now: now))
        }
        return seen
    }

    @Test func theNextDeadlineIsWhenATickHasWorkToDo() {
        var monitor = WorkerMonitor(settings: settings)
        #expect(monitor.nextDeadline(now: at(0)) == at(0), "idle: spawn at once")
        _ = monitor.handle(.tick, now: at(0))
        #expect(monitor.nextDeadline(now: at(0)) == nil, "spawning: only the spawn result matters")
        _ = monitor.handle(.spawned(pid: 7), now: at(0))
        #expect(monitor.nextDeadline(now: at(1)) == at(10) + .nanoseconds(1), "the ready deadline")
        _ = monitor.handle(.ready(pid: 7), now: at(2))
        _ = monitor.handle(.heartbeat(pid: 7), now: at(5))
        #expect(monitor.nextDeadline(now: at(6)) == at(35) + .nanoseconds(1), "the heartbeat deadline moves")
        // Ticking only at the deadlines catches the silence, then sends SIGKILL at the stop deadline.
        #expect(
            tickAtDeadlines(&monitor, from: 6, until: 100) == ["worker.unhealthy", "terminate", "worker.kill", "kill"])
        #expect(monitor.nextDeadline(now: at(100)) == nil, "after SIGKILL only the exit matters")
        _ = monitor.handle(.exited(pid: 7, .signaled(9)), now: at(41))
        #expect(monitor.nextDeadline(now: at(41)) == at(42), "the restart after the backoff")
        #expect(tickAtDeadlines(&monitor, from: 41, until: 100) == ["spawn"])
    }

    @Test func duringShutdownOnlyTheKillDeadlineRemains() {
        var monitor = readyMonitor()
        _ = monitor.handle(.shutdown, now: at(1))
        #expect(monitor.nextDeadline(now: at(1)) == at(6))
        _ = monitor.handle(.exited(pid: 100, .exited(0)), now: at(2))
        #expect(monitor.nextDeadline(now: at(2)) == nil)
        var failed = WorkerMonitor(settings: settings)
        _ = failed.handle(.tick, now: at(0))
        _ = failed.handle(.spawnFailed("no binary"), now: at(0))
        _ = failed.handle(.shutdown, now: at(0.5))
        #expect(failed.nextDeadline(now: at(0.5)) == nil, "no restart is due while shutting down")
    }
}

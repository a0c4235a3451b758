import AutonousCore
import Synchronization

/// Progress counters the heartbeat reports to the supervisor.
final class WorkerCounters: Sendable {
    private let state = Mutex(WorkerInterface.Counters(runsInFlight: 0))

    func updateReceived(_ count: Int = 1) { state.withLock { $0.updatesReceived += count } }
    func messageAnswered() { state.withLock { $0.messagesAnswered += 1 } }
    func modelFailed() { state.withLock { $0.modelFailures += 1 } }
    func setInboxQueued(_ count: Int) { state.withLock { $0.inboxQueued = count } }
    func setLastError(_ text: String?) { state.withLock { $0.lastError = text.map(Redactor.shared.redact) } }
    /// A getUpdates call completed (with updates or empty) at `unixMilliseconds`.
    func pollCompleted(at unixMilliseconds: Int64 = AppDatabase.nowMilliseconds()) {
        state.withLock {
            $0.lastPollCompletedMs = unixMilliseconds
            $0.lastPollAttemptMs = unixMilliseconds
        }
    }
    /// A getUpdates call failed by Telegram or the network at `unixMilliseconds`: the poller is alive.
    func pollFailed(at unixMilliseconds: Int64 = AppDatabase.nowMilliseconds()) {
        state.withLock { $0.lastPollAttemptMs = unixMilliseconds }
    }
    /// An agent run started; pair with `runEnded()`.
    func runStarted() { state.withLock { $0.runsInFlight = ($0.runsInFlight ?? 0) + 1 } }
    /// An agent run ended (answered, failed or cancelled).
    func runEnded() { state.withLock { $0.runsInFlight = max(0, ($0.runsInFlight ?? 0) - 1) } }

    /// Runs `body` (an agent run) counted in `runsInFlight`.
    func duringRun<T>(_ body: () async throws -> T) async rethrows -> T {
        runStarted()
        defer { runEnded() }
        return try await body()
    }

    var snapshot: WorkerInterface.Counters { state.withLock { $0 } }
}

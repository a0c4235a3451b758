import AutonousCore
import Synchronization

/// Progress counters the heartbeat reports to the supervisor.
final class WorkerCounters: Sendable {
    private let state = Mutex(WorkerInterface.Counters())

    func updateReceived(_ count: Int = 1) { state.withLock { $0.updatesReceived += count } }
    func messageAnswered() { state.withLock { $0.messagesAnswered += 1 } }
    func modelFailed() { state.withLock { $0.modelFailures += 1 } }
    func setInboxQueued(_ count: Int) { state.withLock { $0.inboxQueued = count } }
    func setLastError(_ text: String?) { state.withLock { $0.lastError = text.map(Redactor.shared.redact) } }

    var snapshot: WorkerInterface.Counters { state.withLock { $0 } }
}

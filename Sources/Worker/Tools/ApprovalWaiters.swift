import AutonousCore

/// Tool calls waiting for an admin's decision, keyed by approval id, and the wake-up that ends their wait.
///
/// Whoever records a decision (CallbackDesk for Telegram buttons, `AutonousctlDecisions` for `autonousctl
/// approve|reject` relayed by the supervisor) calls `decided` after the row is written; `ToolGate` then reads the
/// recorded outcome. No one polls the database.
final class ApprovalWaiters: Sendable {
    private let wakeUps: KeyedWakeUps<Void>

    init(clock: any Clock<Duration> = ContinuousClock()) {
        wakeUps = KeyedWakeUps(clock: clock)
    }

    /// Announces that a call will wait for `id` (before anyone can decide it), so an early decision is not missed.
    func expect(_ id: String) {
        wakeUps.register(id)
    }

    /// Waits until `id` is decided or `timeout` passes; true when it was decided. Cancellation ends the wait (false).
    func wait(_ id: String, timeout: Duration) async -> Bool {
        await wakeUps.wait(id, timeout: timeout) != nil
    }

    /// A decision (or the expiry) of `id` was recorded: wakes its waiter.
    func decided(_ id: String) {
        wakeUps.resume(id, with: ())
    }
}

import AutonousCore

/// Where the agent's control plane takes its time from: injected, so that every limit, cooldown and backoff is
/// tested by advancing a clock instead of waiting.
protocol ControlClock: Sendable {
    /// Monotonic time since a fixed origin; only differences mean something (run time, breaker cooldowns).
    var monotonicNow: Duration { get }
    /// Wall time in milliseconds since the Unix epoch: the budget's UTC day and the ledger's timestamps.
    var unixMilliseconds: Int64 { get }
    /// Waits `duration` of this clock's time (a retry's backoff).
    ///
    /// - Throws: `CancellationError` when the task is cancelled while it waits.
    func sleep(for duration: Duration) async throws
}

/// The production clock: `ContinuousClock` for durations (it keeps counting while the host sleeps, as a run's
/// wall-time limit should), the system's wall time for the day.
struct SystemControlClock: ControlClock {
    private let clock = ContinuousClock()
    private let origin: ContinuousClock.Instant

    init() {
        origin = clock.now
    }

    var monotonicNow: Duration { clock.now - origin }

    var unixMilliseconds: Int64 { AppDatabase.nowMilliseconds() }

    func sleep(for duration: Duration) async throws {
        try await clock.sleep(for: duration)
    }
}

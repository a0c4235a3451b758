import Synchronization

/// The agent's own time in one run: the run's wall time less what it spent waiting on others (model calls, the
/// backoff between their attempts, and tools, approvals included). It is what the agent adds to every answer, and
/// `agent.completed` records it (`overhead_us`, and per turn).
final class RunStopwatch: Sendable {
    private let started = ContinuousClock.now
    private let excluded = Mutex(Duration.zero)

    init() {}

    /// Runs `body` and counts its time as spent outside the agent.
    func outside<T, Failure: Error>(_ body: () async throws(Failure) -> T) async throws(Failure) -> T {
        let start = ContinuousClock.now
        defer { exclude(ContinuousClock.now - start) }
        return try await body()
    }

    /// Counts `duration` as spent outside the agent.
    func exclude(_ duration: Duration) {
        excluded.withLock { $0 += duration }
    }

    /// The run's time so far less the time spent outside the agent.
    var overhead: Duration {
        let wall = ContinuousClock.now - started
        return wall - excluded.withLock { $0 }
    }

    /// Whole microseconds of `overhead`, for an event payload.
    func overheadMicroseconds() -> Int64 {
        let (seconds, attoseconds) = overhead.components
        return seconds * 1_000_000 + attoseconds / 1_000_000_000_000
    }
}

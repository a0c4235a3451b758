/// A source of uniform random fractions, injected so that tests can pin the jitter.
protocol JitterSource: Sendable {
    /// A number in 0...1, uniformly distributed.
    mutating func fraction() -> Double
}

/// The system's random number generator.
struct SystemJitter: JitterSource {
    mutating func fraction() -> Double { Double.random(in: 0 ... 1) }
}

/// Exponential backoff with full jitter for model calls, bounded in attempts; a server's Retry-After wins.
///
/// The wait before retry n (n = 1 after the first failed attempt) is uniformly random in
/// `0 ... min(maxDelay, baseDelay · 2^(n-1))` ("full jitter": retries of many conversations after one outage
/// spread over the whole window instead of arriving together). A server's `Retry-After` replaces it, capped at
/// `retryAfterCap`.
struct Backoff: Sendable, Equatable {
    /// Attempts in all, the first included (`AUTONOUS_RETRY_ATTEMPTS`).
    var attempts: Int
    /// The first retry's ceiling (`AUTONOUS_RETRY_BASE_DELAY`).
    var baseDelay: Duration
    /// The highest ceiling (`AUTONOUS_RETRY_MAX_DELAY`).
    var maxDelay: Duration
    /// The longest Retry-After honoured.
    var retryAfterCap: Duration = .seconds(600)

    /// The ceiling of the wait after failed attempt `attempt` (from 1): `min(maxDelay, baseDelay · 2^(attempt-1))`.
    func ceiling(afterAttempt attempt: Int) -> Duration {
        var ceiling = baseDelay
        var doublings = max(0, attempt - 1)
        while doublings > 0 && ceiling < maxDelay {
            ceiling *= 2
            doublings -= 1
        }
        return min(ceiling, maxDelay)
    }

    /// The wait after failed attempt `attempt` (from 1), or nil when no attempt is left.
    func delay(afterAttempt attempt: Int, retryAfter: Duration?, jitter: inout some JitterSource) -> Duration? {
        guard attempt < attempts else { return nil }
        if let retryAfter { return min(max(retryAfter, .zero), retryAfterCap) }
        let fraction = min(max(jitter.fraction(), 0), 1)
        return ceiling(afterAttempt: attempt) * fraction
    }
}

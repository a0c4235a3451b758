import Foundation

/// Exponential backoff with jitter, bounded in attempts and delay; a server's own `retry_after` wins.
struct RetryPolicy: Sendable {
    var attempts: Int
    var baseDelay: Duration
    var maxDelay: Duration

    /// The wait before attempt `attempt + 1` (attempt counts from 1): base · 2^(attempt-1) scaled by a random
    /// factor in [0.5, 1], capped at `maxDelay`; or the server's `retryAfter`, capped at ten minutes.
    func delay(afterAttempt attempt: Int, retryAfter: Duration? = nil) -> Duration {
        if let retryAfter { return min(retryAfter, .seconds(600)) }
        var delay = baseDelay
        for _ in 1 ..< max(1, attempt) where delay < maxDelay { delay = delay * 2 }
        delay = min(delay, maxDelay)
        return delay * Double.random(in: 0.5 ... 1.0)
    }
}

/// A failure that says whether trying again may help, and how long the server asked to wait.
protocol RetryableError: Error {
    var isRetryable: Bool { get }
    var retryAfter: Duration? { get }
    /// How many retries a failure of this kind allows at most, whatever the policy; nil leaves it to the policy.
    var maxRetries: Int? { get }
}

extension RetryableError {
    var maxRetries: Int? { nil }
}

/// Runs `operation` up to `policy.attempts` times while it fails with a retryable error.
///
/// A failure that names `maxRetries` is retried at most that often: failures with such a limit are counted
/// together, so a malformed answer (one retry) ends the call the second time, whatever failed in between.
///
/// - Parameter onRetry: told about each failed attempt that will be retried, with the wait before the next.
/// - Returns: the result and how many retries it took.
func withRetries<T: Sendable, Failure: RetryableError>(
    _ policy: RetryPolicy,
    operation: () async throws(Failure) -> T,
    onRetry: (_ attempt: Int, _ error: Failure, _ delay: Duration) -> Void = { _, _, _ in }
) async throws(Failure) -> (value: T, retries: Int) {
    var attempt = 1
    var limitedFailures = 0
    while true {
        do {
            return (try await operation(), attempt - 1)
        } catch {
            guard error.isRetryable, attempt < policy.attempts, !Task.isCancelled else { throw error }
            if let limit = error.maxRetries {
                limitedFailures += 1
                guard limitedFailures <= limit else { throw error }
            }
            let delay = policy.delay(afterAttempt: attempt, retryAfter: error.retryAfter)
            onRetry(attempt, error, delay)
            try? await Task.sleep(for: delay)
            // A cancelled sleep returns at once: a cancelled caller gets the last failure, not one more attempt.
            if Task.isCancelled { throw error }
            attempt += 1
        }
    }
}

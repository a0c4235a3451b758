/// Runs `operation` against a deadline: a race between the operation and a sleep on `clock`, and the loser is
/// cancelled. Throws `AutonousError(.timeout)` naming `what` when the sleep wins.
///
/// The operation must end promptly when cancelled (await wake-ups, not blocking calls), or the race waits for it.
public func withDeadline<T: Sendable>(
    _ timeout: Duration, clock: any Clock<Duration> = ContinuousClock(), _ what: String,
    operation: @escaping @Sendable () async throws -> T
) async throws -> T {
    try await withThrowingTaskGroup(of: T.self) { group in
        group.addTask { try await operation() }
        group.addTask {
            try await clock.sleep(for: timeout)
            throw AutonousError(.timeout, "\(what) did not finish within \(timeout)")
        }
        defer { group.cancelAll() }
        guard let first = try await group.next() else { throw CancellationError() }
        return first
    }
}

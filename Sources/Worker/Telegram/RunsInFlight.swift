import Synchronization

/// How many inbox items the Telegram commander is working on right now (agent runs, deliveries), for heartbeats
/// and status. Shared between the dispatcher, which counts a run in when it claims it, and the run, which counts
/// itself out when it ends.
final class RunsInFlight: Sendable {
    private let value = Mutex(0)

    init() {}

    /// The runs in flight now.
    var count: Int { value.withLock { $0 } }

    /// Counts one run in; returns the new count.
    @discardableResult
    func begin() -> Int {
        value.withLock { count in
            count += 1
            return count
        }
    }

    /// Counts one run out; returns the new count.
    @discardableResult
    func end() -> Int {
        value.withLock { count in
            count = max(0, count - 1)
            return count
        }
    }
}

import Synchronization

/// A counter of changes that tasks can wait on: `notify()` counts one and wakes every task waiting for a count
/// past the one it saw.
///
/// A waiter reads `generation` before it looks at the changing thing (a table, a file), then waits past that
/// generation: a change made after its look always wakes it, and one made before is at worst one extra look.
public final class ChangeSignal: Sendable {
    private struct State {
        var generation: UInt64 = 0
        var nextID: UInt64 = 0
        var waiters: [UInt64: (after: UInt64, continuation: CheckedContinuation<Void, any Error>)] = [:]
    }

    private let state = Mutex(State())

    public init() {}

    /// How many changes were counted so far.
    public var generation: UInt64 { state.withLock { $0.generation } }

    /// Counts a change and wakes every waiter.
    public func notify() {
        let woken = state.withLock { state in
            state.generation &+= 1
            defer { state.waiters.removeAll() }
            return state.waiters.values.map(\.continuation)
        }
        for continuation in woken { continuation.resume() }
    }

    /// Returns once `generation` is past `seen`, at once when it already is.
    ///
    /// - Throws: `CancellationError` when the task is cancelled first.
    public func wait(past seen: UInt64) async throws {
        let id = state.withLock { state in
            state.nextID &+= 1
            return state.nextID
        }
        try await withTaskCancellationHandler {
            try await withCheckedThrowingContinuation { (continuation: CheckedContinuation<Void, any Error>) in
                enum Now {
                    case changed, cancelled, wait
                }
                let now = state.withLock { state -> Now in
                    if state.generation != seen { return .changed }
                    if Task.isCancelled { return .cancelled }
                    state.waiters[id] = (seen, continuation)
                    return .wait
                }
                switch now {
                case .changed: continuation.resume()
                case .cancelled: continuation.resume(throwing: CancellationError())
                case .wait: break
                }
            }
        } onCancel: {
            let waiter = state.withLock { $0.waiters.removeValue(forKey: id) }
            waiter?.continuation.resume(throwing: CancellationError())
        }
    }
}

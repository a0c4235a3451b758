import AutonousCore
import Synchronization

/// The notices waiting for the worker's Subscribe stream, and the one stream that takes them.
///
/// The newest subscriber wins: a worker that subscribes again (or its replacement) ends the older stream's wait.
/// A waiting stream is woken by `push`, never by a timer.
final class NoticeQueue: Sendable {
    private struct State {
        var items: [WorkerInterface.Notice] = []
        var generation: UInt64 = 0
        var waiter: (generation: UInt64, continuation: CheckedContinuation<WorkerInterface.Notice?, any Error>)?
    }

    private let state = Mutex(State())

    /// Adds a notice at the end and wakes the stream.
    func push(_ notice: WorkerInterface.Notice) {
        let waiter = state.withLock { state -> CheckedContinuation<WorkerInterface.Notice?, any Error>? in
            guard let waiter = state.waiter else {
                state.items.append(notice)
                return nil
            }
            state.waiter = nil
            return waiter.continuation
        }
        waiter?.resume(returning: notice)
    }

    /// Puts a notice the stream could not deliver back at the front.
    func requeue(_ notice: WorkerInterface.Notice) {
        let waiter = state.withLock { state -> CheckedContinuation<WorkerInterface.Notice?, any Error>? in
            guard let waiter = state.waiter else {
                state.items.insert(notice, at: 0)
                return nil
            }
            state.waiter = nil
            return waiter.continuation
        }
        waiter?.resume(returning: notice)
    }

    /// Drops every queued notice (their worker is gone), returning them.
    @discardableResult
    func drain() -> [WorkerInterface.Notice] {
        state.withLock { state in
            defer { state.items.removeAll() }
            return state.items
        }
    }

    /// Starts a new stream; an older one's `next` returns nil from now on.
    func subscribe() -> UInt64 {
        let (generation, older) = state.withLock { state in
            state.generation &+= 1
            let older = state.waiter
            state.waiter = nil
            return (state.generation, older)
        }
        older?.continuation.resume(returning: nil)
        return generation
    }

    /// The next notice for stream `generation`; nil once a newer stream subscribed.
    ///
    /// - Throws: `CancellationError` when the task is cancelled while it waits (no notice is lost then).
    func next(_ generation: UInt64) async throws -> WorkerInterface.Notice? {
        try await withTaskCancellationHandler {
            try await withCheckedThrowingContinuation { continuation in
                enum Now {
                    case notice(WorkerInterface.Notice?)
                    case cancelled
                    case wait
                }
                let now = state.withLock { state -> Now in
                    guard state.generation == generation else { return .notice(nil) }
                    if Task.isCancelled { return .cancelled }
                    if !state.items.isEmpty { return .notice(state.items.removeFirst()) }
                    state.waiter = (generation, continuation)
                    return .wait
                }
                switch now {
                case .notice(let notice): continuation.resume(returning: notice)
                case .cancelled: continuation.resume(throwing: CancellationError())
                case .wait: break
                }
            }
        } onCancel: {
            let waiter = state.withLock { state -> CheckedContinuation<WorkerInterface.Notice?, any Error>? in
                guard let waiter = state.waiter, waiter.generation == generation else { return nil }
                state.waiter = nil
                return waiter.continuation
            }
            waiter?.resume(throwing: CancellationError())
        }
    }
}

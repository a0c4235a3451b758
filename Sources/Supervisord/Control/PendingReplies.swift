import Foundation
import Synchronization

/// Callers waiting for the worker's answer to a notice, keyed by the notice's id.
///
/// The worker's reply (a varlink call of its own) resumes the waiting caller at once; a deadline is a race between
/// that wake-up and a sleep. An answer that arrives before its caller started waiting is kept for it.
final class PendingReplies<Outcome: Sendable>: Sendable {
    private enum Slot {
        case waiting(CheckedContinuation<Outcome?, Never>?)
        case answered(Outcome)
    }

    private let slots = Mutex<[String: Slot]>([:])

    /// Registers a new id to wait on; send the notice after this, then `wait`.
    func register() -> String {
        let id = UUID().uuidString.lowercased()
        slots.withLock { $0[id] = .waiting(nil) }
        return id
    }

    /// Waits for the answer to `id` until `timeout`; nil on timeout or cancellation. The id is forgotten after.
    func wait(_ id: String, timeout: Duration) async -> Outcome? {
        defer { _ = slots.withLock { $0.removeValue(forKey: id) } }
        return await withTaskGroup(of: Outcome?.self) { group in
            group.addTask { await self.answer(id) }
            group.addTask {
                try? await Task.sleep(for: timeout)
                return nil
            }
            let first = await group.next() ?? nil
            group.cancelAll()
            // An answer that came just as the deadline passed still counts.
            var outcome = first
            for await other in group { outcome = outcome ?? other }
            return outcome
        }
    }

    /// The answer to `id`; nil when the waiting task is cancelled first.
    private func answer(_ id: String) async -> Outcome? {
        await withTaskCancellationHandler {
            await withCheckedContinuation { (continuation: CheckedContinuation<Outcome?, Never>) in
                let now = slots.withLock { slots -> Outcome?? in
                    switch slots[id] {
                    case .answered(let outcome)?: return .some(outcome)
                    case .waiting?:
                        if Task.isCancelled { return .some(nil) }
                        slots[id] = .waiting(continuation)
                        return nil
                    case nil: return .some(nil)
                    }
                }
                if let now { continuation.resume(returning: now) }
            }
        } onCancel: {
            let waiter = slots.withLock { slots -> CheckedContinuation<Outcome?, Never>? in
                guard case .waiting(let continuation?)? = slots[id] else { return nil }
                slots[id] = .waiting(nil)
                return continuation
            }
            waiter?.resume(returning: nil)
        }
    }

    /// Hands `outcome` to whoever waits for `id`; false when nobody does (unknown, answered, or given up).
    func deliver(_ id: String, _ outcome: Outcome) -> Bool {
        let (known, waiter) = slots.withLock { slots -> (Bool, CheckedContinuation<Outcome?, Never>?) in
            guard case .waiting(let continuation)? = slots[id] else { return (false, nil) }
            slots[id] = .answered(outcome)
            return (true, continuation)
        }
        waiter?.resume(returning: outcome)
        return known
    }

    /// Answers every waiting caller with `outcome` (the worker went away).
    func deliverToAll(_ outcome: Outcome) {
        let ids = slots.withLock { Array($0.keys) }
        for id in ids { _ = deliver(id, outcome) }
    }
}

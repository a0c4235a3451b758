import Synchronization

/// Tasks waiting for a value under a key (a notice id, an approval id) and the producer that hands it over.
///
/// The producer's `resume` wakes the waiting task at once; a deadline is a race between that wake-up and a sleep
/// on the injected clock, and the loser is cancelled. A key is registered before the waiter may need it (before
/// the request goes out), so a value that arrives before its waiter started waiting is kept for it; a value for a
/// key nobody registered is refused, so nothing piles up.
public final class KeyedWakeUps<Value: Sendable>: Sendable {
    private enum Slot {
        case waiting(CheckedContinuation<Value?, Never>?)
        case resumed(Value)
    }

    private let slots = Mutex<[String: Slot]>([:])
    private let clock: any Clock<Duration>

    /// - Parameter clock: what deadlines are measured on (tests inject their own).
    public init(clock: any Clock<Duration> = ContinuousClock()) {
        self.clock = clock
    }

    /// Makes `key` known, so a `resume` that comes before `wait` is kept. Registering twice changes nothing.
    public func register(_ key: String) {
        slots.withLock { slots in
            if slots[key] == nil { slots[key] = .waiting(nil) }
        }
    }

    /// Waits for the value of `key` until `timeout`; nil on timeout or cancellation. The key is forgotten after.
    public func wait(_ key: String, timeout: Duration) async -> Value? {
        register(key)
        defer { _ = slots.withLock { $0.removeValue(forKey: key) } }
        let clock = clock
        return await withTaskGroup(of: Value?.self) { group in
            group.addTask { await self.value(key) }
            group.addTask {
                try? await clock.sleep(for: timeout)
                return nil
            }
            let first = await group.next() ?? nil
            group.cancelAll()
            // A value that came just as the deadline passed still counts.
            var value = first
            for await other in group { value = value ?? other }
            return value
        }
    }

    /// The value of `key`; nil when the waiting task is cancelled first.
    private func value(_ key: String) async -> Value? {
        await withTaskCancellationHandler {
            await withCheckedContinuation { (continuation: CheckedContinuation<Value?, Never>) in
                let now = slots.withLock { slots -> Value?? in
                    switch slots[key] {
                    case .resumed(let value)?: return .some(value)
                    case .waiting?:
                        if Task.isCancelled { return .some(nil) }
                        slots[key] = .waiting(continuation)
                        return nil
                    case nil: return .some(nil)
                    }
                }
                if let now { continuation.resume(returning: now) }
            }
        } onCancel: {
            let waiter = slots.withLock { slots -> CheckedContinuation<Value?, Never>? in
                guard case .waiting(let continuation?)? = slots[key] else { return nil }
                slots[key] = .waiting(nil)
                return continuation
            }
            waiter?.resume(returning: nil)
        }
    }

    /// Hands `value` to whoever waits (or will wait) for `key`; false when the key is unknown or already resumed.
    @discardableResult
    public func resume(_ key: String, with value: Value) -> Bool {
        let (known, waiter) = slots.withLock { slots -> (Bool, CheckedContinuation<Value?, Never>?) in
            guard case .waiting(let continuation)? = slots[key] else { return (false, nil) }
            slots[key] = .resumed(value)
            return (true, continuation)
        }
        waiter?.resume(returning: value)
        return known
    }

    /// Resumes every registered key with `value` (the producer went away).
    public func resumeAll(with value: Value) {
        let keys = slots.withLock { Array($0.keys) }
        for key in keys { resume(key, with: value) }
    }
}

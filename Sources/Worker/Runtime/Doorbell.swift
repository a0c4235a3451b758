import Synchronization

/// Wakes waiting tasks: the poller rings when it stored updates, the inbox processors wait (bounded) for it.
///
/// A ring with nobody waiting is remembered, so a wake-up is never missed; several rings coalesce into one. A ring
/// wakes every task waiting at that moment. Only `ring()` sets the remembered ring: a wait that ends by its timeout
/// or by cancellation leaves nothing behind, so the next wait really waits.
final class Doorbell: Sendable {
    private struct State {
        var rung = false
        var nextID: UInt64 = 0
        var waiters: [UInt64: CheckedContinuation<Bool, Never>] = [:]
    }

    private let state = Mutex(State())

    func ring() {
        let waiters = state.withLock { state -> [CheckedContinuation<Bool, Never>] in
            guard !state.waiters.isEmpty else {
                state.rung = true
                return []
            }
            let waiters = Array(state.waiters.values)
            state.waiters.removeAll()
            return waiters
        }
        for waiter in waiters { waiter.resume(returning: true) }
    }

    /// Returns after a ring, after `timeout`, or when the task is cancelled, whichever comes first.
    ///
    /// - Returns: true when it was rung (now or before the call), false on timeout or cancellation.
    @discardableResult
    func wait(timeout: Duration) async -> Bool {
        if state.withLock({ state in
            defer { state.rung = false }
            return state.rung
        }) {
            return true
        }
        // The sleep and the ring race; whichever ends first cancels the other. The sleep only returns: it must
        // never ring, or the remembered ring would wake the next wait at once (a busy loop).
        return await withTaskGroup(of: Bool.self) { group in
            group.addTask {
                try? await Task.sleep(for: timeout)
                return false
            }
            group.addTask { await self.waitForRing() }
            var rung = await group.next() ?? false
            group.cancelAll()
            // A ring that arrived just as the sleep ended is reported, not swallowed.
            for await other in group { rung = rung || other }
            return rung
        }
    }

    /// True after a ring; false when the waiting task was cancelled first.
    private func waitForRing() async -> Bool {
        let id = state.withLock { state -> UInt64 in
            state.nextID &+= 1
            return state.nextID
        }
        return await withTaskCancellationHandler {
            await withCheckedContinuation { (continuation: CheckedContinuation<Bool, Never>) in
                let immediate = state.withLock { state -> Bool? in
                    if state.rung {
                        state.rung = false
                        return true
                    }
                    if Task.isCancelled { return false }
                    state.waiters[id] = continuation
                    return nil
                }
                if let immediate { continuation.resume(returning: immediate) }
            }
        } onCancel: {
            let waiter = state.withLock { $0.waiters.removeValue(forKey: id) }
            waiter?.resume(returning: false)
        }
    }
}

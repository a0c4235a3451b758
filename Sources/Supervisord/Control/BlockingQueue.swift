import Foundation

/// A FIFO that a consumer thread waits on with a timeout.
///
/// `@unchecked Sendable`: every access to `items` happens with `condition` locked; NSCondition is the primitive
/// that pairs a lock with waiting, which `Mutex` does not offer.
final class BlockingQueue<Element: Sendable>: @unchecked Sendable {
    private let condition = NSCondition()
    private var items: [Element] = []

    func push(_ item: Element) {
        condition.lock()
        items.append(item)
        condition.signal()
        condition.unlock()
    }

    /// Puts an item back at the front (it could not be delivered).
    func pushFront(_ item: Element) {
        condition.lock()
        items.insert(item, at: 0)
        condition.signal()
        condition.unlock()
    }

    /// The next item, or nil when none arrived within `timeout`.
    func pop(timeout: Duration) -> Element? {
        let deadline = Date().addingTimeInterval(Double(timeout.wholeMilliseconds) / 1000)
        condition.lock()
        defer { condition.unlock() }
        while items.isEmpty {
            if !condition.wait(until: deadline) { break }
        }
        return items.isEmpty ? nil : items.removeFirst()
    }

    /// Removes and returns everything queued.
    func drain() -> [Element] {
        condition.lock()
        defer { condition.unlock() }
        let all = items
        items.removeAll()
        return all
    }
}

/// A value one thread waits for and another provides, once.
final class OneShot<Value: Sendable>: @unchecked Sendable {
    private let condition = NSCondition()
    private var value: Value?

    /// Provides the value; later calls are ignored. Returns false when a value was already there.
    @discardableResult
    func fulfil(_ newValue: Value) -> Bool {
        condition.lock()
        defer { condition.unlock() }
        guard value == nil else { return false }
        value = newValue
        condition.broadcast()
        return true
    }

    /// Waits up to `timeout` for the value.
    func wait(timeout: Duration) -> Value? {
        let deadline = Date().addingTimeInterval(Double(timeout.wholeMilliseconds) / 1000)
        condition.lock()
        defer { condition.unlock() }
        while value == nil {
            if !condition.wait(until: deadline) { break }
        }
        return value
    }
}

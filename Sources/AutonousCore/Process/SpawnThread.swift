import Dispatch
import Foundation

/// The one thread every `ChildProcess` is spawned from.
///
/// A parent-death signal (`PR_SET_PDEATHSIG`, the launcher's `--die-with-parent`) is sent when the *thread* that
/// created the child exits, not only when the process does. The concurrency pool's threads are retired when idle
/// and a reaper thread ends after its child, so a child spawned from one of them could be killed while its parent
/// lives on. This thread never ends, so the signal comes only with the process.
final class SpawnThread: @unchecked Sendable {
    static let shared = SpawnThread()

    /// Guards `jobs`; signalled when one is added.
    private let condition = NSCondition()
    private var jobs: [@Sendable () -> Void] = []

    private init() {
        let thread = Thread { [self] in loop() }
        thread.name = "autonous-spawn"
        thread.start()
    }

    private func loop() {
        while true {
            condition.lock()
            while jobs.isEmpty { condition.wait() }
            let job = jobs.removeFirst()
            condition.unlock()
            job()
        }
    }

    /// Runs `body` on the spawn thread and returns its result; the caller waits (a spawn takes a millisecond).
    func run<Result: Sendable>(_ body: @escaping @Sendable () -> Result) -> Result {
        if Thread.current.name == "autonous-spawn" { return body() }
        let done = DispatchSemaphore(value: 0)
        let box = ResultBox<Result>()
        condition.lock()
        jobs.append {
            box.value = body()
            done.signal()
        }
        condition.signal()
        condition.unlock()
        done.wait()
        guard let value = box.value else { preconditionFailure("the spawn thread ran no job") }
        return value
    }

    /// Carries the result from the spawn thread to the waiting caller; the semaphore orders the two accesses.
    private final class ResultBox<Value>: @unchecked Sendable {
        var value: Value?
    }
}

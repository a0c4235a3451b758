import Foundation

/// Runs blocking work (hashing a large file, waiting for a program) on a thread of its own and awaits its result,
/// so that it holds none of the cooperative pool's threads: the test process runs many suites at once, and on a
/// 2-core machine the pool has two threads.
func onOwnThread<T: Sendable>(_ body: @escaping @Sendable () throws -> T) async throws -> T {
    try await withCheckedThrowingContinuation { continuation in
        let thread = Thread {
            continuation.resume(with: Result { try body() })
        }
        thread.start()
    }
}

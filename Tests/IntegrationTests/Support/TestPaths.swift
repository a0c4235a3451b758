import AutonousCore
import Foundation

/// Where the built executables and the test fixtures are.
enum TestPaths {
    /// The package root, from this file's path.
    static let packageRoot: String = {
        var url = URL(fileURLWithPath: #filePath)
        for _ in 0 ..< 4 { url.deleteLastPathComponent() }
        return url.path
    }()

    /// The directory holding autonous-supervisord and friends: `$AUTONOUS_TEST_BIN_DIR` or `.build/debug`.
    static var binDirectory: String {
        ProcessInfo.processInfo.environment["AUTONOUS_TEST_BIN_DIR"] ?? packageRoot + "/.build/debug"
    }

    static func binary(_ name: String) -> String { binDirectory + "/" + name }

    static func fixture(_ name: String) -> String { packageRoot + "/Tests/Fixtures/" + name }
}

/// A private temporary directory with a short path (unix socket paths are limited), removed on deinit.
final class TemporaryDirectory: @unchecked Sendable {
    let path: String

    init() throws {
        var template = Array("/tmp/aut-XXXXXX".utf8CString)
        guard let result = mkdtemp(&template) else { throw POSIXError(.EIO) }
        path = String(cString: result)
    }

    deinit {
        try? FileManager.default.removeItem(atPath: path)
        // Foundation's removeItem has been seen to stop half way in a state directory (its read-only artifacts and
        // the symlinks to them), leaving /tmp/aut-* behind: rm finishes the job.
        if FileManager.default.fileExists(atPath: path) {
            // Not waited for (a deinit may run on the test pool's two threads): the daemons' reaper collects it.
            _ = try? ChildProcess.spawn(
                executable: "/bin/rm", arguments: ["-rf", "--one-file-system", path], environment: [:]
            ) { _ in }
        }
    }
}

/// Polls `condition` every 50 ms until it holds or `timeout` passes; returns whether it held.
func eventually(timeout: Duration = .seconds(30), _ condition: () async throws -> Bool) async rethrows -> Bool {
    let deadline = ContinuousClock.now + timeout
    while ContinuousClock.now < deadline {
        if try await condition() { return true }
        try? await Task.sleep(for: .milliseconds(50))
    }
    return try await condition()
}

/// Polls `condition` every 20 ms on a thread of its own until it holds or `timeout` passes. For conditions that
/// hold only for a moment (a tool's cgroup while it runs): the test pool's two threads may be busy with other
/// tests for longer than that moment.
func eventuallyOnOwnThread(timeout: Duration, _ condition: @escaping @Sendable () -> Bool) async -> Bool {
    await withCheckedContinuation { continuation in
        Thread {
            let deadline = ContinuousClock.now + timeout
            while ContinuousClock.now < deadline {
                if condition() {
                    continuation.resume(returning: true)
                    return
                }
                usleep(20_000)
            }
            continuation.resume(returning: condition())
        }.start()
    }
}

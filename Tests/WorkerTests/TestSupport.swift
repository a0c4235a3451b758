import AutonousCore
import Foundation

/// A directory under the temporary directory, removed with everything in it when the fixture goes away.
final class TemporaryDirectory {
    let path: String

    init(prefix: String) throws {
        path = FileManager.default.temporaryDirectory.appendingPathComponent(prefix + UUID().uuidString).path
        try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
    }

    deinit { try? FileManager.default.removeItem(atPath: path) }
}

/// Where the tests find the built executables: `$AUTONOUS_TEST_BIN_DIR`, or this package's `.build/debug`.
enum TestBinaries {
    static func path(_ name: String) -> String {
        if let directory = ProcessInfo.processInfo.environment["AUTONOUS_TEST_BIN_DIR"] {
            return directory + "/" + name
        }
        var url = URL(fileURLWithPath: #filePath)
        for _ in 0 ..< 3 { url.deleteLastPathComponent() }
        return url.path + "/.build/debug/" + name
    }
}

/// A fresh worker database (migrated, as the worker opens it) in a temporary directory of its own.
final class TemporaryWorkerDatabase {
    let directory: TemporaryDirectory
    let database: AppDatabase

    init(prefix: String) throws {
        directory = try TemporaryDirectory(prefix: prefix)
        database = try AppDatabase(path: directory.path + "/worker.db", role: .worker)
    }
}

/// Runs `executable` with `arguments` and `environment`, waits for it, and returns its status, stdout and stderr.
func runProcess(
    _ executable: String, _ arguments: [String], environment: [String: String]
) throws -> (status: Int32, stdout: String, stderr: String) {
    let process = Process()
    process.executableURL = URL(fileURLWithPath: executable)
    process.arguments = arguments
    process.environment = environment
    let stdout = Pipe()
    let stderr = Pipe()
    process.standardOutput = stdout
    process.standardError = stderr
    try process.run()
    let out = stdout.fileHandleForReading.readDataToEndOfFile()
    let err = stderr.fileHandleForReading.readDataToEndOfFile()
    process.waitUntilExit()
    return (process.terminationStatus, String(decoding: out, as: UTF8.self), String(decoding: err, as: UTF8.self))
}

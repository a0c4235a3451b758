import Foundation
import Synchronization

#if canImport(Glibc)
import Glibc
#endif

extension ChildProcess {
    /// Runs `executable` to its end (awaiting it, no thread blocked) and returns how it ended with its stdout and stderr
    /// together (stdin from /dev/null, exactly `environment`, in `directory` when given).
    ///
    /// Reaped by the same waitpid reaper as every child, not by Foundation's `Process`, whose `waitUntilExit` never
    /// returned inside the update build sandbox (the child a zombie, its exit never noticed).
    public static func runToEnd(
        executable: String, arguments: [String], environment: [String: String], directory: String? = nil
    ) async throws -> (status: ExitStatus, output: String) {
        let outputPath = NSTemporaryDirectory() + "autonous-run-\(UUID().uuidString).out"
        defer { unlink(outputPath) }
        let (program, programArguments) =
            directory.map { ("/bin/sh", ["-c", #"cd "$0" && exec "$@""#, $0, executable] + arguments) }
            ?? (executable, arguments)
        let status = try await withCheckedThrowingContinuation {
            (continuation: CheckedContinuation<ExitStatus, any Error>) in
            do {
                _ = try spawn(
                    executable: program, arguments: programArguments, environment: environment,
                    output: .file(outputPath)
                ) { exit in continuation.resume(returning: exit) }
            } catch {
                continuation.resume(throwing: error)
            }
        }
        return (status, (try? String(contentsOfFile: outputPath, encoding: .utf8)) ?? "")
    }

    /// True when this process is root of the host: uid 0 in the initial user namespace (uid_map `0 0 4294967295`),
    /// not the mapped root of a sandbox, where other uids are unmapped and chown to them fails.
    public static var isHostRoot: Bool {
        guard geteuid() == 0, let map = try? String(contentsOfFile: "/proc/self/uid_map", encoding: .utf8) else {
            return false
        }
        return map.split(whereSeparator: \.isWhitespace) == ["0", "0", "4294967295"]
    }
}

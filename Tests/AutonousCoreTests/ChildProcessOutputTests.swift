import Foundation
import Logging
import Synchronization
import Testing

@testable import AutonousCore

/// A log handler that keeps every entry, for tests that check what was logged.
final class CapturedLog: Sendable {
    struct Entry: Sendable, Equatable {
        var level: Logger.Level
        var message: String
        var stream: String
    }

    private let entries = Mutex<[Entry]>([])

    var all: [Entry] { entries.withLock { $0 } }

    /// The messages logged for one stream (`child.stream`), in order.
    func messages(_ stream: String) -> [String] { all.filter { $0.stream == stream }.map(\.message) }

    var logger: Logger { Logger(label: "test") { _ in Handler(log: self) } }

    private struct Handler: LogHandler {
        let log: CapturedLog
        var metadata: Logger.Metadata = [:]
        var logLevel: Logger.Level = .trace

        subscript(metadataKey key: String) -> Logger.Metadata.Value? {
            get { metadata[key] }
            set { metadata[key] = newValue }
        }

        func log(event: LogEvent) {
            let stream = event.metadata?["child.stream"].map { "\($0)" } ?? ""
            log.entries.withLock {
                $0.append(Entry(level: event.level, message: "\(event.message)", stream: stream))
            }
        }
    }
}

/// `ChildProcess` output: inherited, appended to log files, or logged line by line, each with a real /bin/sh.
@Suite struct ChildProcessOutputTests {
    /// Writes a line to stdout and one to stderr, then a last line without a newline to stdout.
    static let script = "echo out; echo err >&2; printf tail"

    /// A scratch directory removed with the fixture.
    final class Scratch {
        let path: String
        init() throws {
            path = FileManager.default.temporaryDirectory.appendingPathComponent("child-\(UUID().uuidString)").path
            try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
        }
        deinit { try? FileManager.default.removeItem(atPath: path) }
    }

    /// Runs `script` under /bin/sh and waits for the reaper's report (a continuation it resumes, no polling).
    private func run(_ script: String, output: ChildOutput) async throws -> AutonousCore.ExitStatus {
        try await withCheckedThrowingContinuation { continuation in
            do {
                _ = try ChildProcess.spawn(
                    executable: "/bin/sh", arguments: ["-c", script], environment: ["PATH": "/usr/bin:/bin"],
                    output: output
                ) { continuation.resume(returning: $0) }
            } catch {
                continuation.resume(throwing: error)
            }
        }
    }

    private func text(_ path: String) -> String? {
        FileManager.default.contents(atPath: path).map { String(decoding: $0, as: UTF8.self) }
    }

    private func mode(_ path: String) throws -> Int {
        try #require(FileManager.default.attributesOfItem(atPath: path)[.posixPermissions] as? Int)
    }

    @Test func inheritedOutputIsThisProcesssOwn() async throws {
        let ownStdout = try FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/fd/1")
        let ownStderr = try FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/fd/2")
        let status = try await run(
            "[ \"$(readlink /proc/$$/fd/1)\" = '\(ownStdout)' ] && [ \"$(readlink /proc/$$/fd/2)\" = '\(ownStderr)' ]",
            output: .inherit)
        #expect(status == .exited(0), "the child's stdout/stderr are not this process's \(ownStdout), \(ownStderr)")
    }

    @Test func oneLogFileGetsBothStreamsAppendedAndIsCreated0640() async throws {
        let scratch = try Scratch()
        let log = scratch.path + "/build.log"
        #expect(try await run(Self.script, output: .file(log)) == .exited(0))
        #expect(text(log) == "out\nerr\ntail")
        #expect(try mode(log) == 0o640)
        #expect(try await run("echo again; exit 3", output: .file(log)) == .exited(3))
        #expect(text(log) == "out\nerr\ntailagain\n")
    }

    @Test func separateLogFilesGetTheirOwnStream() async throws {
        let scratch = try Scratch()
        let (out, err) = (scratch.path + "/out.log", scratch.path + "/err.log")
        FileManager.default.createFile(
            atPath: out, contents: Data("before\n".utf8), attributes: [.posixPermissions: 0o600])
        #expect(try await run(Self.script, output: .files(stdout: out, stderr: err)) == .exited(0))
        #expect(text(out) == "before\nout\ntail")
        #expect(text(err) == "err\n")
        #expect(try mode(out) == 0o600, "an existing log file keeps its mode")
        #expect(try mode(err) == 0o640)
    }

    @Test func aPassedDescriptorIsTheChildsThreeAndNoOtherIsInherited() async throws {
        let report = try ChildOutput.pipe("the test's report")
        let stray = try ChildOutput.pipe("a stray pipe")
        defer { for fd in [report.read, stray.read, stray.write] { close(fd) } }
        // The stray's ends lose close-on-exec: only the spawn's own closing keeps them out of the child.
        for fd in [stray.read, stray.write] { _ = fcntl(fd, F_SETFD, 0) }
        let status: AutonousCore.ExitStatus = try await withCheckedThrowingContinuation { continuation in
            do {
                _ = try ChildProcess.spawn(
                    executable: "/bin/sh", arguments: ["-c", "echo reported >&3; ls /proc/$$/fd >&3"],
                    environment: ["PATH": "/usr/bin:/bin"], passing: report.write
                ) { continuation.resume(returning: $0) }
            } catch {
                continuation.resume(throwing: error)
            }
        }
        close(report.write)
        #expect(status == .exited(0))
        var bytes: [UInt8] = []
        var buffer = [UInt8](repeating: 0, count: 1024)
        while case let count = read(report.read, &buffer, buffer.count), count > 0 { bytes += buffer[0 ..< count] }
        let lines = String(decoding: bytes, as: UTF8.self).split(separator: "\n").map(String.init)
        #expect(lines.first == "reported")
        // ls itself opens one descriptor for the directory it lists (3 is taken, so 4 or above).
        let open = Set(lines.dropFirst())
        #expect(open.isSuperset(of: ["0", "1", "2", "3"]) && open.count <= 5, "\(lines)")
    }

    /// A child with a parent-death signal (the launcher's --die-with-parent) lives on when the thread that asked
    /// for the spawn ends: the signal follows the spawning thread, and spawns happen on one that never ends.
    @Test func aChildOutlivesTheThreadThatSpawnedIt() async throws {
        let script = "import ctypes, time; ctypes.CDLL(None).prctl(1, 9); print('armed', flush=True); time.sleep(60)"
        let scratch = try Scratch()
        let log = scratch.path + "/out.log"
        let spawned = Mutex<ChildProcess?>(nil)
        // The thread stays until the child armed its death signal (a signal armed after its parent thread ended
        // would never come), then ends.
        let thread = Thread {
            spawned.withLock {
                $0 = try? ChildProcess.spawn(
                    executable: "/usr/bin/python3", arguments: ["-c", script], environment: ["PATH": "/usr/bin:/bin"],
                    output: .file(log)
                ) { _ in }
            }
            for _ in 0 ..< 500 {
                let text = FileManager.default.contents(atPath: log).map { String(decoding: $0, as: UTF8.self) }
                if text?.contains("armed") == true { return }
                usleep(20_000)
            }
        }
        thread.start()
        let child = try #require(
            await eventuallyTrue { spawned.withLock { $0 } != nil } ? spawned.withLock { $0 } : nil)
        defer { child.signalGroup(SIGKILL) }
        // Armed (its death signal set) and the spawning thread gone: then a moment for a signal to arrive.
        #expect(await eventuallyTrue { (text(log) ?? "").contains("armed") && thread.isFinished })
        try await Task.sleep(for: .milliseconds(300))
        #expect(!child.hasExited && kill(child.pid, 0) == 0, "the child died with the thread that spawned it")
    }

    /// Polls `condition` every 20 ms for up to 10 s.
    private func eventuallyTrue(_ condition: () -> Bool) async -> Bool {
        for _ in 0 ..< 500 {
            if condition() { return true }
            try? await Task.sleep(for: .milliseconds(20))
        }
        return condition()
    }

    @Test func aLogFileThatCannotBeOpenedIsAnErrorNamingIt() async throws {
        let scratch = try Scratch()
        let missing = scratch.path + "/no-such-dir/build.log"
        let error = await #expect(throws: Errno.self) { try await run("true", output: .file(missing)) }
        #expect(error?.code == ENOENT)
        #expect(error?.description.contains(missing) == true, "\(String(describing: error))")
    }

    @Test func loggedOutputArrivesLineByLineBeforeTheExitIsReported() async throws {
        let captured = CapturedLog()
        let status = try await run(Self.script, output: .logger(captured.logger, prefix: "build: "))
        #expect(status == .exited(0))
        // onExit ran: every line must already be there, the last one without its newline too.
        #expect(captured.messages("stdout") == ["build: out", "build: tail"])
        #expect(captured.messages("stderr") == ["build: err"])
        #expect(captured.all.filter { $0.stream == "stdout" }.allSatisfy { $0.level == .info })
        #expect(captured.all.filter { $0.stream == "stderr" }.allSatisfy { $0.level == .notice })
    }

    @Test func aLoggedLineLongerThanTheLimitIsSplit() async throws {
        let captured = CapturedLog()
        let status = try await run(
            "head -c 10000 /dev/zero | tr '\\0' x; echo; echo short",
            output: .logger(captured.logger, prefix: "", lineLimit: 4096))
        #expect(status == .exited(0))
        let lines = captured.messages("stdout")
        #expect(lines.map(\.utf8.count) == [4096, 4096, 1808, 5], "\(lines.map(\.utf8.count))")
        #expect(lines.last == "short")
        #expect(lines.dropLast().joined() == String(repeating: "x", count: 10000))
    }

    /// A grandchild that keeps the pipes open does not hold back the exit report for longer than
    /// `ChildProcess.outputDrainLimit`; what was written before is logged by then.
    @Test func aGrandchildHoldingThePipesDelaysTheExitReportOnlyBriefly() async throws {
        let captured = CapturedLog()
        let started = ContinuousClock.now
        let spawned = Mutex<ChildProcess?>(nil)
        let (status, grandchildAlive) = try await withCheckedThrowingContinuation {
            (continuation: CheckedContinuation<(AutonousCore.ExitStatus, Bool), any Error>) in
            do {
                let child = try ChildProcess.spawn(
                    executable: "/bin/sh", arguments: ["-c", "echo before; sleep 600 & exit 0"],
                    environment: ["PATH": "/usr/bin:/bin"], output: .logger(captured.logger, prefix: "")
                ) { status in
                    // The child's process group is the sleep alone now: alive means it still holds the pipes.
                    let pid = spawned.withLock { $0?.pid } ?? 0
                    continuation.resume(returning: (status, pid > 0 && kill(-pid, 0) == 0))
                }
                spawned.withLock { $0 = child }
            } catch {
                continuation.resume(throwing: error)
            }
        }
        let took = ContinuousClock.now - started
        // The sleep is in the child's process group, which outlives the child.
        spawned.withLock { $0 }?.signalGroup(SIGKILL)
        #expect(status == .exited(0))
        // Reported while the grandchild still held the pipes (it sleeps 600 s), after the drain limit: no wall-clock
        // upper bound, which a loaded machine can exceed.
        #expect(grandchildAlive, "the exit was reported only once the grandchild had gone")
        #expect(took >= ChildProcess.outputDrainLimit, "\(took)")
        #expect(captured.messages("stdout") == ["before"])
    }

    @Test func theSplitterCutsBetweenCharactersAndDropsCarriageReturns() {
        var splitter = LineSplitter(limit: 5)
        // "ééé" is six bytes: a cut at five would split the third é.
        #expect(splitter.feed(Array("ab\r\nééé".utf8)) == ["ab", "éé"])
        #expect(splitter.feed(Array("x\n".utf8)) == ["éx"])
        #expect(splitter.finish() == nil)
        #expect(splitter.feed(Array("tail".utf8)) == [])
        #expect(splitter.finish() == "tail")
    }
}

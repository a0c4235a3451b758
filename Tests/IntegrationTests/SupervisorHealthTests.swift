import AutonousCore
import Foundation
import Testing

/// The supervisor's health watch against workers that misbehave (Tests/Fixtures/fake_worker.py), and its own
/// lifecycle: configuration errors, sd_notify, graceful SIGTERM.
@Suite("Supervisor health watch", .serialized, .timeLimit(.minutes(5)))
struct SupervisorHealthTests {
    private func fakeWorkerDaemon(mode: String, extra: [String: String?] = [:]) throws -> Daemon {
        var overrides: [String: String?] = [
            "AUTONOUS_WORKER_BIN": TestPaths.fixture("fake_worker.py"),
            "AUTONOUS_TEST_FAKE_WORKER_MODE": mode,
            "AUTONOUS_RESTART_BACKOFF_INITIAL": "100ms",
            "AUTONOUS_RESTART_BACKOFF_MAX": "10s",
        ]
        for (key, value) in extra { overrides[key] = value }
        return try Daemon(telegram: false, overrides: overrides)
    }

    @Test func aWorkerThatNeverSaysReadyIsKilledAndRestartedWithGrowingBackoff() async throws {
        let daemon = try fakeWorkerDaemon(mode: "silent", extra: ["AUTONOUS_WORKER_READY_TIMEOUT": "400ms"])
        let threeRestarts = try await eventually(timeout: .seconds(60)) {
            try daemon.events("worker.restart_scheduled").count >= 3
        }
        #expect(threeRestarts, "\(daemon.log)")
        let unhealthy = try daemon.events("worker.unhealthy")
        #expect(unhealthy.count >= 3)
        #expect(unhealthy.allSatisfy { $0.payload["reason"] == .string("ready_timeout") })
        let exits = try daemon.events("worker.exited").prefix(3)
        #expect(exits.allSatisfy { $0.payload["reason"] == .string("ready_timeout") })
        let delays = try daemon.events("worker.restart_scheduled").prefix(3).compactMap {
            $0.payload["delay_ms"]?.intValue
        }
        #expect(delays == [100, 200, 400])
        let status = try #require(daemon.status())
        #expect(status.worker.consecutiveFailures >= 3)
        #expect(status.worker.lastError?.contains("did not say Ready") == true)
        #expect(await daemon.stop() == 0)
    }

    @Test func aWorkerThatStopsHeartbeatingIsKilledAndRestarted() async throws {
        let daemon = try fakeWorkerDaemon(
            mode: "no-heartbeat", extra: ["AUTONOUS_WORKER_HEARTBEAT_TIMEOUT": "600ms"])
        let caught = try await eventually(timeout: .seconds(30)) {
            try daemon.events("worker.exited").contains { $0.payload["reason"] == .string("heartbeat_timeout") }
        }
        #expect(caught, "\(daemon.log)")
        let unhealthy = try #require(try daemon.events("worker.unhealthy").first)
        #expect(unhealthy.payload["reason"] == .string("heartbeat_timeout"))
        #expect(try daemon.events("worker.ready").count >= 1)
        let restarted = try await eventually(timeout: .seconds(30)) { try daemon.events("worker.spawned").count >= 2 }
        #expect(restarted)
        await daemon.stop()
    }

    @Test func aWorkerThatIgnoresSIGTERMIsKilledWithSIGKILL() async throws {
        let daemon = try fakeWorkerDaemon(
            mode: "ignore-term",
            extra: ["AUTONOUS_WORKER_READY_TIMEOUT": "300ms", "AUTONOUS_WORKER_STOP_TIMEOUT": "300ms"])
        let killed = try await eventually(timeout: .seconds(30)) { try !daemon.events("worker.kill").isEmpty }
        #expect(killed, "\(daemon.log)")
        let exit = try await eventually(timeout: .seconds(10)) {
            try daemon.events("worker.exited").contains { $0.payload["signal"] == .int(Int64(SIGKILL)) }
        }
        #expect(exit)
        await daemon.stop()
    }

    @Test func aCrashingWorkerIsRestartedAndItsExitRecorded() async throws {
        let daemon = try fakeWorkerDaemon(mode: "crash")
        let twice = try await eventually(timeout: .seconds(30)) { try daemon.events("worker.exited").count >= 2 }
        #expect(twice, "\(daemon.log)")
        let exited = try daemon.events("worker.exited")
        #expect(exited.first?.payload["reason"] == .string("exited"))
        #expect(exited.first?.payload["exit_code"] == .int(3))
        let starts =
            (try? String(contentsOfFile: daemon.stateDirectory + "/worker/fake-worker-starts", encoding: .utf8)) ?? ""
        #expect(starts.split(separator: "\n").count >= 2)
        await daemon.stop()
    }

    @Test func sigtermStopsTheWorkerThenTheSupervisorAndTellsSystemd() async throws {
        let directory = try TemporaryDirectory()
        let notifyPath = directory.path + "/notify.sock"
        let notify = try DatagramListener(path: notifyPath)
        let daemon = try Daemon(telegram: false, overrides: ["NOTIFY_SOCKET": notifyPath])
        let ready = try #require(await daemon.waitUntilReady(), "\(daemon.log)")
        let workerPID = try #require(ready.worker.pid)
        let messages = notify.receiveAll(timeout: .seconds(2))
        #expect(messages.contains { $0.contains("READY=1") }, "\(messages)")
        #expect(messages.contains { $0.contains("STATUS=worker ready") })
        #expect(await daemon.stop() == 0, "\(daemon.log)")
        #expect(kill(Int32(workerPID), 0) == -1 && errno == ESRCH, "the worker outlived the supervisor")
        let after = notify.receiveAll(timeout: .milliseconds(500))
        #expect(after.contains { $0.contains("STOPPING=1") }, "\(after)")
        #expect(!FileManager.default.fileExists(atPath: daemon.controlSocket))
        let exited = try #require(try daemon.events("worker.exited").last)
        #expect(exited.payload["reason"] == .string("shutdown"))
        #expect(exited.payload["exit_code"] == .int(0))
        #expect(try daemon.events("process.stopped").count == 1)
    }

    /// Under a systemd watchdog, the supervisor's own main loop (the worker manager's) pings it, and STATUS=
    /// names the revision that runs: a stalled loop is what systemd would notice.
    @Test func theSupervisorsLoopPingsTheWatchdogAndStatusNamesTheRevision() async throws {
        let directory = try TemporaryDirectory()
        let notifyPath = directory.path + "/notify.sock"
        let notify = try DatagramListener(path: notifyPath)
        let daemon = try Daemon(
            telegram: false, overrides: ["NOTIFY_SOCKET": notifyPath, "WATCHDOG_USEC": "600000"])
        // From the start: the ready STATUS= is sent once.
        let messages = await withCheckedContinuation { continuation in
            Thread { continuation.resume(returning: notify.receive(for: .seconds(6))) }.start()
        }
        #expect(daemon.status()?.worker.state == "ready", "\(daemon.log)")
        let pings = messages.filter { $0.contains("WATCHDOG=1") }.count
        #expect(pings >= 6, "\(pings) pings in 6 s at a 300 ms interval: \(messages)")
        let revision = try SHA256.hex(fileAt: TestPaths.binary("autonous-worker"))
        #expect(
            messages.contains { $0.contains("STATUS=worker ready") && $0.contains(String(revision.prefix(12))) },
            "\(messages)")
        #expect(await daemon.stop() == 0, "\(daemon.log)")
    }

    /// A service manager that stops reading its notify socket (its queue holds `net.unix.max_dgram_qlen`
    /// messages, 10 by default) must not stall the supervisor: pings that find the queue full are dropped, and the
    /// loop goes on answering and stops cleanly. A blocking send hung the supervisor's shutdown here.
    @Test func aNotifySocketNobodyReadsNeverStallsTheSupervisor() async throws {
        let directory = try TemporaryDirectory()
        let notifyPath = directory.path + "/notify.sock"
        let notify = try DatagramListener(path: notifyPath)
        // 100 ms pings: the queue is full within about a second of the start.
        let daemon = try Daemon(
            telegram: false, overrides: ["NOTIFY_SOCKET": notifyPath, "WATCHDOG_USEC": "200000"])
        #expect(await daemon.waitUntilReady() != nil, "\(daemon.log)")
        try await Task.sleep(for: .seconds(3))
        #expect(daemon.status()?.worker.state == "ready", "the supervisor stopped answering:\n\(daemon.log)")
        #expect(await daemon.stop() == 0, "\(daemon.log)")
        #expect(!notify.receiveAll(timeout: .milliseconds(100)).isEmpty, "the socket got nothing at all")
    }

    @Test(arguments: [
        (["AUTONOUS_TELEGRAM": "on"], "AUTONOUS_TELEGRAM_TOKEN"),
        (
            ["AUTONOUS_TELEGRAM_TOKEN": "123:abc", "AUTONOUS_TELEGRAM_ALLOWED_USERS": "12,bob"],
            "AUTONOUS_TELEGRAM_ALLOWED_USERS"
        ),
        (["AUTONOUS_TELEGRAM_TOKEN": "123:abc"], "AUTONOUS_TELEGRAM_ALLOWED_USERS"),
        (
            ["AUTONOUS_TELEGRAM_TOKEN": "not a token", "AUTONOUS_TELEGRAM_ALLOWED_USERS": "1"],
            "AUTONOUS_TELEGRAM_TOKEN"
        ),
        (["AUTONOUS_STATE_DIR": "relative/state"], "AUTONOUS_STATE_DIR"),
        (["AUTONOUS_OPENAI_BASE_URL": "ftp://example"], "AUTONOUS_OPENAI_BASE_URL"),
        (["AUTONOUS_WORKER_READY_TIMEOUT": "soon"], "AUTONOUS_WORKER_READY_TIMEOUT"),
        (["AUTONOUS_LOG": "syslog"], "AUTONOUS_LOG"),
        (["AUTONOUS_MAX_CONCURRENT_RUNS": "0"], "AUTONOUS_MAX_CONCURRENT_RUNS"),
    ])
    func badConfigurationExitsWith78NamingTheVariable(_ environment: [String: String], _ variable: String) throws {
        let directory = try TemporaryDirectory()
        var full = [
            "PATH": "/usr/bin:/bin", "AUTONOUS_STATE_DIR": directory.path + "/state",
            "AUTONOUS_RUNTIME_DIR": directory.path + "/run", "AUTONOUS_CONFIG_DIR": directory.path + "/etc",
        ]
        for (key, value) in environment { full[key] = value }
        for binary in ["autonous-supervisord", "autonous-worker"] {
            let result = try runProcess(TestPaths.binary(binary), [], environment: full, timeout: .seconds(30))
            #expect(result.status == 78, "\(binary): \(result.stderr)")
            #expect(result.stderr.contains("configuration error: \(variable):"), "\(binary): \(result.stderr)")
        }
        #expect(!FileManager.default.fileExists(atPath: directory.path + "/state/autonous.db"))
    }

    /// The first start imports AUTONOUS_WORKER_BIN as the first revision; without one there is nothing to run, and
    /// that is a configuration error (78), not a failure systemd would restart in a loop.
    @Test func aFirstStartWithoutAWorkerBinaryIsAConfigurationError() throws {
        let directory = try TemporaryDirectory()
        let environment = [
            "PATH": "/usr/bin:/bin", "AUTONOUS_STATE_DIR": directory.path + "/state",
            "AUTONOUS_RUNTIME_DIR": directory.path + "/run", "AUTONOUS_CONFIG_DIR": directory.path + "/etc",
            "AUTONOUS_LOG": "stderr", "AUTONOUS_WORKER_BIN": directory.path + "/no-such-worker",
        ]
        let result = try runProcess(
            TestPaths.binary("autonous-supervisord"), [], environment: environment, timeout: .seconds(30))
        #expect(result.status == 78, "\(result.stderr)")
        #expect(result.stderr.contains("configuration error: AUTONOUS_WORKER_BIN: names"), "\(result.stderr)")
        #expect(!FileManager.default.fileExists(atPath: directory.path + "/run/control.sock"))
    }
}

/// A bound AF_UNIX datagram socket standing in for systemd's notify socket.
final class DatagramListener: @unchecked Sendable {
    let fd: Int32

    init(path: String) throws {
        fd = socket(AF_UNIX, Int32(SOCK_DGRAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
        var address = sockaddr_un()
        address.sun_family = sa_family_t(AF_UNIX)
        withUnsafeMutableBytes(of: &address.sun_path) { $0.copyBytes(from: Array(path.utf8) + [0]) }
        let result = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                bind(fd, $0, socklen_t(MemoryLayout<sockaddr_un>.size))
            }
        }
        guard result == 0 else { throw POSIXError(.EADDRINUSE) }
    }

    deinit {
        close(fd)
    }

    /// Every datagram that arrives within `timeout` (waiting at most that long after the last one).
    /// Every datagram that arrives within `window` (however busy the sender is).
    func receive(for window: Duration) -> [String] {
        var messages: [String] = []
        let deadline = ContinuousClock.now + window
        while ContinuousClock.now < deadline {
            var descriptor = pollfd(fd: fd, events: Int16(POLLIN), revents: 0)
            guard poll(&descriptor, 1, 20) > 0 else { continue }
            var buffer = [UInt8](repeating: 0, count: 4096)
            let n = recv(fd, &buffer, buffer.count, 0)
            if n > 0 { messages.append(String(decoding: buffer[0 ..< n], as: UTF8.self)) }
        }
        return messages
    }

    func receiveAll(timeout: Duration) -> [String] {
        var messages: [String] = []
        let milliseconds = Int32(
            timeout.components.seconds * 1000 + timeout.components.attoseconds / 1_000_000_000_000_000)
        while true {
            var descriptor = pollfd(fd: fd, events: Int16(POLLIN), revents: 0)
            guard poll(&descriptor, 1, milliseconds) > 0 else { return messages }
            var buffer = [UInt8](repeating: 0, count: 4096)
            let n = recv(fd, &buffer, buffer.count, 0)
            guard n > 0 else { return messages }
            messages.append(String(decoding: buffer[0 ..< n], as: UTF8.self))
        }
    }
}

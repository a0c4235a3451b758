import AutonousCore
import Foundation
import GRDB

/// A real autonous-supervisord started on a temporary state directory, with its stderr (and the worker's) in a file.
final class Daemon: @unchecked Sendable {
    let directory: TemporaryDirectory
    /// The running supervisor (a new one after `killAndRestart`).
    private(set) var process = Process()
    let environment: [String: String]
    let logPath: String

    var stateDirectory: String { directory.path + "/state" }
    var runtimeDirectory: String { directory.path + "/run" }
    var controlSocket: String { runtimeDirectory + "/control.sock" }

    /// The environment a test daemon gets: fast timings, and the fakes when given.
    static func baseEnvironment(directory: String, fakes: Fakes?, telegram: Bool) -> [String: String] {
        var environment: [String: String] = [
            "PATH": "/usr/local/bin:/usr/bin:/bin",
            "AUTONOUS_STATE_DIR": directory + "/state",
            "AUTONOUS_RUNTIME_DIR": directory + "/run",
            "AUTONOUS_CONFIG_DIR": directory + "/etc",
            "AUTONOUS_WORKER_BIN": TestPaths.binary("autonous-worker"),
            "AUTONOUS_LOG": "stderr",
            "AUTONOUS_LOG_LEVEL": "debug",
            "AUTONOUS_WORKER_HEARTBEAT_INTERVAL": "200ms",
            "AUTONOUS_WORKER_HEARTBEAT_TIMEOUT": "5s",
            "AUTONOUS_WORKER_READY_TIMEOUT": "20s",
            "AUTONOUS_WORKER_STOP_TIMEOUT": "3s",
            "AUTONOUS_RESTART_BACKOFF_INITIAL": "100ms",
            "AUTONOUS_RESTART_BACKOFF_MAX": "2s",
            "AUTONOUS_RETRY_BASE_DELAY": "20ms",
            "AUTONOUS_RETRY_MAX_DELAY": "200ms",
            "AUTONOUS_TELEGRAM_POLL_TIMEOUT": "1s",
        ]
        if let fakes {
            environment["OPENAI_API_KEY"] = Fakes.openAIKey
            environment["AUTONOUS_OPENAI_BASE_URL"] = fakes.openAIURL
            environment["AUTONOUS_MODEL"] = "gpt-fake"
            if telegram {
                environment["AUTONOUS_TELEGRAM_TOKEN"] = Fakes.telegramToken
                environment["AUTONOUS_TELEGRAM_API_URL"] = fakes.telegramURL
                environment["AUTONOUS_TELEGRAM_ALLOWED_USERS"] = "111,222"
            }
        }
        return environment
    }

    /// Starts the supervisor. `overrides` replace or (with nil) remove variables of the base environment;
    /// `prepare` gets the state directory's path (not created yet) before the supervisor starts.
    init(
        fakes: Fakes? = nil, telegram: Bool = true, overrides: [String: String?] = [:],
        prepare: (String) throws -> Void = { _ in }
    ) throws {
        directory = try TemporaryDirectory()
        // The sandboxed worker runs as an unprivileged host uid: it must be able to reach its state directory.
        chmod(directory.path, 0o755)
        try prepare(directory.path + "/state")
        var environment = Self.baseEnvironment(directory: directory.path, fakes: fakes, telegram: telegram)
        for (key, value) in overrides { environment[key] = value }
        self.environment = environment
        logPath = directory.path + "/daemon.log"
        FileManager.default.createFile(atPath: logPath, contents: nil)
        try start()
    }

    private func start() throws {
        let log = try FileHandle(forWritingTo: URL(fileURLWithPath: logPath))
        log.seekToEndOfFile()
        process = Process()
        process.executableURL = URL(fileURLWithPath: TestPaths.binary("autonous-supervisord"))
        process.environment = environment
        process.standardInput = FileHandle.nullDevice
        process.standardOutput = log
        process.standardError = log
        try process.run()
    }

    /// kill -9 of the supervisor (its worker dies with it: the launcher has a parent-death signal), then a new
    /// supervisor on the same state, runtime directory and log.
    func killAndRestart() throws {
        kill(process.processIdentifier, SIGKILL)
        process.waitUntilExit()
        try start()
    }

    deinit {
        stopBlocking()
    }

    /// SIGTERM, then waits (bounded) for a clean exit; SIGKILL if it does not come. The wait runs on a thread of
    /// its own: the test pool has two threads, and a stop takes seconds.
    @discardableResult
    func stop(timeout: Duration = .seconds(20)) async -> Int32? {
        await withCheckedContinuation { continuation in
            Thread { continuation.resume(returning: self.stopBlocking(timeout: timeout)) }.start()
        }
    }

    /// `stop` on the calling thread.
    @discardableResult
    ///
    /// Whether the supervisor still runs is asked of the kernel too (it is this process's child), not of
    /// Foundation's `Process` alone: supervisors were seen outliving their tests, reparented to init, after a
    /// stop that `isRunning` had answered with false.
    func stopBlocking(timeout: Duration = .seconds(20)) -> Int32? {
        let pid = process.processIdentifier
        guard process.isRunning || Self.isChild(pid) else { return process.terminationStatus }
        kill(pid, SIGTERM)
        let deadline = ContinuousClock.now + timeout
        while (process.isRunning || Self.isChild(pid)) && ContinuousClock.now < deadline { usleep(20_000) }
        if process.isRunning || Self.isChild(pid) {
            kill(pid, SIGKILL)
            let killed = ContinuousClock.now + .seconds(10)
            while (process.isRunning || Self.isChild(pid)) && ContinuousClock.now < killed { usleep(20_000) }
            return nil
        }
        return process.isRunning ? nil : process.terminationStatus
    }

    /// True while `pid` is a live process (not a zombie) whose parent is this test process.
    static func isChild(_ pid: Int32) -> Bool {
        guard pid > 0, let stat = try? String(contentsOfFile: "/proc/\(pid)/stat", encoding: .utf8),
            let close = stat.lastIndex(of: ")")
        else { return false }
        let fields = stat[stat.index(close, offsetBy: 2)...].split(separator: " ")
        guard fields.count > 1, fields[0] != "Z", let parent = Int32(fields[1]) else { return false }
        return parent == getpid()
    }

    var log: String {
        (try? String(contentsOfFile: logPath, encoding: .utf8)) ?? ""
    }

    /// GetStatus over the control socket with our client; nil while the socket is not up.
    func status() -> ControlInterface.Status? {
        guard let client = try? VarlinkClient(path: controlSocket) else { return nil }
        defer { client.close() }
        return try? client.call("io.autonous.Control.GetStatus", NoParameters(), as: ControlInterface.Status.self)
    }

    /// Waits until the worker is ready; returns its status.
    func waitUntilReady(timeout: Duration = .seconds(60)) async -> ControlInterface.Status? {
        var last: ControlInterface.Status?
        _ = await eventually(timeout: timeout) {
            last = status()
            return last?.worker.state == "ready"
        }
        return last?.worker.state == "ready" ? last : nil
    }

    var supervisorDatabasePath: String { stateDirectory + "/autonous.db" }
    var workerDatabasePath: String { stateDirectory + "/worker/worker.db" }

    /// Opens the worker's database (inbox, outbox, messages, model calls, approvals, the worker's events), read
    /// and write: tests also check the append-only triggers.
    func database() throws -> AppDatabase {
        try AppDatabase(path: workerDatabasePath, role: .worker)
    }

    /// Opens the supervisor's database (its events: process and worker lifecycle).
    func supervisorDatabase() throws -> AppDatabase {
        try AppDatabase(path: supervisorDatabasePath, role: .supervisor)
    }

    /// The events of both logs so far, merged by time, or none while neither database exists yet.
    func events(_ type: String? = nil) throws -> [EventRecord] {
        // A database whose owner has not migrated it yet (the file exists, the table not yet) has no events.
        func log(_ path: String, _ role: DatabaseRole) throws -> EventLog? {
            guard FileManager.default.fileExists(atPath: path) else { return nil }
            let database = try AppDatabase.readOnly(path: path, role: role)
            return try database.pool.read { db in try db.tableExists("events") } ? EventLog(database: database) : nil
        }
        var all: [EventRecord] = []
        if let supervisor = try log(supervisorDatabasePath, .supervisor) {
            all += try supervisor.events(limit: 100_000)
        }
        if let worker = try log(workerDatabasePath, .worker) {
            all += try worker.events(afterID: AppDatabase.workerEventIDBase - 1, limit: 100_000)
        }
        all.sort { ($0.tsMs, $0.id) < ($1.tsMs, $1.id) }
        guard let type else { return all }
        return all.filter { $0.type == type }
    }

    /// Runs autonousctl against this daemon; returns exit status and output.
    func autonousctl(_ arguments: [String], stdin: String? = nil) throws -> (
        status: Int32, stdout: String, stderr: String
    ) {
        let command = Array(arguments.prefix(1)) + ["--socket", controlSocket] + arguments.dropFirst()
        return try runProcess(TestPaths.binary("autonousctl"), command, environment: [:], stdin: stdin)
    }
}

/// Runs a program to completion (bounded to 120 s) and returns its exit status and output.
func runProcess(
    _ executable: String, _ arguments: [String], environment: [String: String], stdin: String? = nil,
    timeout: Duration = .seconds(120)
) throws -> (status: Int32, stdout: String, stderr: String) {
    /// The running supervisor (a new one after `killAndRestart`).
    let process = Process()
    process.executableURL = URL(fileURLWithPath: executable)
    process.arguments = arguments
    process.environment = environment.isEmpty ? ["PATH": "/usr/bin:/bin"] : environment
    let directory = try TemporaryDirectory()
    let outPath = directory.path + "/out"
    let errPath = directory.path + "/err"
    FileManager.default.createFile(atPath: outPath, contents: nil)
    FileManager.default.createFile(atPath: errPath, contents: nil)
    process.standardOutput = try FileHandle(forWritingTo: URL(fileURLWithPath: outPath))
    process.standardError = try FileHandle(forWritingTo: URL(fileURLWithPath: errPath))
    let input = Pipe()
    process.standardInput = input
    try process.run()
    if let stdin { input.fileHandleForWriting.write(Data(stdin.utf8)) }
    try input.fileHandleForWriting.close()
    let deadline = ContinuousClock.now + timeout
    while process.isRunning && ContinuousClock.now < deadline { usleep(10_000) }
    if process.isRunning {
        kill(process.processIdentifier, SIGKILL)
        process.waitUntilExit()
    }
    let out = (try? String(contentsOfFile: outPath, encoding: .utf8)) ?? ""
    let err = (try? String(contentsOfFile: errPath, encoding: .utf8)) ?? ""
    return (process.terminationStatus, out, err)
}

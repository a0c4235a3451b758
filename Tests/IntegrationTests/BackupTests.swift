import AutonousCore
import Foundation
import GRDB
import Testing

/// `autonousctl backup` and `restore` on real SQLite databases, written by real processes while the backup runs.
@Suite("Backup", .serialized)
struct BackupTests {
    /// A python process committing 8 KiB rows into both databases as fast as it can (one transaction each), for
    /// at most 120 s; it prints `ready` after its first 2000 rows (16 MiB in worker.db).
    static let writer = """
        import sqlite3, sys, time
        state = sys.argv[1]
        worker = sqlite3.connect(state + "/worker/worker.db", timeout=30, isolation_level=None)
        supervisor = sqlite3.connect(state + "/autonous.db", timeout=30, isolation_level=None)
        for db in (worker, supervisor):
            db.execute("CREATE TABLE IF NOT EXISTS load (id INTEGER PRIMARY KEY, payload BLOB NOT NULL)")
        deadline = time.monotonic() + 120
        count = 0
        while time.monotonic() < deadline:
            for db in (worker, supervisor) if count % 4 == 0 else (worker,):
                db.execute("BEGIN IMMEDIATE")
                db.execute("INSERT INTO load (payload) VALUES (randomblob(8192))")
                db.execute("COMMIT")
            count += 1
            if count == 2000:
                print("ready", flush=True)
        """

    @Test func aBackupUnderWriteLoadPassesIntegrityCheckAndHoldsEveryCommittedRow() throws {
        let directory = try TemporaryDirectory()
        let state = directory.path + "/state"
        try Self.makeState(state)
        let writer = Process()
        writer.executableURL = URL(fileURLWithPath: "/usr/bin/python3")
        writer.arguments = ["-c", Self.writer, state]
        let output = Pipe()
        writer.standardOutput = output
        try writer.run()
        defer {
            kill(writer.processIdentifier, SIGKILL)
            writer.waitUntilExit()
        }
        let ready = output.fileHandleForReading.availableData
        #expect(String(decoding: ready, as: UTF8.self).hasPrefix("ready"))

        // Every row committed before the backup begins: what a new reader sees now.
        let before = try Self.maxLoadIDs(state)
        let backup = directory.path + "/backup"
        let started = ContinuousClock.now
        let result = try runProcess(
            TestPaths.binary("autonousctl"), ["backup", backup, "--state-dir", state, "--json"], environment: [:])
        let took = ContinuousClock.now - started
        let after = try Self.maxLoadIDs(state)
        #expect(result.status == 0, "\(result.stderr)")
        #expect(after.worker > before.worker, "the writer kept committing while the backup ran")
        print("backup of \(before) rows under load took \(took); the writer reached \(after) meanwhile")

        let copy = backup + "/state"
        for (path, minimum) in [("worker/worker.db", before.worker), ("autonous.db", before.supervisor)] {
            let database = try DatabaseQueue(path: copy + "/" + path)
            try database.read { db in
                #expect(try String.fetchAll(db, sql: "PRAGMA integrity_check") == ["ok"])
                let held = try Int.fetchOne(db, sql: "SELECT count(*) FROM load WHERE id <= ?", arguments: [minimum])
                #expect(held == minimum, "\(path): every row committed before the backup began")
            }
            try database.close()
        }
        #expect(try DatabaseQueue(path: copy + "/worker/worker.db").read { try $0.tableExists("inbox") })

        let report = try JSONCoding.decoder.decode(
            StateBackup.Report.self, from: Data(contentsOf: URL(fileURLWithPath: backup + "/backup.json")))
        #expect(report.databases.map(\.path) == ["autonous.db", "worker/worker.db"])
        #expect(report.databases.allSatisfy { $0.integrity == "ok" && $0.bytes > 0 })
        #expect(try JSONCoding.decoder.decode(StateBackup.Report.self, from: Data(result.stdout.utf8)) == report)
        #expect(!FileManager.default.fileExists(atPath: backup + ".partial"))

        // The rest of the state, with links and modes; what must not be copied is not, and the report says so.
        let sha = String(repeating: "ab", count: 32)
        #expect(try FileManager.default.destinationOfSymbolicLink(atPath: copy + "/artifacts/current") == sha)
        #expect(Self.mode(copy + "/artifacts/\(sha)/autonous-worker") == 0o555)
        #expect(Self.mode(copy + "/worker") == 0o700)
        #expect(FileManager.default.contents(atPath: copy + "/workspace/notes.txt") == Data("hello\n".utf8))
        #expect(FileManager.default.fileExists(atPath: copy + "/src/HEAD"))
        let left = try Set(FileManager.default.subpathsOfDirectory(atPath: copy))
        for absent in [
            "build-cache", "self-check", "workspace/project/.build", "workspace/fifo", "autonous.db-wal",
            "autonous.db-shm", "worker/worker.db-wal", "worker/worker.db-shm", "autonous.db.migrate-lock",
            "artifacts/.import-abc123",
        ] {
            #expect(!left.contains(absent), "\(absent) was copied")
        }
        for skipped in ["build-cache (", "self-check (", "workspace/project/.build (", "workspace/fifo (not a file"] {
            #expect(report.skipped.contains { $0.hasPrefix(skipped) }, "\(report.skipped)")
        }
    }

    @Test func backupRefusesAnExistingDirectoryAMissingStateAndALeftoverPartial() throws {
        let directory = try TemporaryDirectory()
        let state = directory.path + "/state"
        try Self.makeState(state)
        let taken = directory.path + "/taken"
        try FileManager.default.createDirectory(atPath: taken, withIntermediateDirectories: false)
        FileManager.default.createFile(atPath: taken + "/something", contents: Data())
        let ctl = TestPaths.binary("autonousctl")

        let existing = try runProcess(ctl, ["backup", taken, "--state-dir", state], environment: [:])
        #expect(existing.status == 1)
        #expect(existing.stderr == "autonousctl: backup: \(taken) exists and is not empty: name a new directory\n")

        let missing = try runProcess(
            ctl, ["backup", directory.path + "/new", "--state-dir", directory.path + "/nowhere"], environment: [:])
        #expect(missing.status == 1)
        #expect(
            missing.stderr
                == "autonousctl: backup: the state directory \(directory.path)/nowhere does not exist "
                + "(name it with --state-dir or AUTONOUS_STATE_DIR)\n")
        #expect(!FileManager.default.fileExists(atPath: directory.path + "/new"))

        let fromEnvironment = try runProcess(
            ctl, ["backup", directory.path + "/new"],
            environment: ["PATH": "/usr/bin:/bin", "AUTONOUS_STATE_DIR": directory.path + "/elsewhere"])
        #expect(fromEnvironment.stderr.contains("the state directory \(directory.path)/elsewhere does not exist"))

        try FileManager.default.createDirectory(
            atPath: directory.path + "/new.partial", withIntermediateDirectories: false)
        let partial = try runProcess(ctl, ["backup", directory.path + "/new", "--state-dir", state], environment: [:])
        #expect(partial.status == 1)
        #expect(
            partial.stderr
                == "autonousctl: backup: \(directory.path)/new.partial exists: an earlier backup was interrupted; "
                + "remove it and run the backup again\n")

        let inside = try runProcess(ctl, ["backup", state + "/backup", "--state-dir", state], environment: [:])
        #expect(
            inside.stderr
                == "autonousctl: backup: \(state)/backup is inside the state directory \(state): "
                + "name a directory outside it\n")

        // An existing empty directory is fine: the backup takes its place.
        try FileManager.default.removeItem(atPath: directory.path + "/new.partial")
        try FileManager.default.createDirectory(atPath: directory.path + "/new", withIntermediateDirectories: false)
        let empty = try runProcess(ctl, ["backup", directory.path + "/new", "--state-dir", state], environment: [:])
        #expect(empty.status == 0, "\(empty.stderr)")
        #expect(empty.stdout.contains("worker/worker.db:") && empty.stdout.contains("integrity ok"), "\(empty.stdout)")
    }

    @Test func aRunningDaemonIsBackedUpAndRestoredOnlyOnceStopped() async throws {
        let fakes = try Fakes()
        let daemon = try Daemon(fakes: fakes)
        #expect(await daemon.waitUntilReady() != nil, "\(daemon.log)")
        // Messages answered while the backup runs: the worker writes its inbox, outbox, messages and events.
        for index in 0 ..< 3 { _ = try await fakes.sendUserMessage(from: 111, text: "before \(index)") }
        #expect(try await fakes.waitForSent(3))
        let answered = try await AppDatabase.readOnly(path: daemon.workerDatabasePath, role: .worker).pool.read { db in
            try Int.fetchOne(db, sql: "SELECT count(*) FROM inbox WHERE status = 'done'")
        }
        let writes = Task {
            for index in 0 ..< 5 { _ = try await fakes.sendUserMessage(from: 111, text: "during \(index)") }
        }
        let backup = daemon.directory.path + "/backup"
        let ctl = TestPaths.binary("autonousctl")
        let result = try runProcess(ctl, ["backup", backup, "--state-dir", daemon.stateDirectory], environment: [:])
        try await writes.value
        #expect(result.status == 0, "\(result.stderr)")
        let copy = try DatabaseQueue(path: backup + "/state/worker/worker.db")
        try await copy.read { db in
            #expect(try String.fetchAll(db, sql: "PRAGMA integrity_check") == ["ok"])
            let done = try Int.fetchOne(db, sql: "SELECT count(*) FROM inbox WHERE status = 'done'") ?? 0
            #expect(done >= answered ?? 3)
        }
        try copy.close()

        let restoreArguments = [
            "restore", backup, "--state-dir", daemon.stateDirectory, "--socket", daemon.controlSocket,
        ]
        let refused = try runProcess(ctl, restoreArguments, environment: [:])
        #expect(refused.status == 1)
        #expect(
            refused.stderr
                == "autonousctl: restore: a supervisor is running (\(daemon.controlSocket) answers): stop it first "
                + "(systemctl stop autonous)\n")

        await daemon.stop()
        let restored = try runProcess(ctl, restoreArguments, environment: [:])
        #expect(restored.status == 0, "\(restored.stderr)")
        let aside = try FileManager.default.contentsOfDirectory(atPath: daemon.directory.path)
            .filter { $0.hasPrefix("state.before-restore-") }
        #expect(aside.count == 1, "the state that was there is kept")
        #expect(restored.stdout.contains("is now \(daemon.directory.path)/\(aside.first ?? "?")"))
        let database = try AppDatabase.readOnly(path: daemon.workerDatabasePath, role: .worker)
        #expect(try await database.pool.read { try String.fetchAll($0, sql: "PRAGMA integrity_check") } == ["ok"])
        #expect(Self.mode(daemon.stateDirectory + "/worker") == 0o700)
        try database.pool.close()
    }

    /// A state directory as the daemon leaves it, plus what a backup must leave out.
    static func makeState(_ state: String) throws {
        let manager = FileManager.default
        for path in ["worker", "workspace/project/.build", "build-cache/swiftpm", "self-check/x", "src"] {
            try manager.createDirectory(atPath: state + "/" + path, withIntermediateDirectories: true)
        }
        chmod(state + "/worker", 0o700)
        try AppDatabase(path: state + "/autonous.db", role: .supervisor).pool.close()
        try AppDatabase(path: state + "/worker/worker.db", role: .worker).pool.close()
        let sha = String(repeating: "ab", count: 32)
        let artifact = state + "/artifacts/" + sha
        try manager.createDirectory(atPath: artifact, withIntermediateDirectories: true)
        try manager.createDirectory(atPath: state + "/artifacts/.import-abc123", withIntermediateDirectories: true)
        manager.createFile(atPath: artifact + "/autonous-worker", contents: Data("#!/bin/sh\n".utf8))
        manager.createFile(atPath: artifact + "/manifest.json", contents: Data("{}".utf8))
        chmod(artifact + "/autonous-worker", 0o555)
        chmod(artifact, 0o555)
        try manager.createSymbolicLink(atPath: state + "/artifacts/current", withDestinationPath: sha)
        manager.createFile(atPath: state + "/workspace/notes.txt", contents: Data("hello\n".utf8))
        manager.createFile(atPath: state + "/workspace/project/.build/cache", contents: Data("x".utf8))
        manager.createFile(atPath: state + "/src/HEAD", contents: Data("ref: refs/heads/main\n".utf8))
        mkfifo(state + "/workspace/fifo", 0o600)
    }

    /// The highest `load` row id a new reader sees in each database.
    static func maxLoadIDs(_ state: String) throws -> (worker: Int, supervisor: Int) {
        func maximum(_ path: String, _ role: DatabaseRole) throws -> Int {
            let database = try AppDatabase.readOnly(path: path, role: role)
            defer { try? database.pool.close() }
            return try database.pool.read { try Int.fetchOne($0, sql: "SELECT max(id) FROM load") } ?? 0
        }
        return (try maximum(state + "/worker/worker.db", .worker), try maximum(state + "/autonous.db", .supervisor))
    }

    static func mode(_ path: String) -> mode_t {
        var info = stat()
        return lstat(path, &info) == 0 ? info.st_mode & 0o7777 : 0
    }
}

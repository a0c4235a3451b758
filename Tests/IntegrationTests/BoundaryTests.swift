import AutonousCore
import Foundation
import GRDB
import Testing

/// The trust boundary between the supervisor and the worker it runs: the worker runs code the agent may have
/// written, so what decides whether a revision runs (the supervisor's database, the artifacts, the control
/// socket) is not in its mount namespace, and its tools cannot reach it either. Judged from the host.
@Suite("Boundary", .serialized, .timeLimit(.minutes(3)))
struct BoundaryTests {
    /// Stands in for what the next issues put in the state directory beside autonous.db.
    static func plantSupervisorState(_ state: String) throws {
        try FileManager.default.createDirectory(
            atPath: state + "/artifacts/0123abcd", withIntermediateDirectories: true)
        try Data("#!/bin/sh\n".utf8).write(to: URL(fileURLWithPath: state + "/artifacts/0123abcd/autonous-worker"))
        try FileManager.default.createDirectory(atPath: state + "/src/.git", withIntermediateDirectories: true)
        try FileManager.default.createDirectory(atPath: state + "/builds", withIntermediateDirectories: true)
    }

    /// The pid of the autonous-worker process under the launcher `launcher`, found on the host's /proc.
    static func workerProcess(under launcher: Int32) -> Int32? {
        var queue = [launcher]
        var seen = 0
        while let pid = queue.first, seen < 64 {
            queue.removeFirst()
            seen += 1
            if let exe = try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/\(pid)/exe"),
                exe.hasSuffix("/autonous-worker")
            {
                return pid
            }
            let tasks = (try? FileManager.default.contentsOfDirectory(atPath: "/proc/\(pid)/task")) ?? []
            for task in tasks {
                let children = (try? String(contentsOfFile: "/proc/\(pid)/task/\(task)/children", encoding: .utf8))
                queue += (children ?? "").split(separator: " ").compactMap { Int32($0) }
            }
        }
        return nil
    }

    @Test func theWorkersMountNamespaceHoldsOnlyItsCorner() async throws {
        let fakes = try Fakes()
        let daemon = try Daemon(fakes: fakes, prepare: Self.plantSupervisorState)
        let launcher = try #require(await daemon.waitUntilReady()?.worker.pid, "\(daemon.log)")
        let worker = try #require(Self.workerProcess(under: Int32(launcher)), "no autonous-worker under \(launcher)")
        let root = "/proc/\(worker)/root"
        let files = FileManager.default
        // The host has all of it.
        for path in ["/autonous.db", "/artifacts/0123abcd/autonous-worker", "/src/.git", "/worker/worker.db"] {
            #expect(files.fileExists(atPath: daemon.stateDirectory + path), "\(path) is missing on the host")
        }
        #expect(files.fileExists(atPath: daemon.controlSocket))
        // The worker's view: its own corner, its socket, nothing else of the state or runtime directories.
        #expect(!files.fileExists(atPath: root + daemon.stateDirectory + "/autonous.db"))
        #expect(!files.fileExists(atPath: root + daemon.stateDirectory + "/artifacts"))
        #expect(!files.fileExists(atPath: root + daemon.stateDirectory + "/src"))
        #expect(!files.fileExists(atPath: root + daemon.controlSocket))
        #expect(files.fileExists(atPath: root + daemon.stateDirectory + "/worker/worker.db"))
        #expect(files.fileExists(atPath: root + daemon.runtimeDirectory + "/worker.sock"))
        let state = try files.contentsOfDirectory(atPath: root + daemon.stateDirectory).sorted()
        #expect(state == ["worker", "workspace"])
        let runtime = try files.contentsOfDirectory(atPath: root + daemon.runtimeDirectory).sorted()
        #expect(runtime == ["worker.sock"])
        await daemon.stop()
    }

    @Test func aBashCallCannotReachTheSupervisorsStateAndTheWorkerCarriesOn() async throws {
        let fakes = try Fakes()
        // The command names the daemon's paths, known once it is made: the model's script is set after the start.
        let running = try Daemon(fakes: fakes, prepare: Self.plantSupervisorState)
        #expect(await running.waitUntilReady() != nil, "\(running.log)")
        let s = running.stateDirectory
        // Each line says what the command managed from inside. Only the read and the connection are judged by
        // these lines; everything else is judged on the host, below: a path the sandbox made up for itself (the
        // parents of its binds are its own) may take a write that vanishes with the sandbox.
        let command = """
            head -c 16 '\(s)/autonous.db' 2>/dev/null | grep -q 'SQLite format 3' && echo READ_DB_OK \
              || echo read_db_refused
            echo x >> '\(s)/autonous.db' 2>/dev/null; echo tried_write_db
            touch '\(s)/planted' 2>/dev/null; echo tried_plant
            mkdir -p '\(s)/artifacts/evil' 2>/dev/null; echo tried_artifact
            echo x > '\(s)/artifacts/0123abcd/autonous-worker' 2>/dev/null; echo tried_swap
            python3 -c 'import socket,sys; s=socket.socket(socket.AF_UNIX); s.connect(sys.argv[1]); print("CONNECT_OK")' \
              '\(running.controlSocket)' 2>/dev/null || echo connect_refused
            echo inside > workspace-note && echo workspace_ok
            """
        try await fakes.scriptOpenAI([
            .object([
                "tool_calls": .array([
                    .object([
                        "id": .string("call_b"), "name": .string("bash"),
                        "arguments": .object(["command": .string(command)]),
                    ])
                ])
            ]),
            .object(["content": .string("tried")]),
            .object(["content": .string("still here")]),
        ])
        let dbBefore = try Self.fileInfo(s + "/autonous.db")
        let artifactBefore = try Data(contentsOf: URL(fileURLWithPath: s + "/artifacts/0123abcd/autonous-worker"))
        try await fakes.sendUserMessage(from: 111, text: "try to escape")
        #expect(try await fakes.waitForSent(1), "\(running.log)")

        let envelope = try #require(try await Self.toolEnvelope(fakes), "no tool result reached the model")
        let lines = (envelope["stdout"]?.stringValue ?? "").split(separator: "\n").map(String.init)
        #expect(
            lines == [
                "read_db_refused", "tried_write_db", "tried_plant", "tried_artifact", "tried_swap", "connect_refused",
                "workspace_ok",
            ], "\(envelope)")
        // Judged on the host: nothing of the supervisor's changed, the workspace did.
        let files = FileManager.default
        #expect(!files.fileExists(atPath: s + "/planted"))
        #expect(!files.fileExists(atPath: s + "/artifacts/evil"))
        #expect(try Data(contentsOf: URL(fileURLWithPath: s + "/artifacts/0123abcd/autonous-worker")) == artifactBefore)
        #expect(files.fileExists(atPath: s + "/workspace/workspace-note"))
        let dbAfter = try Self.fileInfo(s + "/autonous.db")
        #expect(dbAfter.inode == dbBefore.inode)
        #expect(dbAfter.size % 4096 == 0, "autonous.db is \(dbAfter.size) bytes: something appended to it")
        let supervisor = try running.supervisorDatabase()
        let integrity = try await supervisor.pool.read { db in try String.fetchOne(db, sql: "PRAGMA integrity_check") }
        #expect(integrity == "ok")
        #expect(!running.log.contains("varlink caller refused"), "a tool reached control.sock")
        let entries = try files.contentsOfDirectory(atPath: s).filter { !$0.hasPrefix("autonous.db") }.sorted()
        #expect(entries == ["artifacts", "builds", "src", "worker", "workspace"])

        // The worker's own database keeps working: the next message is stored, answered and recorded.
        try await fakes.sendUserMessage(from: 111, text: "are you fine?")
        #expect(try await fakes.waitForSent(2), "\(running.log)")
        #expect(try await fakes.sentMessages().last?["text"] == .string("still here"))
        let answered = try await running.database().pool.read { db in
            try Int.fetchOne(db, sql: "SELECT count(*) FROM inbox WHERE status = 'done'")
        }
        #expect(answered == 2)
        await running.stop()
    }

    /// A state directory written by the earlier version (one autonous.db with everything) is split on the first
    /// start; the worker then resumes exactly where the old one left off.
    @Test func aDaemonStartedOnAnEarlierVersionsStateSplitsItOnceAndCarriesOn() async throws {
        let fakes = try Fakes()
        let daemon = try Daemon(fakes: fakes) { state in
            try FileManager.default.createDirectory(atPath: state, withIntermediateDirectories: true)
            let dump = try String(contentsOfFile: TestPaths.fixture("legacy-state/autonous.sql"), encoding: .utf8)
            let queue = try DatabaseQueue(path: state + "/autonous.db")
            try queue.writeWithoutTransaction { db in try db.execute(sql: dump) }
            try queue.close()
        }
        #expect(await daemon.waitUntilReady() != nil, "\(daemon.log)")
        let split = try daemon.events("state.split")
        #expect(split.count == 1)
        #expect(split.first?.payload["rows"]?["inbox"] == .int(3))
        let tables = try await daemon.supervisorDatabase().pool.read { db in
            try String.fetchAll(db, sql: "SELECT name FROM sqlite_master WHERE type = 'table' ORDER BY name")
        }
        // Only the supervisor's own tables: its events, revisions and self-update transactions.
        #expect(
            tables == [
                "events", "grdb_migrations", "revisions", "sqlite_sequence", "transaction_steps", "transactions",
                "update_approvals",
            ])

        // The fake numbers its updates from 100000, as the one that made the old state did: those three were
        // stored and acknowledged then, so they are not fetched again; the fourth is new.
        for text in ["old one", "old two", "old three"] { _ = try await fakes.sendUserMessage(from: 111, text: text) }
        try await fakes.scriptOpenAI([.object(["content": .string("Lyon is second.")])])
        try await fakes.sendUserMessage(from: 111, text: "and the second city?")
        #expect(try await fakes.waitForSent(1), "\(daemon.log)")
        let sent = try await fakes.sentMessages()
        #expect(sent.map { $0["text"] } == [.string("Lyon is second.")])
        // The model saw the history the old worker stored.
        let request = try #require(try await fakes.openAIRequests().last)
        guard case .array(let messages)? = request["body"]?["messages"] else {
            Issue.record("no messages in \(request)")
            return
        }
        let texts = messages.compactMap { $0["content"]?.stringValue }
        #expect(texts.contains("capital of France?"))
        #expect(texts.contains("Paris."))
        #expect(texts.last == "and the second city?")
        let inbox = try await daemon.database().pool.read { db in
            try Row.fetchAll(db, sql: "SELECT update_id, status FROM inbox ORDER BY update_id")
        }
        #expect(inbox.map { $0["update_id"] as Int64 } == [100_000, 100_001, 100_002, 100_003])
        await daemon.stop()
    }

    static func fileInfo(_ path: String) throws -> (inode: UInt64, size: Int64) {
        var info = stat()
        guard stat(path, &info) == 0 else { throw Errno(errno, "stat \(path)") }
        return (UInt64(info.st_ino), Int64(info.st_size))
    }

    /// The envelope of the tool message in the model's last request.
    static func toolEnvelope(_ fakes: Fakes) async throws -> JSONValue? {
        for request in try await fakes.openAIRequests().reversed() {
            guard case .array(let messages)? = request["body"]?["messages"],
                let content = messages.last(where: { $0["role"] == .string("tool") })?["content"]?.stringValue
            else { continue }
            return try JSONDecoder().decode(JSONValue.self, from: Data(content.utf8))
        }
        return nil
    }
}

import AutonousCore
import Foundation
import Testing

/// `autonousctl events`: both event logs merged by time, read through control.sock from the real daemons.
@Suite("Events command", .serialized, .timeLimit(.minutes(5)))
struct EventsCommandTests {
    /// The JSON Lines of `autonousctl events --json`.
    private func lines(_ output: String) throws -> [JSONValue] {
        try output.split(separator: "\n").map { try JSONDecoder().decode(JSONValue.self, from: Data($0.utf8)) }
    }

    @Test func eventsMergesBothLogsInTimeOrderWithTheirParents() async throws {
        let fakes = try Fakes()
        let daemon = try Daemon(fakes: fakes)
        #expect(await daemon.waitUntilReady() != nil, "\(daemon.log)")
        try await fakes.sendUserMessage(from: 111, text: "hello there")
        #expect(try await fakes.waitForSent(1), "\(daemon.log)")
        #expect(try await eventually { try !daemon.events("agent.completed").isEmpty })

        let result = try daemon.autonousctl(["events", "--json", "--limit", "10000"])
        #expect(result.status == 0, "\(result.stderr)")
        let events = try lines(result.stdout)
        let types = events.compactMap { $0["type"]?.stringValue }
        func source(of type: String) -> String? {
            events.first { $0["type"]?.stringValue == type }?["source"]?.stringValue
        }
        for type in ["process.started", "worker.spawning", "worker.spawned", "worker.ready"] {
            #expect(source(of: type) == "supervisor", "\(type) in \(types)")
        }
        for type in ["telegram.update.stored", "agent.started", "turn.started", "turn.completed", "agent.completed"] {
            #expect(source(of: type) == "worker", "\(type) in \(types)")
        }
        // Merged by time, then id; the same events the test reads from both databases itself.
        let keys = events.map { ($0["ts_ms"]?.intValue ?? -1, $0["id"]?.intValue ?? -1) }
        #expect(zip(keys, keys.dropFirst()).allSatisfy { $0 < $1 })
        #expect(events.compactMap { $0["id"]?.intValue } == (try daemon.events()).map(\.id))
        let first = try #require(events.first)
        #expect(first["time"]?.stringValue?.hasSuffix("Z") == true)
        #expect(first["payload"]?.objectValue != nil)
        for key in ["parent_id", "run_id", "conversation_id"] { #expect(first[key] != nil, "\(key)") }

        // Every worker event with a parent reaches a supervisor event through the parent ids.
        let byID = Dictionary(
            uniqueKeysWithValues: events.compactMap { event in event["id"]?.intValue.map { ($0, event) } })
        for event in events where event["source"] == .string("worker") && event["parent_id"]?.intValue != nil {
            var cursor: JSONValue? = event
            var hops = 0
            while let current = cursor, current["source"] == .string("worker"), hops < 50 {
                cursor = current["parent_id"]?.intValue.flatMap { byID[$0] }
                hops += 1
            }
            #expect(cursor?["source"] == .string("supervisor"), "\(event)")
        }
        let agent = try #require(events.first { $0["type"] == .string("agent.started") })
        #expect(agent["conversation_id"] == .string("telegram:111"))
        let runID = try #require(agent["run_id"]?.stringValue)

        // Filters: a type prefix, an exact type, a run, a time.
        let workerOnly = try lines(try daemon.autonousctl(["events", "--json", "--type", "worker."]).stdout)
        #expect(!workerOnly.isEmpty)
        #expect(workerOnly.allSatisfy { $0["type"]?.stringValue?.hasPrefix("worker.") == true })
        let exact = try lines(
            try daemon.autonousctl(["events", "--json", "--type", "worker.ready", "--type", "turn.*"]).stdout)
        #expect(
            Set(exact.compactMap { $0["type"]?.stringValue }) == ["worker.ready", "turn.started", "turn.completed"])
        let run = try lines(try daemon.autonousctl(["events", "--json", "--run", runID]).stdout)
        #expect(!run.isEmpty && run.allSatisfy { $0["run_id"] == .string(runID) })
        let recent = try lines(
            try daemon.autonousctl(["events", "--json", "--since", "1h", "--limit", "10000"]).stdout)
        #expect(recent.count == events.count)
        let future = try daemon.autonousctl(["events", "--json", "--since", "2999-01-01T00:00:00Z"])
        #expect(future.status == 0 && future.stdout.isEmpty, "\(future)")
        let limited = try lines(try daemon.autonousctl(["events", "--json", "--limit", "3"]).stdout)
        #expect(limited.compactMap { $0["id"]?.intValue } == events.suffix(3).compactMap { $0["id"]?.intValue })

        // The table: a header, then a line per event.
        let table = try daemon.autonousctl(["events", "--type", "process.started"])
        #expect(table.status == 0)
        let rows = table.stdout.split(separator: "\n")
        #expect(rows.first?.hasPrefix("TIME") == true && rows.count == 2, "\(table.stdout)")
        #expect(rows.last?.contains("supervisor") == true && rows.last?.contains("process.started") == true)
        await daemon.stop()
    }

    @Test func malformedArgumentsAreRefusedNamingTheFlag() throws {
        let directory = try TemporaryDirectory()
        let socket = directory.path + "/control.sock"
        for (arguments, flag) in [
            (["--since", "yesterday"], "--since"), (["--since", "2026-12-05T10:00:00"], "--since"),
            (["--type", "a*b"], "--type"), (["--limit", "0"], "--limit"),
        ] {
            let result = try runProcess(
                TestPaths.binary("autonousctl"), ["events", "--socket", socket] + arguments, environment: [:])
            #expect(result.status == 64, "\(arguments): \(result)")
            #expect(result.stderr.contains(flag), "\(arguments): \(result.stderr)")
        }
        let since = try runProcess(
            TestPaths.binary("autonousctl"), ["events", "--socket", socket, "--since", "soon"], environment: [:])
        #expect(since.stderr.contains("2026-12-05T10:00:00Z"), "\(since.stderr)")
        // A type that matches nothing known is refused before connecting, naming the close ones.
        let typo = try runProcess(
            TestPaths.binary("autonousctl"), ["events", "--socket", socket, "--type", "worker.redy"], environment: [:])
        #expect(typo.status == 64 && typo.stderr.contains("worker.ready"), "\(typo)")
    }

    /// The server refuses what the CLI would not send, as InvalidValue naming the parameter.
    @Test func getEventsValidatesItsParameters() async throws {
        let daemon = try Daemon(telegram: false)
        #expect(await daemon.waitUntilReady() != nil)
        let client = try VarlinkClient(path: daemon.controlSocket)
        defer { client.close() }
        for (request, parameter) in [
            (ControlInterface.GetEventsRequest(limit: 10_001), "limit"),
            (ControlInterface.GetEventsRequest(types: ["worker ready"]), "types"),
            (ControlInterface.GetEventsRequest(runId: ""), "runId"),
        ] {
            #expect {
                _ = try client.call("io.autonous.Control.GetEvents", request, as: ControlInterface.EventsPage.self)
            } throws: { error in
                let error = error as? VarlinkError
                return error?.name == "io.autonous.Control.InvalidValue"
                    && error?.parameters["parameter"] == .string(parameter)
            }
        }
        let page = try client.call(
            "io.autonous.Control.GetEvents", ControlInterface.GetEventsRequest(limit: 1),
            as: ControlInterface.EventsPage.self)
        #expect(page.events.count == 1)
        #expect(page.cursor.supervisor > 0)
        await daemon.stop()
    }

    /// A stream that starts from a cursor sends everything after it, page after page, without waiting for news.
    @Test(.timeLimit(.minutes(1))) func aFollowFromACursorSendsEverythingAfterIt() async throws {
        let daemon = try Daemon(telegram: false)
        #expect(await daemon.waitUntilReady() != nil)
        let client = try VarlinkClient(path: daemon.controlSocket)
        defer { client.close() }
        let all = try client.call(
            "io.autonous.Control.GetEvents", ControlInterface.GetEventsRequest(limit: 10_000),
            as: ControlInterface.EventsPage.self)
        #expect(all.events.count >= 4)
        var streamed: [ControlInterface.Event] = []
        var replies = 0
        try client.stream(
            "io.autonous.Control.GetEvents", ControlInterface.GetEventsRequest(limit: 1, after: EventCursor())
        ) { parameters in
            let page = try parameters.decode(ControlInterface.EventsPage.self)
            streamed += page.events
            replies += 1
            return streamed.count < all.events.count
        }
        #expect(streamed.map(\.id) == all.events.map(\.id))
        #expect(replies == 2, "a page of one, then the rest at once")
        await daemon.stop()
    }

    /// The inotify descriptors the supervisor holds: one per follower while it follows.
    private func inotifyDescriptors(_ pid: Int32) -> Int {
        let directory = "/proc/\(pid)/fd"
        let entries = (try? FileManager.default.contentsOfDirectory(atPath: directory)) ?? []
        return entries.filter {
            (try? FileManager.default.destinationOfSymbolicLink(atPath: directory + "/" + $0)) == "anon_inode:inotify"
        }.count
    }

    /// Starts `autonousctl events --follow --json` with its output in a file.
    private func startFollower(_ daemon: Daemon, output: String) throws -> Process {
        _ = FileManager.default.createFile(atPath: output, contents: nil)
        let follower = Process()
        follower.executableURL = URL(fileURLWithPath: TestPaths.binary("autonousctl"))
        follower.arguments = ["events", "--follow", "--json", "--socket", daemon.controlSocket]
        follower.standardOutput = try FileHandle(forWritingTo: URL(fileURLWithPath: output))
        follower.standardError = FileHandle.nullDevice
        try follower.run()
        return follower
    }

    private func followed(_ path: String) throws -> [JSONValue] {
        let text = (try? String(contentsOfFile: path, encoding: .utf8)) ?? ""
        // A line still being written is left for the next look.
        return try lines(String(text[..<(text.lastIndex(of: "\n").map { text.index(after: $0) } ?? text.startIndex)]))
    }

    @Test func followStreamsNewEventsAndAFollowerThatHangsUpLeavesNothingBehind() async throws {
        let fakes = try Fakes()
        let daemon = try Daemon(fakes: fakes)
        #expect(await daemon.waitUntilReady() != nil, "\(daemon.log)")
        let supervisor = daemon.process.processIdentifier
        let directory = try TemporaryDirectory()

        for round in 1 ... 2 {
            let output = directory.path + "/follow-\(round).jsonl"
            let follower = try startFollower(daemon, output: output)
            // The first page (what was recorded before) comes first, then the stream is open.
            #expect(try await eventually(timeout: .seconds(20)) { try !followed(output).isEmpty })
            #expect(inotifyDescriptors(supervisor) == 1)
            let before = try followed(output).count
            try await fakes.sendUserMessage(from: 111, text: "message \(round)")
            let streamed = try await eventually(timeout: .seconds(30)) {
                try followed(output).dropFirst(before).contains { $0["type"] == .string("agent.completed") }
            }
            #expect(streamed, "\((try? followed(output)) ?? [])\n\(daemon.log)")
            let events = try followed(output)
            // Supervisor events stream too: nothing new there now, but every id is printed once, in time order.
            let ids = events.compactMap { $0["id"]?.intValue }
            #expect(Set(ids).count == ids.count)
            let keys = events.map { ($0["ts_ms"]?.intValue ?? -1, $0["id"]?.intValue ?? -1) }
            #expect(zip(keys, keys.dropFirst()).allSatisfy { $0 < $1 })
            #expect(
                events.dropFirst(before).contains { $0["type"] == .string("telegram.update.stored") },
                "\(events.dropFirst(before))")
            // SIGKILL: a child of the test runner may inherit a blocked SIGTERM.
            kill(follower.processIdentifier, SIGKILL)
            follower.waitUntilExit()
            // The supervisor noticed the hang-up at once: its watch on the worker's database is gone.
            #expect(await eventually(timeout: .seconds(10)) { inotifyDescriptors(supervisor) == 0 }, "\(daemon.log)")
        }
        #expect(await daemon.stop() == 0)
    }

    /// The supervisor's own appends wake a follower: here no worker ever writes (its binary is /bin/false), so
    /// the worker's database never changes and only the supervisor's log grows (each exit and restart).
    @Test func followIsWokenByTheSupervisorsOwnAppends() async throws {
        let daemon = try Daemon(telegram: false, overrides: ["AUTONOUS_WORKER_BIN": "/bin/false"])
        #expect(await eventually(timeout: .seconds(20)) { daemon.status() != nil }, "\(daemon.log)")
        let directory = try TemporaryDirectory()
        let output = directory.path + "/follow.jsonl"
        let follower = try startFollower(daemon, output: output)
        defer {
            kill(follower.processIdentifier, SIGKILL)
            follower.waitUntilExit()
        }
        #expect(try await eventually(timeout: .seconds(20)) { try !followed(output).isEmpty })
        let first = try followed(output).compactMap { $0["id"]?.intValue }.max() ?? 0
        let seen = try await eventually(timeout: .seconds(30)) {
            try followed(output).contains {
                ($0["id"]?.intValue ?? 0) > first && $0["source"] == .string("supervisor")
                    && $0["type"]?.stringValue?.hasPrefix("worker.") == true
            }
        }
        #expect(seen, "\((try? followed(output)) ?? [])\n\(daemon.log)")
        #expect(!FileManager.default.fileExists(atPath: daemon.workerDatabasePath), "\(daemon.log)")
        await daemon.stop()
    }
}

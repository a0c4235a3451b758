import AutonousCore
import Foundation
import GRDB
import Synchronization
import Testing

/// The cgroup v1 memory hierarchy is mounted here (checked once).
private let cgroupV1Memory = FileManager.default.fileExists(atPath: "/sys/fs/cgroup/memory/cgroup.procs")

/// The agent loop with tools, end to end through the fakes: the model asks for a tool call, the tool runs
/// confined to the workspace, its envelope goes back to the model, and the final answer reaches Telegram.
@Suite("Tool calls", .serialized, .timeLimit(.minutes(3)))
struct ToolCallTests {
    @Test func aReadToolCallRunsAndItsResultGoesBackToTheModel() async throws {
        let fakes = try Fakes()
        try await fakes.scriptOpenAI([
            Fakes.toolCallAnswer([
                ("call_1", "read", ["path": .string("notes.txt")]),
                ("call_2", "read", ["path": .string("../../etc/passwd")]),
            ]),
            .object(["content": .string("The notes say hello.")]),
            .object(["content": .string("They still say hello.")]),
        ])
        let daemon = try Daemon(fakes: fakes)
        #expect(await daemon.waitUntilReady() != nil, "\(daemon.log)")
        try "hello from the workspace\n".write(
            toFile: daemon.stateDirectory + "/workspace/notes.txt", atomically: true, encoding: .utf8)

        try await fakes.sendUserMessage(from: 111, text: "what do my notes say?")
        #expect(try await fakes.waitForSent(1), "\(daemon.log)")
        #expect(try await fakes.sentMessages().first?["text"] == .string("The notes say hello."))

        let requests = try await fakes.openAIRequests()
        #expect(requests.count == 2)
        guard case .array(let tools)? = requests.first?["body"]?["tools"] else {
            Issue.record("the first request offered no tools")
            return
        }
        let names = tools.compactMap { $0["function"]?["name"]?.stringValue }
        #expect(names == ["ls", "find", "grep", "read", "write", "edit", "bash", "propose_update"])
        guard case .array(let messages)? = requests.last?["body"]?["messages"] else {
            Issue.record("no messages in the second request")
            return
        }
        let toolMessages = messages.filter { $0["role"] == .string("tool") }
        #expect(toolMessages.count == 2)
        let first = try JSONDecoder().decode(
            JSONValue.self, from: Data((toolMessages[0]["content"]?.stringValue ?? "").utf8))
        #expect(first["ok"] == .bool(true))
        #expect(first["stdout"] == .string("1\thello from the workspace\n"))
        #expect(first["tier"] == .string("read"))
        #expect(toolMessages[0]["tool_call_id"] == .string("call_1"))
        let second = try JSONDecoder().decode(
            JSONValue.self, from: Data((toolMessages[1]["content"]?.stringValue ?? "").utf8))
        #expect(second["ok"] == .bool(false))
        #expect(second["stderr"] == .string("../../etc/passwd: '..' is not allowed in tool paths"))

        // The tool calls are events under the first turn, which is under the agent run.
        let events = try daemon.events()
        let started = events.filter { $0.type == "tool_call.started" }
        #expect(started.count == 2)
        let turn = try #require(events.first { $0.id == started.first?.parentID })
        #expect(turn.type == "turn.started")
        #expect(turn.payload["turn"] == .int(1))
        // Both calls are Read-tier, so they run at once and either may start first: each end is found under the
        // start of its own call.
        let readStart = try #require(started.first { $0.payload["call_id"] == .string("call_1") })
        let refusedStart = try #require(started.first { $0.payload["call_id"] == .string("call_2") })
        #expect(events.contains { $0.type == "tool_call.completed" && $0.parentID == readStart.id })
        #expect(events.contains { $0.type == "tool_call.failed" && $0.parentID == refusedStart.id })
        #expect(events.contains { $0.type == "agent.completed" && $0.payload["turns"] == .int(2) })
        let calls = try await daemon.database().pool.read { db in
            try Int.fetchOne(db, sql: "SELECT COUNT(*) FROM model_calls WHERE status = 'ok'")
        }
        #expect(calls == 2)

        // The run is one row with how it ended and what it did; the model's usage is summed into it.
        let run = try #require(
            try await daemon.database().pool.read { db in
                try Row.fetchOne(
                    db, sql: "SELECT status, stop_reason, turns, model_calls, tool_calls, input_tokens FROM runs")
            })
        #expect(run["status"] as String? == "answered")
        #expect(run["stop_reason"] as String? == "answered")
        #expect(run["turns"] as Int? == 2)
        #expect(run["model_calls"] as Int? == 2)
        #expect(run["tool_calls"] as Int? == 2)
        let reported = try await daemon.database().pool.read { db in
            try Int.fetchOne(db, sql: "SELECT SUM(input_tokens) FROM model_calls")
        }
        #expect(run["input_tokens"] as Int? == reported)

        // The next run's history has the tool turn as it happened: the assistant's calls, then each result.
        try await fakes.sendUserMessage(from: 111, text: "and now?")
        #expect(try await fakes.waitForSent(2), "\(daemon.log)")
        let next = try await fakes.openAIRequests()
        #expect(next.count == 3)
        guard case .array(let history)? = next.last?["body"]?["messages"] else {
            Issue.record("no messages in the third request")
            return
        }
        #expect(
            history.map { $0["role"]?.stringValue ?? "" }
                == ["system", "user", "assistant", "tool", "tool", "assistant", "user"])
        let calledIDs: [String] =
            if case .array(let called)? = history[2]["tool_calls"] { called.compactMap { $0["id"]?.stringValue } } else
            { [] }
        #expect(calledIDs == ["call_1", "call_2"])
        #expect(history[3]["tool_call_id"] == .string("call_1"))
        #expect(history[4]["tool_call_id"] == .string("call_2"))
        #expect(history[5]["content"] == .string("The notes say hello."))
        #expect(history[6]["content"] == .string("and now?"))
        await daemon.stop()
    }

    @Test func aBashToolCallRunsInANestedSandboxWithoutTheWorkersSecrets() async throws {
        let fakes = try Fakes()
        let script =
            "echo made > made.txt; cat made.txt; id -u; echo \"key=${OPENAI_API_KEY:-none}\"; "
            + "cat /proc/*/environ 2>/dev/null | tr '\\0' '\\n' | grep -c sk-test || true; "
            + "ls /proc | grep -c '^[0-9]'; touch /etc/x"
        try await fakes.scriptOpenAI([
            .object([
                "tool_calls": .array([
                    .object([
                        "id": .string("call_b"), "name": .string("bash"),
                        "arguments": .object(["command": .string(script), "timeout_seconds": .int(20)]),
                    ])
                ])
            ]),
            .object(["content": .string("done")]),
        ])
        let daemon = try Daemon(fakes: fakes)
        #expect(await daemon.waitUntilReady() != nil, "\(daemon.log)")
        try await fakes.sendUserMessage(from: 111, text: "run it")
        #expect(try await fakes.waitForSent(1), "\(daemon.log)")
        let requests = try await fakes.openAIRequests()
        guard case .array(let messages)? = requests.last?["body"]?["messages"],
            let content = messages.last(where: { $0["role"] == .string("tool") })?["content"]?.stringValue
        else {
            Issue.record("no tool message went back to the model")
            return
        }
        let envelope = try JSONDecoder().decode(JSONValue.self, from: Data(content.utf8))
        #expect(envelope["tier"] == .string("exec"))
        #expect(envelope["exit_code"] == .int(1), "touch /etc/x must fail: \(envelope)")
        let lines = (envelope["stdout"]?.stringValue ?? "").split(separator: "\n").map(String.init)
        #expect(lines.count == 5, "\(envelope)")
        if lines.count == 5 {
            #expect(lines[0] == "made")
            #expect(lines[2] == "key=none", "the worker's secret reached the tool")
            #expect(lines[3] == "0", "a process environment inside holds the API key")
            #expect((Int(lines[4]) ?? 99) <= 4, "the tool sees \(lines[4]) processes")
        }
        #expect(envelope["stderr"]?.stringValue?.contains("Read-only file system") == true)
        // The file exists on the host, in the workspace, owned by the worker's unprivileged uid.
        var info = stat()
        #expect(stat(daemon.stateDirectory + "/workspace/made.txt", &info) == 0)
        #expect(info.st_uid == 65534)
        await daemon.stop()
    }

    /// The worker's own cgroup is delegated to it (cgroup v1 here), so each bash call's sandbox gets a cgroup of its
    /// own inside the worker's, with the exec profile's limits: tools are bounded by a cgroup, not only by rlimits,
    /// and the worker's limits bound them all. The nested cgroup is gone once the call is.
    @Test(.enabled(if: cgroupV1Memory, "needs the cgroup v1 memory hierarchy (the v1 test machine)"))
    func aBashToolCallGetsItsOwnCgroupInsideTheWorkers() async throws {
        let fakes = try Fakes()
        try await fakes.scriptOpenAI([
            .object([
                "tool_calls": .array([
                    .object([
                        "id": .string("call_s"), "name": .string("bash"),
                        "arguments": .object(["command": .string("echo started; sleep 4; echo done")]),
                    ])
                ])
            ]),
            .object(["content": .string("slept")]),
        ])
        let daemon = try Daemon(fakes: fakes, overrides: ["AUTONOUS_WORKER_STOP_TIMEOUT": "60s"])
        let worker = try #require(await daemon.waitUntilReady()?.worker.pid, "\(daemon.log)")
        let memoryRoot = "/sys/fs/cgroup/memory/autonous"
        try #require(
            FileManager.default.fileExists(atPath: memoryRoot),
            "the supervisor made no cgroup at \(memoryRoot) although the v1 memory hierarchy is mounted")
        // The worker's leaf: the cgroup of the sandbox's pid 1, the launcher's child (the launcher stays outside).
        let pid1 = CgroupTree.value("/proc/\(worker)/task/\(worker)/children")?.split(separator: " ").first
        let workerCgroup = pid1.flatMap { CgroupTree.value("/proc/\($0)/cgroup") }?
            .split(separator: "\n").first { $0.contains(":memory:") }?.split(separator: ":").last.map(String.init)
        let leaf = "/sys/fs/cgroup/memory" + (workerCgroup ?? "/missing")
        #expect(leaf.hasPrefix("/sys/fs/cgroup/memory/autonous/sandbox-"), "\(leaf)")
        try await fakes.sendUserMessage(from: 111, text: "sleep a bit")
        // Sampled on a thread of its own, while the tool's 4 s sleep runs: the limits are read the moment the
        // cgroup is seen, since it goes (or empties) with the call.
        let seen = Mutex<(path: String, memory: String?, pids: String?)?>(nil)
        _ = await eventuallyOnOwnThread(timeout: .seconds(30)) {
            guard
                let path = CgroupTree.leaves(under: leaf).first(where: {
                    let below = $0.dropFirst(leaf.count)
                    return (below.contains("/slot-") || below.contains("/sandbox-"))
                        && !(CgroupTree.value($0 + "/cgroup.procs") ?? "").isEmpty
                })
            else { return false }
            let pidsLeaf = path.replacingOccurrences(of: "/sys/fs/cgroup/memory/", with: "/sys/fs/cgroup/pids/")
            seen.withLock {
                $0 = (path, CgroupTree.value(path + "/memory.limit_in_bytes"), CgroupTree.value(pidsLeaf + "/pids.max"))
            }
            return true
        }
        let nested = try #require(seen.withLock { $0 }, "no cgroup appeared under the worker's \(leaf)\n\(daemon.log)")
        let tool = nested.path
        #expect(nested.memory == "1073741824")
        #expect(nested.pids == "256")
        #expect(try await fakes.waitForSent(1), "\(daemon.log)")
        #expect(try await fakes.sentMessages().first?["text"] == .string("slept"))
        // The tool's cgroup is removed, or kept empty for the next tool when it is a slot.
        #expect(
            (CgroupTree.value(tool + "/cgroup.procs") ?? "").isEmpty, "a process of the tool outlived it in \(tool)")
        #expect(tool.contains("/slot-") || !FileManager.default.fileExists(atPath: tool), "\(tool) outlived the tool")
        _ = await daemon.stop(timeout: .seconds(90))
        // The worker's launcher removes the delegated subtree (the nested launchers' parent) with the leaf. (The
        // stop timeout is long here: a launcher killed at the timeout leaves its leaf to the next launch's sweep.)
        let removed = await eventually(timeout: .seconds(10)) { !FileManager.default.fileExists(atPath: leaf) }
        #expect(removed, "the worker's cgroup outlived it")
    }
}

/// Reading the host's cgroup v1 tree.
enum CgroupTree {
    /// Every directory under `directory` (recursively).
    static func leaves(under directory: String) -> [String] {
        guard let walker = FileManager.default.enumerator(atPath: directory) else { return [] }
        var found: [String] = []
        while let entry = walker.nextObject() as? String {
            var isDirectory: ObjCBool = false
            if FileManager.default.fileExists(atPath: directory + "/" + entry, isDirectory: &isDirectory),
                isDirectory.boolValue
            {
                found.append(directory + "/" + entry)
            }
        }
        return found
    }

    /// A cgroup file's value without its newline.
    static func value(_ path: String) -> String? {
        (try? String(contentsOfFile: path, encoding: .utf8))?.trimmingCharacters(in: .whitespacesAndNewlines)
    }
}

import AutonousCore
import Foundation
import Testing

/// control.sock: status and local chat through autonousctl, and interoperability with varlink clients not ours.
@Suite("Control socket", .serialized, .timeLimit(.minutes(5)))
struct ControlSocketTests {
    @Test func aThirdPartyVarlinkLibraryCallsGetStatus() async throws {
        let daemon = try Daemon(telegram: false)
        #expect(await daemon.waitUntilReady() != nil, "\(daemon.log)")
        let result = try runProcess(
            "/usr/bin/env", ["python3", TestPaths.fixture("varlink_client.py"), daemon.controlSocket, "library"],
            environment: ["PATH": ProcessInfo.processInfo.environment["PATH"] ?? "/usr/bin:/bin"])
        #expect(result.status == 0, "python varlink client failed: \(result.stderr)")
        let reply = try JSONDecoder().decode(JSONValue.self, from: Data(result.stdout.utf8))
        #expect(reply["status"]?["worker"]?["state"] == .string("ready"))
        #expect(reply["status"]?["model"]?["configured"] == .bool(false))
        #expect(reply["status"]?["telegram"]?["enabled"] == .bool(false))
        #expect(reply["interfaces"] == .array([.string("org.varlink.service"), .string("io.autonous.Control")]))
        await daemon.stop()
    }

    @Test func rawVarlinkBytesGetIntrospectionStatusAndPreciseErrors() async throws {
        let daemon = try Daemon(telegram: false)
        #expect(await daemon.waitUntilReady() != nil)
        let result = try runProcess(
            "/usr/bin/env", ["python3", TestPaths.fixture("varlink_client.py"), daemon.controlSocket, "raw"],
            environment: ["PATH": "/usr/local/bin:/usr/bin:/bin"])
        #expect(result.status == 0, "\(result.stderr)")
        let reply = try JSONDecoder().decode(JSONValue.self, from: Data(result.stdout.utf8))
        #expect(reply["info"]?["parameters"]?["product"] == .string("autonous-supervisord"))
        let description = reply["description"]?["parameters"]?["description"]?.stringValue ?? ""
        #expect(description.contains("interface io.autonous.Control"))
        #expect(description.contains("method GetStatus()"))
        #expect(reply["status"]?["parameters"]?["supervisor"]?["state"] == .string("running"))
        #expect(reply["unknown"]?["error"] == .string("org.varlink.service.MethodNotFound"))
        #expect(reply["unknown"]?["parameters"]?["method"] == .string("io.autonous.Control.Explode"))
        #expect(reply["unknownInterface"]?["error"] == .string("org.varlink.service.InterfaceNotFound"))
        #expect(reply["badParameter"]?["error"] == .string("org.varlink.service.InvalidParameter"))
        #expect(reply["badParameter"]?["parameters"]?["parameter"] == .string("text"))
        await daemon.stop()
    }

    @Test func localChatWithoutAModelAnswersWithTheSetupSentence() async throws {
        let daemon = try Daemon(telegram: false)
        #expect(await daemon.waitUntilReady() != nil)
        let chat = try daemon.autonousctl(["chat", "hello", "there"])
        #expect(chat.status == 0, "\(chat.stderr)")
        #expect(chat.stdout.trimmingCharacters(in: .whitespacesAndNewlines) == ModelSetupHint.sentence)
        let status = try daemon.autonousctl(["status"])
        #expect(status.status == 0)
        #expect(status.stdout.contains("not configured"))
        #expect(status.stdout.contains("OPENAI_API_KEY"))
        let json = try daemon.autonousctl(["status", "--json"])
        let decoded = try JSONDecoder().decode(ControlInterface.Status.self, from: Data(json.stdout.utf8))
        #expect(decoded.model.configured == false)
        #expect(decoded.worker.state == "ready")
        // The first start imports the worker binary as the bootstrap revision, named by its sha256.
        let bootstrap = try SHA256.hex(fileAt: TestPaths.binary("autonous-worker"))
        #expect(decoded.worker.revision == bootstrap)
        #expect(decoded.revisions?.current == bootstrap && decoded.revisions?.lastGood == bootstrap)
        #expect(decoded.revisions?.probation == nil && decoded.revisions?.degraded == nil)
        #expect(decoded.inbox == InboxCounts())
        #expect(decoded.sandbox.launcher.hasSuffix("/autonous-sandbox"))
        #expect(decoded.sandbox.limits.hasPrefix("cgroup"), "\(decoded.sandbox)")
        #expect(status.stdout.contains("sandbox"))
        await daemon.stop()
    }

    @Test func localChatReachesTheModelAndKeepsItsConversation() async throws {
        let fakes = try Fakes()
        let daemon = try Daemon(fakes: fakes, telegram: false)
        #expect(await daemon.waitUntilReady() != nil)
        let first = try daemon.autonousctl(["chat", "--conversation", "ops", "first question"])
        #expect(first.stdout == "echo: first question\n", "\(first.stderr)\n\(daemon.log)")
        let second = try daemon.autonousctl(["chat", "--conversation", "ops"], stdin: "second question\n\nthird\n")
        #expect(second.stdout == "echo: second question\necho: third\n")
        let requests = try await fakes.openAIRequests()
        guard case .array(let messages)? = requests.last?["body"]?["messages"] else {
            Issue.record("no messages")
            return
        }
        #expect(messages.count == 6)  // system + 2 exchanges + the new message
        let runs = try daemon.events("agent.started")
        #expect(runs.count == 3)
        #expect(runs.allSatisfy { $0.conversationID == "local:ops" && $0.payload["commander"] == .string("local") })
        let bad = try daemon.autonousctl(["chat", "--conversation", "no spaces allowed", "x"])
        #expect(bad.status != 0)
        #expect(bad.stderr.contains("--conversation"))
        await daemon.stop()
    }

    /// A chat caller that hangs up ends its wait in the supervisor at once: the answer that comes later finds no
    /// one waiting (the worker logs it as not delivered) instead of a waiter kept until the timeout.
    @Test func aChatCallerThatHangsUpEndsItsWaitInTheSupervisor() async throws {
        let fakes = try Fakes()
        // The model answers only when the test says so: after the caller is gone, however slow the machine.
        try await fakes.scriptOpenAI([.object(["content": .string("late answer"), "hold": .bool(true)])])
        let daemon = try Daemon(fakes: fakes, telegram: false)
        #expect(await daemon.waitUntilReady() != nil)
        let caller = Process()
        caller.executableURL = URL(fileURLWithPath: TestPaths.binary("autonousctl"))
        caller.arguments = ["chat", "--socket", daemon.controlSocket, "are you there?"]
        caller.standardOutput = FileHandle.nullDevice
        caller.standardError = FileHandle.nullDevice
        try caller.run()
        #expect(try await fakes.waitForModelRequests(1, timeout: 30), "\(daemon.log)")
        // SIGKILL: a child of the test runner may inherit a blocked SIGTERM.
        kill(caller.processIdentifier, SIGKILL)
        caller.waitUntilExit()
        let noticed = await eventually(timeout: .seconds(20)) {
            daemon.log.contains("chat caller hung up before the answer")
        }
        #expect(noticed, "\(daemon.log)")
        try await fakes.releaseHeldModelAnswer()
        let dropped = await eventually(timeout: .seconds(20)) { daemon.log.contains("chat answer not delivered") }
        #expect(dropped, "\(daemon.log)")
        #expect(daemon.log.contains("UnknownChat"), "\(daemon.log)")
        await daemon.stop()
    }

    @Test func statusWithoutADaemonSaysWhatToCheck() throws {
        let directory = try TemporaryDirectory()
        let result = try runProcess(
            TestPaths.binary("autonousctl"), ["status", "--socket", directory.path + "/control.sock"], environment: [:])
        #expect(result.status != 0)
        #expect(result.stderr.contains("is the supervisor running?"))
    }

    @Test func controlSocketRefusesUsersOutsideTheAdminGroup() async throws {
        let daemon = try Daemon(telegram: false)
        #expect(await daemon.waitUntilReady() != nil)
        var info = stat()
        #expect(stat(daemon.controlSocket, &info) == 0)
        #expect(info.st_mode & 0o777 == 0o660)
        #expect(stat(daemon.runtimeDirectory + "/worker.sock", &info) == 0)
        #expect(info.st_mode & 0o777 == 0o600)
        // Make the socket reachable, so the refusal comes from SO_PEERCRED and not from file permissions.
        #expect(chmod(daemon.runtimeDirectory, 0o755) == 0)
        #expect(chmod(daemon.controlSocket, 0o666) == 0)
        #expect(chmod(daemon.directory.path, 0o755) == 0)
        let result = try runProcess(
            "/usr/bin/setpriv",
            [
                "--reuid=65534", "--regid=65534", "--clear-groups", TestPaths.binary("autonousctl"), "status",
                "--socket",
                daemon.controlSocket,
            ],
            environment: [:])
        #expect(result.status != 0)
        #expect(result.stderr.contains("permission denied"), "\(result.stderr)")
        await daemon.stop()
    }
}

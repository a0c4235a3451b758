import AutonousCore
import Foundation
import Testing

/// The self-update pipeline end to end, on a small source repository whose "worker" is the misbehaving-worker
/// fixture (healthy) and whose build and test commands take a moment: proposals over worker.sock (the fixture
/// relays `/propose` chats as the real worker's tool does), the build and tests in the build sandbox, the
/// self-check, staging, the decision over control.sock, the deploy through probation.
@Suite("Self-update", .serialized)
struct SelfUpdateTests {
    /// Installs the fixture worker as the build's output; the tests pass while tests/expect says pass.
    static let buildCommand = "install -m 0755 worker.py \"$AUTONOUS_BUILD_OUTPUT\""
    static let testCommand =
        "test \"$(cat tests/expect)\" = pass && echo 'Executed 3 tests, with 0 failures (0 unexpected) in 0.01 seconds'"

    /// A source repository: worker.py (the healthy fixture) and tests/expect, one commit.
    struct Source {
        let directory: TemporaryDirectory
        var path: String { directory.path + "/autonous" }
        var worker: String { path + "/worker.py" }

        init() throws {
            directory = try TemporaryDirectory()
            try FileManager.default.createDirectory(atPath: path + "/tests", withIntermediateDirectories: true)
            let text = try String(contentsOfFile: TestPaths.fixture("misbehaving-worker.py"), encoding: .utf8)
            try text.write(toFile: worker, atomically: true, encoding: .utf8)
            chmod(worker, 0o755)
            try "pass\n".write(toFile: path + "/tests/expect", atomically: true, encoding: .utf8)
            try git(["init", "-q"])
            try git(["add", "-A"])
            try git(["-c", "user.name=test", "-c", "user.email=test@localhost", "commit", "-qm", "initial"])
        }

        @discardableResult
        func git(_ arguments: [String]) throws -> String {
            let result = try runProcess(
                "/usr/bin/git", ["-C", path] + arguments,
                environment: ["PATH": "/usr/bin:/bin", "HOME": directory.path, "GIT_CONFIG_NOSYSTEM": "1"])
            guard result.status == 0 else { throw TestFailure("git \(arguments): \(result.stderr)") }
            return result.stdout
        }

        /// The diff that replaces `old` with `new` in `file`, leaving the checkout as it was.
        func patch(_ file: String, replacing old: String, with new: String) throws -> String {
            let target = path + "/" + file
            let text = try String(contentsOfFile: target, encoding: .utf8)
            try text.replacingOccurrences(of: old, with: new).write(toFile: target, atomically: true, encoding: .utf8)
            defer { _ = try? git(["checkout", "--", file]) }
            return try git(["diff", "--binary"])
        }
    }

    struct TestFailure: Error, CustomStringConvertible {
        let description: String
        init(_ description: String) { self.description = description }
    }

    static func start(
        _ source: Source, buildCommand: String = buildCommand, telegramAdmins: Bool = false,
        extra: [String: String?] = [:]
    ) throws -> Daemon {
        var overrides = RevisionTests.overrides
        overrides["AUTONOUS_WORKER_BIN"] = source.worker
        overrides["AUTONOUS_SOURCE_REPO"] = source.path
        overrides["AUTONOUS_UPDATE_BUILD_COMMAND"] = buildCommand
        overrides["AUTONOUS_UPDATE_TEST_COMMAND"] = testCommand
        if telegramAdmins {
            // Telegram button presses are relayed by the fixture worker (/decide), as the real one relays them.
            overrides["AUTONOUS_TELEGRAM_ALLOWED_USERS"] = "111,222"
        } else {
            // No Telegram here (the fixture worker polls nothing): decisions come from the shell.
            overrides["AUTONOUS_TELEGRAM_ADMINS"] = .some(nil)
            overrides["AUTONOUS_UPDATE_APPROVAL"] = "shell"
        }
        for (key, value) in extra { overrides[key] = value }
        return try Daemon(telegram: false, overrides: overrides)
    }

    /// A call on control.sock from a thread of its own (the client blocks).
    static func control<Parameters: Encodable & Sendable, Reply: Decodable & Sendable>(
        _ daemon: Daemon, _ method: String, _ parameters: Parameters, as: Reply.Type
    ) async throws -> Reply {
        let socket = daemon.controlSocket
        return try await withCheckedThrowingContinuation { continuation in
            Thread {
                do {
                    let client = try VarlinkClient(path: socket)
                    defer { client.close() }
                    continuation.resume(
                        returning: try client.call("io.autonous.Control." + method, parameters, as: Reply.self))
                } catch {
                    continuation.resume(throwing: error)
                }
            }.start()
        }
    }

    /// Chats through the control socket: the fixture worker relays `/propose` and answers with JSON.
    static func chat(_ daemon: Daemon, _ text: String) async throws -> String {
        try await control(
            daemon, "Chat", ControlInterface.ChatRequest(text: text, conversation: nil),
            as: ControlInterface.ChatResponse.self
        ).reply
    }

    static func propose(_ daemon: Daemon, patch: String, summary: String, by proposer: String = "local") async throws
        -> JSONValue
    {
        let request = try JSONValue.encode([
            "patch": patch, "summary": summary, "title": summary, "requestedBy": proposer,
        ]).jsonText
        let reply = try await chat(daemon, "/propose " + request)
        return try JSONDecoder().decode(JSONValue.self, from: Data(reply.utf8))
    }

    static func transaction(_ daemon: Daemon, _ id: String) async throws -> ControlInterface.TransactionDetail {
        try await control(
            daemon, "GetTransaction", ControlInterface.GetTransactionRequest(id: id),
            as: ControlInterface.TransactionDetail.self)
    }

    /// Waits until transaction `id` is in one of `states`; returns it as it is then.
    static func wait(
        _ daemon: Daemon, _ id: String, for states: Set<String>, timeout: Duration = .seconds(120)
    ) async throws -> ControlInterface.TransactionDetail {
        var last: ControlInterface.TransactionDetail?
        _ = await eventually(timeout: timeout) {
            // control.sock refuses while a restarted supervisor starts.
            guard let now = try? await transaction(daemon, id) else { return false }
            last = now
            return states.contains(now.transaction.state)
        }
        return try #require(last)
    }

    @Test func aProposalIsBuiltTestedStagedApprovedAndPromoted() async throws {
        let source = try Source()
        let daemon = try Self.start(source)
        let ready = try #require(await daemon.waitUntilReady(), "\(daemon.log)")
        let bootstrap = try SHA256.hex(fileAt: source.worker)
        #expect(ready.revisions?.current == bootstrap)
        let head = try source.git(["rev-parse", "HEAD"]).trimmingCharacters(in: .whitespacesAndNewlines)
        let revisions = try await Self.control(
            daemon, "ListRevisions", NoParameters(), as: ControlInterface.RevisionList.self)
        #expect(revisions.revisions.first?.gitCommit == head, "the bootstrap manifest names the source commit")

        let patch = try source.patch(
            "worker.py", replacing: "REPLY_PREFIX = \"fake worker\"", with: "REPLY_PREFIX = \"fake worker v2\"")
        let proposed = try await Self.propose(daemon, patch: patch, summary: "answer as v2")
        let id = try #require(proposed["tx"]?.stringValue, "\(proposed)\n\(daemon.log)")
        #expect(proposed["state"] == .string("created"))

        let staged = try await Self.wait(
            daemon, id, for: ["staged", "build_failed", "test_failed", "self_check_failed"])
        let transaction = staged.transaction
        #expect(transaction.state == "staged", "\(staged)\n\(daemon.log)")
        #expect(transaction.testsPassed == 3 && transaction.testsFailed == 0)
        #expect(transaction.diffstat?.contains("worker.py") == true)
        #expect(transaction.baseCommit == head && transaction.baseRevision == bootstrap)
        let artifact = try #require(transaction.artifactSha256)
        #expect(transaction.expiresMs != nil)
        #expect(
            staged.steps.map(\.to) == ["created", "building", "testing", "self_checking", "staged"], "\(staged.steps)")
        // The commit is the supervisor's, in its own repository, by autonous.
        let commit = try #require(transaction.commit)
        let author = try runProcess(
            "/usr/bin/git", ["--git-dir=" + daemon.stateDirectory + "/src", "log", "-1", "--format=%an %s", commit],
            environment: ["PATH": "/usr/bin:/bin", "HOME": "/nonexistent"])
        #expect(author.stdout.trimmingCharacters(in: .whitespacesAndNewlines) == "autonous answer as v2")
        // The admins were told (through the worker's "admins" notice).
        let told = try await eventually(timeout: .seconds(20)) {
            daemon.log.contains("Self-update \(id) is staged")
        }
        #expect(told, "\(daemon.log)")

        // A decision naming another artifact is refused and changes nothing.
        await #expect(throws: VarlinkError.self) {
            _ = try await Self.control(
                daemon, "DecideUpdate", ControlInterface.DecideUpdateRequest(id: id, approve: true, sha256: bootstrap),
                as: ControlInterface.DecideUpdateResponse.self)
        }
        #expect(try await Self.transaction(daemon, id).transaction.state == "staged")

        // The shell sees it among the approvals and approves it, naming the artifact it was shown.
        let approvals = try await RevisionTests.autonousctl(daemon, ["approvals", "--json"])
        #expect(approvals.stdout.contains(id) && approvals.stdout.contains(artifact), "\(approvals)")
        let approved = try await RevisionTests.autonousctl(daemon, ["approve", id])
        #expect(approved.status == 0, "\(approved)")
        #expect(approved.stdout.contains("approved \(id)"), "\(approved)")
        // Approving twice names the state it is in.
        let again = try await RevisionTests.autonousctl(daemon, ["approve", id])
        #expect(again.status == 1 && again.stderr.contains("refused"), "\(again)")
        let promoted = try await Self.wait(daemon, id, for: ["promoted", "reverted", "deploy_failed"])
        #expect(promoted.transaction.state == "promoted", "\(promoted)\n\(daemon.log)")
        let status = try #require(await daemon.waitUntilReady())
        #expect(status.revisions?.current == artifact && status.revisions?.lastGood == artifact)
        #expect(try await Self.chat(daemon, "hello") == "fake worker v2: hello")

        // A rollback brings the old answer back, and the transaction says it was rolled back.
        let rolledBack = try await RevisionTests.autonousctl(daemon, ["rollback"])
        #expect(rolledBack.status == 0, "\(rolledBack)")
        let after = try await Self.wait(daemon, id, for: ["rolled_back"], timeout: .seconds(30))
        #expect(after.transaction.reason?.contains("rolled back by") == true, "\(after.transaction)")
        let back = try await eventually(timeout: .seconds(30)) {
            let status = await daemon.waitUntilReady()
            guard status?.worker.revision == bootstrap else { return false }
            return (try? await Self.chat(daemon, "hello")) == "fake worker: hello"
        }
        #expect(back, "\(daemon.log)")
        await daemon.stop()
    }

    @Test func aPatchWhoseTestsFailEndsTestFailedAndNothingIsDeployed() async throws {
        let source = try Source()
        let daemon = try Self.start(source)
        let ready = try #require(await daemon.waitUntilReady(), "\(daemon.log)")
        let patch = try source.patch("tests/expect", replacing: "pass", with: "fail")
        let proposed = try await Self.propose(daemon, patch: patch, summary: "break the tests")
        let id = try #require(proposed["tx"]?.stringValue, "\(proposed)")
        let ended = try await Self.wait(daemon, id, for: ["staged", "build_failed", "test_failed"])
        #expect(ended.transaction.state == "test_failed", "\(ended)\n\(daemon.log)")
        #expect(ended.transaction.artifactSha256 == nil)
        #expect(ended.transaction.reason?.contains("exited with status 1") == true, "\(ended.transaction)")
        let revisions = try await Self.control(
            daemon, "ListRevisions", NoParameters(), as: ControlInterface.RevisionList.self)
        #expect(revisions.revisions.count == 1, "nothing was imported: \(revisions)")
        #expect(await daemon.waitUntilReady()?.revisions?.current == ready.revisions?.current)
        await daemon.stop()
    }

    @Test func anApprovedUpdateWhoseWorkerExitsIsRevertedAutomatically() async throws {
        let source = try Source()
        let daemon = try Self.start(source)
        let ready = try #require(await daemon.waitUntilReady(), "\(daemon.log)")
        let bootstrap = try #require(ready.revisions?.current)
        let patch = try source.patch(
            "worker.py", replacing: "\nMODE = \"healthy\"\n", with: "\nMODE = \"exit-at-once\"\n")
        let proposed = try await Self.propose(daemon, patch: patch, summary: "a worker that exits at once")
        let id = try #require(proposed["tx"]?.stringValue, "\(proposed)")
        let staged = try await Self.wait(
            daemon, id, for: ["staged", "build_failed", "test_failed", "self_check_failed"])
        let artifact = try #require(staged.transaction.artifactSha256, "\(staged)\n\(daemon.log)")
        _ = try await Self.control(
            daemon, "DecideUpdate", ControlInterface.DecideUpdateRequest(id: id, approve: true, sha256: artifact),
            as: ControlInterface.DecideUpdateResponse.self)
        let ended = try await Self.wait(daemon, id, for: ["promoted", "reverted", "deploy_failed"])
        #expect(ended.transaction.state == "reverted", "\(ended)\n\(daemon.log)")
        #expect(
            ended.steps.suffix(4).map(\.to) == ["approved", "deploying", "probation", "reverted"], "\(ended.steps)")
        let status = try #require(await daemon.waitUntilReady())
        #expect(status.revisions?.current == bootstrap && status.revisions?.lastGood == bootstrap)
        #expect(try await Self.chat(daemon, "still there?") == "fake worker: still there?")
        await daemon.stop()
    }

    @Test func aRestartDuringTheBuildEndsItBuildFailedAsInterrupted() async throws {
        let source = try Source()
        let daemon = try Self.start(
            source, buildCommand: "touch \"$AUTONOUS_BUILD_CACHE/started\"; sleep 317")
        #expect(await daemon.waitUntilReady() != nil, "\(daemon.log)")
        let patch = try source.patch("tests/expect", replacing: "pass", with: "pass too")
        let proposed = try await Self.propose(daemon, patch: patch, summary: "a long build")
        let id = try #require(proposed["tx"]?.stringValue, "\(proposed)")
        let started = daemon.stateDirectory + "/build-cache/started"
        #expect(await eventually(timeout: .seconds(30)) { FileManager.default.fileExists(atPath: started) })
        #expect(try await Self.transaction(daemon, id).transaction.state == "building")
        try daemon.killAndRestart()
        let ended = try await Self.wait(daemon, id, for: ["build_failed"], timeout: .seconds(60))
        #expect(ended.transaction.reason == "interrupted: the supervisor restarted", "\(ended.transaction)")
        // The build dies with the supervisor that ran it (the launcher's parent-death signal ends its sandbox).
        var left = ""
        let gone = await eventually(timeout: .seconds(15)) {
            left =
                (try? runProcess("/usr/bin/pgrep", ["-f", "^sleep 317$"], environment: ["PATH": "/usr/bin:/bin"]))?
                .stdout ?? ""
            return left.isEmpty
        }
        #expect(gone, "a build process outlived its supervisor: \(left)")
        await daemon.stop()
    }

    /// Stages the v2 patch and returns its transaction id and artifact.
    static func stageV2(_ daemon: Daemon, _ source: Source, by proposer: String = "local") async throws
        -> (id: String, artifact: String)
    {
        let patch = try source.patch(
            "worker.py", replacing: "REPLY_PREFIX = \"fake worker\"", with: "REPLY_PREFIX = \"fake worker v2\"")
        let proposed = try await propose(daemon, patch: patch, summary: "answer as v2", by: proposer)
        let id = try #require(proposed["tx"]?.stringValue, "\(proposed)\n\(daemon.log)")
        let staged = try await wait(daemon, id, for: ["staged", "build_failed", "test_failed", "self_check_failed"])
        let artifact = try #require(staged.transaction.artifactSha256, "\(staged)\n\(daemon.log)")
        return (id, artifact)
    }

    /// A Telegram button press relayed by the running (fixture) worker; the reply or the error, as JSON.
    static func press(_ daemon: Daemon, _ id: String, _ sha256: String, _ verdict: String, by user: Int) async throws
        -> JSONValue
    {
        let reply = try await chat(daemon, "/decide \(id) \(sha256) \(verdict) \(user)")
        return try JSONDecoder().decode(JSONValue.self, from: Data(reply.utf8))
    }

    @Test func telegramDecisionsAreCheckedByTheSupervisor() async throws {
        let source = try Source()
        let daemon = try Self.start(source, telegramAdmins: true)
        let ready = try #require(await daemon.waitUntilReady(), "\(daemon.log)")
        let bootstrap = try #require(ready.revisions?.current)
        // Proposed for user 222 (allowed, not an admin), who hears how it goes.
        let (id, artifact) = try await Self.stageV2(daemon, source, by: "telegram:222")
        // The admins got the message with the buttons naming the transaction and its artifact.
        let buttons = try await eventually(timeout: .seconds(20)) {
            daemon.log.contains("[buttons for \(id) \(artifact)]")
        }
        #expect(buttons, "\(daemon.log)")

        let stranger = try await Self.press(daemon, id, artifact, "approve", by: 222)
        #expect(stranger["error"] == .string("io.autonous.Worker.UpdateDecisionRefused"), "\(stranger)")
        #expect(stranger["parameters"]?["message"]?.stringValue?.contains("not in AUTONOUS_TELEGRAM_ADMINS") == true)
        let otherArtifact = try await Self.press(daemon, id, bootstrap, "approve", by: 111)
        #expect(otherArtifact["parameters"]?["message"]?.stringValue?.contains("decide on the artifact shown") == true)
        #expect(try await Self.transaction(daemon, id).transaction.state == "staged")
        let refused = try daemon.events("update.decision_refused")
        #expect(refused.count == 2, "\(refused)")

        let rejected = try await Self.press(daemon, id, artifact, "reject", by: 111)
        #expect(rejected["state"] == .string("rejected"), "\(rejected)")
        let again = try await Self.press(daemon, id, artifact, "approve", by: 111)
        #expect(again["parameters"]?["message"]?.stringValue?.contains(id) == true, "\(again)")
        let detail = try await Self.transaction(daemon, id)
        #expect(detail.transaction.state == "rejected")
        #expect(detail.steps.last?.reason == "rejected by telegram:111", "\(detail.steps)")
        let told = await eventually(timeout: .seconds(20)) {
            daemon.log.contains("tell notice for telegram:222: \"Your self-update \(id) (answer as v2) was rejected")
        }
        #expect(told, "\(daemon.log)")
        #expect(daemon.log.contains("tell notice for telegram:222: \"Your self-update \(id) (answer as v2) was built"))
        #expect(await daemon.waitUntilReady()?.revisions?.current == bootstrap)
        await daemon.stop()
    }

    @Test func anApprovalAfterTheDeadlineIsRefusedAndTheUpdateExpires() async throws {
        let source = try Source()
        let daemon = try Self.start(source, telegramAdmins: true, extra: ["AUTONOUS_UPDATE_APPROVAL_TTL": "60s"])
        #expect(await daemon.waitUntilReady() != nil, "\(daemon.log)")
        let (id, artifact) = try await Self.stageV2(daemon, source)
        let expiresMs = try #require(try await Self.transaction(daemon, id).transaction.expiresMs)
        // The shortest deadline there is (one minute): wait it out.
        let wait = max(0, expiresMs - Int64(Date().timeIntervalSince1970 * 1000)) + 500
        try await Task.sleep(for: .milliseconds(wait))
        let late = try await Self.press(daemon, id, artifact, "approve", by: 111)
        #expect(late["parameters"]?["message"]?.stringValue?.contains("expired") == true, "\(late)")
        #expect(try await Self.transaction(daemon, id).transaction.state == "expired")
        await daemon.stop()
    }

    @Test func aDecisionRelayedByARevisionOnProbationIsRefused() async throws {
        let source = try Source()
        let daemon = try Self.start(source, telegramAdmins: true, extra: ["AUTONOUS_PROBATION": "120s"])
        #expect(await daemon.waitUntilReady() != nil, "\(daemon.log)")
        let (id, artifact) = try await Self.stageV2(daemon, source)
        // Another revision (the same worker under another sha256) goes on probation and runs.
        let files = try TemporaryDirectory()
        let other = files.path + "/worker-other.py"
        try (try String(contentsOfFile: source.worker, encoding: .utf8) + "# another revision\n")
            .write(toFile: other, atomically: true, encoding: .utf8)
        chmod(other, 0o755)
        let deployed = try await RevisionTests.autonousctl(daemon, ["deploy", other])
        #expect(deployed.status == 0, "\(deployed)")
        let onProbation = try await eventually(timeout: .seconds(30)) {
            let status = await daemon.waitUntilReady()
            // The new revision's own worker is the one that runs and answers (not the last-good one still
            // stopping, which may relay decisions).
            guard let probation = status?.revisions?.probation?.revision else { return false }
            return status?.worker.state == "ready" && status?.worker.revision == probation
        }
        #expect(onProbation, "\(daemon.log)")
        let relayed = try await Self.press(daemon, id, artifact, "approve", by: 111)
        #expect(
            relayed["parameters"]?["message"]?.stringValue?.contains("which is on probation") == true,
            "\(relayed)\n\(daemon.log)")
        #expect(try await Self.transaction(daemon, id).transaction.state != "approved")
        await daemon.stop()
    }

    @Test func aRestartDuringTheTestsOrTheSelfCheckEndsThemFailedAsInterrupted() async throws {
        let source = try Source()
        let daemon = try Self.start(
            source, extra: ["AUTONOUS_UPDATE_TEST_COMMAND": "touch \"$AUTONOUS_BUILD_CACHE/testing\"; sleep 317"])
        #expect(await daemon.waitUntilReady() != nil, "\(daemon.log)")
        let testing = try await Self.propose(
            daemon, patch: try source.patch("tests/expect", replacing: "pass", with: "pass too"), summary: "slow tests")
        let testingID = try #require(testing["tx"]?.stringValue, "\(testing)")
        _ = try await Self.wait(daemon, testingID, for: ["testing"], timeout: .seconds(60))
        try daemon.killAndRestart()
        let interrupted = try await Self.wait(daemon, testingID, for: ["test_failed"], timeout: .seconds(60))
        #expect(interrupted.transaction.reason == "interrupted: the supervisor restarted", "\(interrupted.transaction)")
        await daemon.stop()

        // The self-check of a worker that sleeps in it.
        let second = try Self.start(source)
        #expect(await second.waitUntilReady() != nil, "\(second.log)")
        let slow = try source.patch("worker.py", replacing: "SELF_CHECK_DELAY = 0", with: "SELF_CHECK_DELAY = 300")
        let checking = try await Self.propose(second, patch: slow, summary: "a slow self-check")
        let checkingID = try #require(checking["tx"]?.stringValue, "\(checking)")
        _ = try await Self.wait(second, checkingID, for: ["self_checking"], timeout: .seconds(60))
        try second.killAndRestart()
        let ended = try await Self.wait(second, checkingID, for: ["self_check_failed"], timeout: .seconds(60))
        #expect(ended.transaction.reason == "interrupted: the supervisor restarted", "\(ended.transaction)")
        // The self-check died with the supervisor that started it (the launcher's --die-with-parent).
        let pattern = "--self-check --scratch " + second.stateDirectory
        let gone = await eventually(timeout: .seconds(15)) {
            let found = try? runProcess(
                "/usr/bin/pgrep", ["-f", "--", pattern], environment: ["PATH": "/usr/bin:/bin"])
            return found?.stdout.isEmpty ?? false
        }
        #expect(gone, "a self-check outlived its supervisor")
        await second.stop()
    }

    @Test func aRestartDuringProbationFinishesTheDeploy() async throws {
        let source = try Source()
        let daemon = try Self.start(source, extra: ["AUTONOUS_PROBATION": "10s"])
        #expect(await daemon.waitUntilReady() != nil, "\(daemon.log)")
        let (id, artifact) = try await Self.stageV2(daemon, source)
        let approved = try await RevisionTests.autonousctl(daemon, ["approve", id])
        #expect(approved.status == 0, "\(approved)")
        _ = try await Self.wait(daemon, id, for: ["probation"], timeout: .seconds(30))
        try daemon.killAndRestart()
        // The new supervisor starts the revision's probation over and follows the transaction to its end.
        let ended = try await Self.wait(
            daemon, id, for: ["promoted", "reverted", "deploy_failed"], timeout: .seconds(90))
        #expect(ended.transaction.state == "promoted", "\(ended)\n\(daemon.log)")
        let status = try #require(await daemon.waitUntilReady())
        #expect(status.revisions?.current == artifact && status.revisions?.lastGood == artifact)
        await daemon.stop()
    }

    @Test func proposalsThatCannotBeBuiltAreRefusedWithoutATransaction() async throws {
        let source = try Source()
        let daemon = try Self.start(source)
        #expect(await daemon.waitUntilReady() != nil, "\(daemon.log)")
        let good = try source.patch("tests/expect", replacing: "pass", with: "pass again")
        let cases: [(patch: String, says: String)] = [
            ("", "the patch is empty"),
            (good.replacingOccurrences(of: "tests/expect", with: "../outside"), "outside the repository"),
            (good.replacingOccurrences(of: "tests/expect", with: ".git/config"), "git's own metadata"),
            (good.replacingOccurrences(of: "-pass", with: "-not what is there"), "does not apply"),
        ]
        for (patch, says) in cases {
            let reply = try await Self.propose(daemon, patch: patch, summary: "refused")
            #expect(reply["error"] == .string("io.autonous.Worker.UpdateRefused"), "\(reply)")
            #expect(reply["parameters"]?["message"]?.stringValue?.contains(says) == true, "\(says): \(reply)")
        }
        let list = try await Self.control(
            daemon, "ListTransactions", ControlInterface.ListTransactionsRequest(limit: nil),
            as: ControlInterface.TransactionList.self)
        #expect(list.transactions.isEmpty, "\(list)")
        await daemon.stop()
    }
}

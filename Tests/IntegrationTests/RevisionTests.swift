import AutonousCore
import Foundation
import GRDB
import Testing

/// Worker revisions on real processes: deploys through self-check and probation, every kind of bad revision
/// reverted automatically with events that tell the story, a tampered artifact refused, rollbacks, and kill -9 of
/// the supervisor at each step of a deploy.
@Suite("Revisions") struct RevisionTests {
    /// Low thresholds, so a probation takes seconds: stuck must fire before promotion, and the last-good must be
    /// ready well within the ready timeout on a loaded machine.
    static let overrides: [String: String?] = [
        "AUTONOUS_PROBATION": "5s",
        "AUTONOUS_WORKER_READY_TIMEOUT": "5s",
        "AUTONOUS_WORKER_HEARTBEAT_TIMEOUT": "1500ms",
        "AUTONOUS_WORKER_STUCK_AFTER": "3s",
        "AUTONOUS_TELEGRAM_ADMINS": "111",
    ]

    /// A daemon with the fakes and the low thresholds, ready, and a directory for the revisions to deploy.
    static func start(_ changes: [String: String?] = [:]) async throws -> (Fakes, Daemon, TemporaryDirectory) {
        let fakes = try Fakes()
        let daemon = try Daemon(fakes: fakes, overrides: overrides.merging(changes) { _, new in new })
        #expect(await daemon.waitUntilReady() != nil, "\(daemon.log)")
        return (fakes, daemon, try TemporaryDirectory())
    }

    static var bootstrap: String {
        get throws { try SHA256.hex(fileAt: TestPaths.binary("autonous-worker")) }
    }

    /// A copy of the misbehaving worker fixture set to `mode`: a revision of its own (its own sha256).
    static func misbehaving(_ mode: String, crashAfter: Int = 10, in directory: TemporaryDirectory) throws -> String {
        var text = try String(contentsOfFile: TestPaths.fixture("misbehaving-worker.py"), encoding: .utf8)
        text = text.replacingOccurrences(of: "\nMODE = \"healthy\"\n", with: "\nMODE = \"\(mode)\"\n")
        text = text.replacingOccurrences(of: "\nCRASH_AFTER = 10\n", with: "\nCRASH_AFTER = \(crashAfter)\n")
        let path = directory.path + "/worker-\(mode).py"
        try text.write(toFile: path, atomically: true, encoding: .utf8)
        chmod(path, 0o755)
        return path
    }

    /// The real worker with one byte appended: the same program under another sha256.
    static func goodRevision(in directory: TemporaryDirectory, byte: UInt8 = 0x0a) throws -> String {
        var data = try Data(contentsOf: URL(fileURLWithPath: TestPaths.binary("autonous-worker")))
        data.append(byte)
        let path = directory.path + "/autonous-worker-\(byte)"
        try data.write(to: URL(fileURLWithPath: path))
        chmod(path, 0o755)
        return path
    }

    /// Runs autonousctl on a thread of its own: a deploy --wait blocks for seconds, and the test pool has two threads.
    static func autonousctl(_ daemon: Daemon, _ arguments: [String]) async throws -> (
        status: Int32, stdout: String, stderr: String
    ) {
        try await withCheckedThrowingContinuation { continuation in
            Thread {
                do {
                    let result = try daemon.autonousctl(arguments)
                    continuation.resume(returning: (result.status, result.stdout, result.stderr))
                } catch {
                    continuation.resume(throwing: error)
                }
            }.start()
        }
    }

    static func deploy(_ daemon: Daemon, _ path: String) async throws -> ControlInterface.DeployResponse {
        let result = try await autonousctl(daemon, ["deploy", path, "--wait", "--json"])
        return try JSONDecoder().decode(ControlInterface.DeployResponse.self, from: Data(result.stdout.utf8))
    }

    /// The bot answers a Telegram message (from user 222, not an admin) with the echo of the fake model.
    static func answers(_ fakes: Fakes, _ text: String) async throws -> Bool {
        try await fakes.sendUserMessage(from: 222, text: text)
        return try await eventually(timeout: .seconds(30)) {
            try await fakes.sentMessages().contains { $0["text"]?.stringValue == "echo: \(text)" }
        }
    }

    @Test(
        "a bad revision is reverted automatically",
        arguments: [
            ("exit-at-once", "exit"), ("exit-125", "exit"), ("never-ready", "ready_timeout"),
            ("hang-after-ready", "heartbeat_timeout"),
            ("no-poll", "stuck"), ("fail-self-check", "self_check"), ("crash-after", "exit"),
        ])
    func aBadRevisionIsRevertedAutomatically(mode: String, check: String) async throws {
        let fakes = try Fakes()
        var overrides = Self.overrides
        // It crashes 10 s after Ready: inside a probation longer than that.
        if mode == "crash-after" { overrides["AUTONOUS_PROBATION"] = "15s" }
        let daemon = try Daemon(fakes: fakes, overrides: overrides)
        #expect(await daemon.waitUntilReady() != nil, "\(daemon.log)")
        let files = try TemporaryDirectory()
        let path = try Self.misbehaving(mode, in: files)
        let bad = try SHA256.hex(fileAt: path)

        let response = try await Self.deploy(daemon, path)
        #expect(response.revision.sha256 == bad)
        #expect(response.outcome == "reverted", "\(response)\n\(daemon.log)")
        #expect(response.reason?.isEmpty == false)

        // The story: probation, then the revert naming the check that failed and the last lines it logged.
        let probation = try daemon.events("revision.probation")
        #expect(probation.contains { $0.payload["revision"] == .string(bad) })
        let reverted = try #require(try daemon.events("revision.reverted").first, "\(daemon.log)")
        #expect(reverted.payload["revision"] == .string(bad))
        #expect(reverted.payload["check"] == .string(check), "\(reverted.payload)")
        #expect(reverted.payload["current"] == .string(try Self.bootstrap))
        if mode == "fail-self-check" {
            let selfCheck = try #require(try daemon.events("revision.self_check").first)
            #expect(selfCheck.payload["passed"] == .bool(false))
            #expect(selfCheck.payload["message"]?.stringValue?.contains("deliberately failing") == true)
        } else {
            let lines = reverted.payload["last_lines"]?.jsonText ?? ""
            #expect(lines.contains("misbehaving-worker"), "\(reverted.payload)")
        }
        if mode == "exit-125" {
            // The launcher reported that the worker ran: its 125 is the revision's exit, not a sandbox failure.
            #expect(try daemon.events("worker.sandbox_failed").isEmpty, "\(daemon.log)")
            #expect(try daemon.events("worker.exited").contains { $0.payload["exit_code"] == .int(125) })
        }

        // The last-good runs again, answers, and the admin heard why.
        let status = try #require(await daemon.waitUntilReady())
        #expect(status.revisions?.current == (try Self.bootstrap))
        #expect(status.revisions?.lastGood == (try Self.bootstrap))
        #expect(status.revisions?.probation == nil)
        #expect(try await Self.answers(fakes, "still there after \(mode)?"), "\(daemon.log)")
        let told = try await eventually(timeout: .seconds(20)) {
            try await fakes.sentMessages().contains {
                $0["chat"]?["id"] == .int(111) && $0["text"]?.stringValue?.contains("reverted") == true
            }
        }
        let sent = try await fakes.sentMessages()
        #expect(told, "\(sent)")
        let list = try await Self.autonousctl(daemon, ["revisions"])
        #expect(list.stdout.contains(String(bad.prefix(12))) && list.stdout.contains("reverted"), "\(list.stdout)")
        await daemon.stop()
    }

    @Test func aGoodRevisionIsPromotedAfterProbationAndARollbackReturnsToTheOneBefore() async throws {
        let (fakes, daemon, files) = try await Self.start()
        let path = try Self.goodRevision(in: files)
        let good = try SHA256.hex(fileAt: path)

        let response = try await Self.deploy(daemon, path)
        #expect(response.outcome == "promoted", "\(response)\n\(daemon.log)")
        let status = try #require(daemon.status())
        #expect(status.revisions?.current == good && status.revisions?.lastGood == good)
        #expect(status.revisions?.previousGood == (try Self.bootstrap))
        #expect(status.worker.revision == good)
        #expect(try daemon.events("revision.promoted").contains { $0.payload["revision"] == .string(good) })
        #expect(try daemon.events("revision.self_check").first?.payload["passed"] == .bool(true))
        #expect(try await Self.answers(fakes, "new revision?"), "\(daemon.log)")

        // The artifact is read-only to everyone and carries its manifest.
        let artifact = daemon.stateDirectory + "/artifacts/" + good
        var info = stat()
        #expect(stat(artifact + "/autonous-worker", &info) == 0 && info.st_mode & 0o222 == 0)
        let manifest = try JSONDecoder().decode(
            JSONValue.self, from: Data(contentsOf: URL(fileURLWithPath: artifact + "/manifest.json")))
        #expect(manifest["sha256"] == .string(good) && manifest["source"] == .string("operator"))
        #expect(manifest["baseRevision"] == .string(try Self.bootstrap))

        // Deploying what already runs is refused with a reason.
        let again = try await Self.autonousctl(daemon, ["deploy", path])
        #expect(again.status != 0 && again.stderr.contains("already runs"), "\(again)")

        let rollback = try await Self.autonousctl(daemon, ["rollback"])
        #expect(rollback.status == 0, "\(rollback)")
        let back = try await eventually(timeout: .seconds(30)) {
            let status = daemon.status()
            return status?.worker.revision == (try Self.bootstrap) && status?.worker.state == "ready"
        }
        #expect(back, "\(daemon.log)")
        #expect(daemon.status()?.revisions?.lastGood == (try Self.bootstrap))
        let revisions = try await Self.autonousctl(daemon, ["revisions", "--json"])
        let list = try JSONDecoder().decode(ControlInterface.RevisionList.self, from: Data(revisions.stdout.utf8))
        #expect(list.revisions.first { $0.sha256 == good }?.state == "rolled_back", "\(list)")
        #expect(list.revisions.first { $0.current }?.sha256 == (try Self.bootstrap))
        await daemon.stop()
    }

    @Test func aTamperedArtifactIsRefusedAndTheLastKnownGoodKeepsServing() async throws {
        let (fakes, daemon, files) = try await Self.start()
        let good = try SHA256.hex(fileAt: try Self.goodRevision(in: files))
        #expect(try await Self.deploy(daemon, try Self.goodRevision(in: files)).outcome == "promoted", "\(daemon.log)")

        // One byte of the running revision's artifact changes (a running executable cannot be written in place, so
        // a changed copy is renamed over it); its next start must refuse it.
        let binary = daemon.stateDirectory + "/artifacts/" + good + "/autonous-worker"
        chmod(daemon.stateDirectory + "/artifacts/" + good, 0o755)
        var bytes = try Data(contentsOf: URL(fileURLWithPath: binary))
        bytes[100] ^= 0xff
        try bytes.write(to: URL(fileURLWithPath: binary + ".tampered"))
        chmod(binary + ".tampered", 0o555)
        #expect(rename(binary + ".tampered", binary) == 0)
        let pid = try #require(daemon.status()?.worker.pid)
        kill(Int32(pid), SIGKILL)

        let refused = try await eventually(timeout: .seconds(30)) {
            try daemon.events("revision.refused").contains { $0.payload["revision"] == .string(good) }
        }
        #expect(refused, "\(daemon.log)")
        let serving = try await eventually(timeout: .seconds(30)) {
            daemon.status()?.worker.revision == (try Self.bootstrap) && daemon.status()?.worker.state == "ready"
        }
        #expect(serving, "\(daemon.log)")
        #expect(daemon.status()?.revisions?.current == (try Self.bootstrap))
        #expect(try await Self.answers(fakes, "after tampering?"), "\(daemon.log)")
        await daemon.stop()
    }

    /// A worker whose sandbox the host cannot set up (here: a tool root the worker's uid may not reach, so the
    /// launcher exits 125 before the worker runs) is not the revision's fault: no revert, a degraded status with
    /// the launcher's own message, and retries with backoff.
    @Test(.enabled(if: geteuid() == 0, "the worker maps to another uid only when the supervisor runs as root"))
    func aSandboxTheHostCannotSetUpIsReportedDegradedAndNeverReverted() async throws {
        let files = try TemporaryDirectory()
        let locked = files.path + "/locked"
        try FileManager.default.createDirectory(atPath: locked + "/root", withIntermediateDirectories: true)
        chmod(files.path, 0o755)
        chmod(locked, 0o700)
        var overrides = Self.overrides
        overrides["AUTONOUS_TOOL_ROOTS"] = locked + "/root"
        overrides["AUTONOUS_TELEGRAM_ADMINS"] = nil
        let daemon = try Daemon(telegram: false, overrides: overrides)
        let degraded = try await eventually(timeout: .seconds(30)) {
            daemon.status()?.revisions?.degraded?.contains("cannot bind") == true
        }
        let status = daemon.status()
        #expect(degraded, "\(String(describing: status))\n\(daemon.log)")
        #expect(status?.revisions?.degraded?.contains("sandbox could not be set up") == true)
        #expect(status?.revisions?.current == (try Self.bootstrap))
        #expect(try daemon.events("revision.reverted").isEmpty)
        let failures = try await eventually(timeout: .seconds(20)) {
            try daemon.events("worker.sandbox_failed").count >= 2
        }
        #expect(failures, "it keeps trying\n\(daemon.log)")
        let text = try await Self.autonousctl(daemon, ["status"])
        #expect(text.stdout.contains("DEGRADED"), "\(text.stdout)")
        await daemon.stop()
    }

    /// `/rollback` from a Telegram admin: the worker relays it, the supervisor checks the sender and the target
    /// itself. A non-admin is refused and nothing changes.
    @Test func aTelegramAdminsRollbackIsCheckedAndCarriedOutByTheSupervisor() async throws {
        let (fakes, daemon, files) = try await Self.start()
        let good = try SHA256.hex(fileAt: try Self.goodRevision(in: files))
        #expect(try await Self.deploy(daemon, try Self.goodRevision(in: files)).outcome == "promoted", "\(daemon.log)")

        try await fakes.sendUserMessage(from: 222, text: "/rollback")
        let refused = try await eventually(timeout: .seconds(20)) {
            try await fakes.sentMessages().contains { $0["chat"]?["id"] == .int(222) }
        }
        #expect(refused, "\(daemon.log)")
        #expect(daemon.status()?.revisions?.current == good, "a non-admin's /rollback changed nothing")

        try await fakes.sendUserMessage(from: 111, text: "/rollback")
        let back = try await eventually(timeout: .seconds(40)) {
            daemon.status()?.worker.revision == (try Self.bootstrap) && daemon.status()?.worker.state == "ready"
        }
        #expect(back, "\(daemon.log)")
        #expect(daemon.status()?.revisions?.lastGood == (try Self.bootstrap))
        #expect(try daemon.events("revision.rolled_back").contains { $0.payload["revision"] == .string(good) })
        #expect(try await Self.answers(fakes, "after the admin's rollback"), "\(daemon.log)")
        await daemon.stop()
    }

    // MARK: - kill -9 of the supervisor

    /// The processes of this daemon's state that are neither the supervisor nor a launcher: the workers.
    static func workers(of daemon: Daemon) -> [Int32] {
        let marker = "AUTONOUS_STATE_DIR=\(daemon.stateDirectory)"
        let entries = (try? FileManager.default.contentsOfDirectory(atPath: "/proc")) ?? []
        return entries.compactMap(Int32.init).filter { pid in
            guard let environ = FileManager.default.contents(atPath: "/proc/\(pid)/environ"),
                String(decoding: environ, as: UTF8.self).split(separator: "\0").contains(Substring(marker)),
                let exe = try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/\(pid)/exe")
            else { return false }
            return !exe.hasSuffix("/autonous-sandbox") && !exe.hasSuffix("/autonous-supervisord")
        }
    }

    /// After a restart: exactly one worker, running a revision that verifies, and the symlinks name what the
    /// newest row of the revisions table says.
    static func expectConsistent(_ daemon: Daemon, running expected: String, within: Duration = .seconds(40))
        async throws
    {
        let settled = try await eventually(timeout: within) {
            let status = daemon.status()
            return status?.worker.state == "ready" && status?.worker.revision == expected
                && status?.revisions?.probation == nil && workers(of: daemon).count == 1
        }
        #expect(settled, "\(String(describing: daemon.status()))\nworkers \(workers(of: daemon))\n\(daemon.log)")
        let database = try AppDatabase.readOnly(path: daemon.supervisorDatabasePath, role: .supervisor)
        let latest = try await database.pool.read { db in
            try Row.fetchOne(
                db, sql: "SELECT current, last_good, previous_good FROM revisions ORDER BY id DESC LIMIT 1")
        }
        let row = try #require(latest)
        let artifacts = daemon.stateDirectory + "/artifacts/"
        func link(_ name: String) -> String? {
            try? FileManager.default.destinationOfSymbolicLink(atPath: artifacts + name)
        }
        #expect(link("current") == row["current"] as String?)
        #expect(link("last-good") == row["last_good"] as String?)
        #expect(link("previous-good") == row["previous_good"] as String?)
        #expect(link("current") == expected)
        #expect(try SHA256.hex(fileAt: artifacts + expected + "/autonous-worker") == expected)
    }

    @Test func killingTheSupervisorDuringADeployFinishesTheDeployAfterTheRestart() async throws {
        let (fakes, daemon, files) = try await Self.start()
        let path = try Self.goodRevision(in: files)
        let good = try SHA256.hex(fileAt: path)
        // Without --wait the reply comes once the revision is recorded and its self-check started.
        let started = try await Self.autonousctl(daemon, ["deploy", path])
        #expect(started.status == 0, "\(started)")
        try daemon.killAndRestart()
        try await Self.expectConsistent(daemon, running: good)
        #expect(try await Self.answers(fakes, "after a kill during the deploy"), "\(daemon.log)")
        await daemon.stop()
    }

    @Test func killingTheSupervisorDuringProbationStartsTheProbationOver() async throws {
        // A probation long enough to be seen in progress on a loaded machine.
        let (fakes, daemon, files) = try await Self.start(["AUTONOUS_PROBATION": "20s"])
        let path = try Self.goodRevision(in: files)
        let good = try SHA256.hex(fileAt: path)
        #expect(try await Self.autonousctl(daemon, ["deploy", path]).status == 0)
        let onProbation = await eventuallyOnOwnThread(timeout: .seconds(40)) {
            daemon.status()?.revisions?.probation?.checksPassed.contains("ready") == true
        }
        #expect(onProbation, "\(daemon.log)")
        try daemon.killAndRestart()
        try await Self.expectConsistent(daemon, running: good, within: .seconds(90))
        let probations = try daemon.events("revision.probation").filter { $0.payload["revision"] == .string(good) }
        #expect(probations.count == 1, "one probation record; the restart picks it up again")
        #expect(try daemon.events("revision.promoted").contains { $0.payload["revision"] == .string(good) })
        #expect(try await Self.answers(fakes, "after a kill during probation"), "\(daemon.log)")
        await daemon.stop()
    }

    @Test func killingTheSupervisorDuringARevertLeavesTheLastGoodRunning() async throws {
        let (fakes, daemon, files) = try await Self.start()
        let path = try Self.misbehaving("hang-after-ready", in: files)
        #expect(try await Self.autonousctl(daemon, ["deploy", path]).status == 0)
        let reverted = try await eventually(timeout: .seconds(40)) { try !daemon.events("revision.reverted").isEmpty }
        #expect(reverted, "\(daemon.log)")
        try daemon.killAndRestart()
        try await Self.expectConsistent(daemon, running: try Self.bootstrap)
        #expect(try await Self.answers(fakes, "after a kill during the revert"), "\(daemon.log)")
        await daemon.stop()
    }
}

import AutonousCore
import Foundation
import Testing

private let canRunJournald =
    geteuid() == 0 && FileManager.default.isExecutableFile(atPath: "/lib/systemd/systemd-journald")
    && FileManager.default.isExecutableFile(atPath: "/usr/bin/unshare")

/// Logging into a real systemd-journald (private, in its own mount namespace) with structured fields.
@Suite("journald", .serialized, .timeLimit(.minutes(3)))
struct JournaldTests {
    @Test(.enabled(if: canRunJournald, "needs root, unshare and systemd-journald for a private journal"))
    func supervisorAndWorkerLogIntoTheJournalWithStructuredFields() throws {
        let directory = try TemporaryDirectory()
        chmod(directory.path, 0o755)
        let output = directory.path + "/journal.json"
        let environment = Daemon.baseEnvironment(directory: directory.path, fakes: nil, telegram: false)
            .merging(["AUTONOUS_LOG": "journal", "AUTONOUS_LOG_LEVEL": "info"]) { _, new in new }
        // The daemon runs in the namespace; autonousctl asks it one question, then it gets SIGTERM.
        let script = """
            "$SUPERVISOR" &
            pid=$!
            for _ in $(seq 200); do "$CTL" status --socket "$SOCKET" 2>/dev/null | grep -q 'worker *ready' && break; sleep 0.05; done
            "$CTL" chat --socket "$SOCKET" "hello journal" > /dev/null
            kill -TERM $pid
            wait $pid
            """
        var full = environment
        full["SUPERVISOR"] = TestPaths.binary("autonous-supervisord")
        full["CTL"] = TestPaths.binary("autonousctl")
        full["SOCKET"] = directory.path + "/run/control.sock"
        let result = try runProcess(
            "/usr/bin/unshare",
            ["-m", "--propagation", "private", TestPaths.fixture("with_journald.sh"), output, "bash", "-c", script],
            environment: full, timeout: .seconds(90))
        #expect(result.status == 0, "\(result.stderr)")
        let lines = ((try? String(contentsOfFile: output, encoding: .utf8)) ?? "").split(separator: "\n")
        let entries = lines.compactMap { try? JSONDecoder().decode([String: JSONValue].self, from: Data($0.utf8)) }
        let supervisor = entries.filter { $0["SYSLOG_IDENTIFIER"] == .string("autonous-supervisord") }
        let worker = entries.filter { $0["SYSLOG_IDENTIFIER"] == .string("autonous-worker") }
        #expect(supervisor.contains { $0["MESSAGE"] == .string("supervisor started") }, "\(entries.count) entries")
        #expect(
            supervisor.contains {
                $0["MESSAGE"] == .string("worker.exited") && $0["AUTONOUS_WORKER_REASON"] == .string("shutdown")
            })
        let ready = try #require(worker.first { $0["MESSAGE"] == .string("worker ready") })
        #expect(ready["PRIORITY"] == .string("6"))
        #expect(
            ready["AUTONOUS_REVISION"]?.stringValue == (try SHA256.hex(fileAt: TestPaths.binary("autonous-worker"))))
        let answered = try #require(worker.first { $0["MESSAGE"]?.stringValue?.contains("setup hint") == true })
        #expect(answered["PRIORITY"] == .string("5"))
        #expect(answered["AUTONOUS_RUN_ID"]?.stringValue?.count == 36)
        #expect(answered["AUTONOUS_CONVERSATION_ID"] == .string("local:operator"))
        #expect(answered["CODE_FILE"] != nil)
    }
}

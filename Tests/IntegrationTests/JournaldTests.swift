import AutonousCore
import Foundation
import Testing

private let canRunJournald =
    geteuid() == 0 && FileManager.default.isExecutableFile(atPath: "/lib/systemd/systemd-journald")
    && FileManager.default.isExecutableFile(atPath: "/usr/bin/unshare")

/// Logging into a real systemd-journald (private, in its own mount namespace) with structured fields.
@Suite("journald", .serialized, .timeLimit(.minutes(3)))
struct JournaldTests {
    /// Starts a supervisor (with `log` as AUTONOUS_LOG, or none) next to a private journald, asks it one chat question,
    /// stops it and returns every journal entry. `launch` is the shell line that starts the supervisor in the
    /// background.
    private func journalEntries(log: String?, launch: String) throws -> [[String: JSONValue]] {
        let directory = try TemporaryDirectory()
        chmod(directory.path, 0o755)
        let output = directory.path + "/journal.json"
        var environment = Daemon.baseEnvironment(directory: directory.path, fakes: nil, telegram: false)
        environment["AUTONOUS_LOG"] = log
        environment["AUTONOUS_LOG_LEVEL"] = "info"
        // The daemon runs in the namespace; autonousctl asks it one question, then it gets SIGTERM.
        let script = """
            \(launch)
            pid=$!
            for _ in $(seq 200); do "$CTL" status --socket "$SOCKET" 2>/dev/null | grep -q 'worker *ready' && break; sleep 0.05; done
            "$CTL" chat --socket "$SOCKET" "hello journal" > /dev/null
            kill -TERM $pid
            wait $pid
            """
        environment["SUPERVISOR"] = TestPaths.binary("autonous-supervisord")
        environment["CTL"] = TestPaths.binary("autonousctl")
        environment["SOCKET"] = directory.path + "/run/control.sock"
        environment["STDERR_FILE"] = directory.path + "/supervisor.stderr"
        let result = try runProcess(
            "/usr/bin/unshare",
            ["-m", "--propagation", "private", TestPaths.fixture("with_journald.sh"), output, "bash", "-c", script],
            environment: environment, timeout: .seconds(90))
        #expect(result.status == 0, "\(result.stderr)")
        let lines = ((try? String(contentsOfFile: output, encoding: .utf8)) ?? "").split(separator: "\n")
        return lines.compactMap { try? JSONDecoder().decode([String: JSONValue].self, from: Data($0.utf8)) }
    }

    /// The worker's own entries: its fields, its priority, the run and conversation of its answer.
    private func expectWorkerEntries(_ entries: [[String: JSONValue]]) throws {
        let worker = entries.filter { $0["SYSLOG_IDENTIFIER"] == .string("autonous-worker") }
        let ready = try #require(worker.first { $0["MESSAGE"] == .string("worker ready") }, "\(entries.count) entries")
        #expect(ready["PRIORITY"] == .string("6"))
        #expect(
            ready["AUTONOUS_REVISION"]?.stringValue == (try SHA256.hex(fileAt: TestPaths.binary("autonous-worker"))))
        let answered = try #require(worker.first { $0["MESSAGE"]?.stringValue?.contains("setup hint") == true })
        #expect(answered["PRIORITY"] == .string("5"))
        #expect(answered["AUTONOUS_RUN_ID"]?.stringValue?.count == 36)
        #expect(answered["AUTONOUS_CONVERSATION_ID"] == .string("local:operator"))
        #expect(answered["CODE_FILE"] != nil)
    }

    @Test(.enabled(if: canRunJournald, "needs root, unshare and systemd-journald for a private journal"))
    func supervisorAndWorkerLogIntoTheJournalWithStructuredFields() throws {
        let entries = try journalEntries(log: "journal", launch: #""$SUPERVISOR" &"#)
        let supervisor = entries.filter { $0["SYSLOG_IDENTIFIER"] == .string("autonous-supervisord") }
        #expect(supervisor.contains { $0["MESSAGE"] == .string("supervisor started") }, "\(entries.count) entries")
        #expect(
            supervisor.contains {
                $0["MESSAGE"] == .string("worker.exited") && $0["AUTONOUS_WORKER_REASON"] == .string("shutdown")
            })
        try expectWorkerEntries(entries)
    }

    /// As systemd starts it: AUTONOUS_LOG left on auto, standard error connected to the journal ($JOURNAL_STREAM
    /// names it). The worker's standard error is a pipe to the supervisor, yet its lines reach the journal as its
    /// own, with its fields, so that `journalctl -u autonous AUTONOUS_RUN_ID=…` finds a run.
    @Test(.enabled(if: canRunJournald, "needs root, unshare and systemd-journald for a private journal"))
    func onAutoUnderSystemdTheWorkerLogsIntoTheJournalItself() throws {
        let launch = """
            exec 2> "$STDERR_FILE"
            export JOURNAL_STREAM="$(stat -L -c '%d:%i' /proc/self/fd/2)"
            "$SUPERVISOR" &
            """
        let entries = try journalEntries(log: nil, launch: launch)
        #expect(entries.contains { $0["SYSLOG_IDENTIFIER"] == .string("autonous-supervisord") })
        try expectWorkerEntries(entries)
    }
}

import ArgumentParser
import AutonousCore
import Foundation

/// `autonousctl runs`: the agent's runs, newest first.
struct RunsCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "runs",
        abstract: "List the agent's runs, newest first.",
        discussion: """
            Each line shows the run id, when it started, its conversation, its status (and stop reason), turns, \
            input/output tokens, cost and duration. autonousctl trace RUN shows one as a tree.
            Examples:
              autonousctl runs --since 1h
              autonousctl runs --conversation telegram:111 --limit 10 --json
            """)

    @Option(help: "Only runs started since a duration ago (90s, 15m, 1h, 2d) or an ISO 8601 time.")
    var since: String?

    @Option(name: .customLong("conversation"), help: "Only the runs of this conversation (telegram:111).")
    var conversationID: String?

    @Option(help: "How many of the newest runs to list (1 to 1000).")
    var limit = 50

    @OptionGroup var options: GlobalOptions

    func validate() throws {
        if let since { _ = try SinceOption.milliseconds(since) }
        guard (1 ... 1000).contains(limit) else {
            throw ValidationError("--limit must be between 1 and 1000, got \(limit)")
        }
        if let conversationID, conversationID.isEmpty { throw ValidationError("--conversation needs a value") }
    }

    func run() throws {
        let request = ControlInterface.ListRunsRequest(
            sinceMs: try since.map { try SinceOption.milliseconds($0) }, conversationId: conversationID,
            limit: limit)
        try show(options, "io.autonous.Control.ListRuns", request, as: ControlInterface.RunList.self) { list in
            Self.render(list.runs, nowMs: Int64(Date().timeIntervalSince1970 * 1000))
        }
    }

    /// The runs as a table, newest first; times in `timeZone`.
    static func render(_ runs: [RunRecord], nowMs: Int64, timeZone: TimeZone = .current) -> String {
        guard !runs.isEmpty else { return "no runs" }
        let time = LocalTime(timeZone: timeZone)
        var rows = [["ID", "STARTED", "CONVERSATION", "STATUS", "TURNS", "TOKENS IN/OUT", "COST", "DURATION"]]
        for run in runs.sorted(by: { ($0.startedMs, $0.id) > ($1.startedMs, $1.id) }) {
            rows.append([
                run.id, time.string(run.startedMs), run.conversationID, RunFormat.status(run), String(run.turns),
                "\(RunFormat.count(run.inputTokens))/\(RunFormat.count(run.outputTokens))",
                RunFormat.dollars(run.costUSD),
                RunFormat.milliseconds(run.durationMs(nowMs: nowMs)) + (run.endedMs == nil ? " (running)" : ""),
            ])
        }
        return table(rows)
    }
}

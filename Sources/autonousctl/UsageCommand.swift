import ArgumentParser
import AutonousCore
import Foundation

/// `autonousctl usage`: tokens and cost per day or per model, and today's spend against the daily budget.
struct UsageCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "usage",
        abstract: "Show tokens and cost per day or per model, and today's spend against the daily budget.",
        discussion: """
            Each row counts the model calls of one UTC day (or one model): calls, input, output and cached tokens \
            as the API reported them, the cost by AUTONOUS_PRICE_TABLE (- for a model without a price), and a bar \
            of its input plus output tokens scaled to the largest row. The last line is today's spend as the daily \
            budget (AUTONOUS_DAILY_TOKEN_BUDGET) counts it, calls in flight at their worst case.
            Examples:
              autonousctl usage
              autonousctl usage --since 30d --by model
            """)

    /// How `--by` groups the rows.
    enum Grouping: String, ExpressibleByArgument, CaseIterable {
        case day, model
    }

    @Option(help: "Only model calls since a duration ago (90s, 15m, 1h, 7d) or an ISO 8601 time.")
    var since = "7d"

    @Option(help: "Group by UTC day (oldest first) or by model (most tokens first).")
    var by: Grouping = .day

    @OptionGroup var options: GlobalOptions

    func validate() throws {
        _ = try SinceOption.milliseconds(since)
    }

    func run() throws {
        let request = ControlInterface.GetUsageRequest(sinceMs: try SinceOption.milliseconds(since), by: by.rawValue)
        try show(options, "io.autonous.Control.GetUsage", request, as: UsageReport.self) { report in
            Self.render(report)
        }
    }

    /// The widest line `render` draws.
    static let width = 80
    /// The eighths of a block, for the bars' last character.
    static let eighths: [Character] = ["▏", "▎", "▍", "▌", "▋", "▊", "▉", "█"]

    /// The table with a bar per row, the total, and today's spend against the budget; no line is wider than
    /// `width` columns.
    static func render(_ report: UsageReport) -> String {
        let keyTitle = report.by == "model" ? "MODEL" : "DAY"
        var rows = [[keyTitle, "CALLS", "INPUT", "OUTPUT", "CACHED", "COST"]]
        for row in report.rows + [report.total] {
            rows.append([
                truncated(row.key, to: 24), RunFormat.count(row.modelCalls), RunFormat.compact(row.inputTokens),
                RunFormat.compact(row.outputTokens), RunFormat.compact(row.cachedTokens),
                RunFormat.dollars(row.costUsd),
            ])
        }
        var lines: [String]
        if report.rows.isEmpty {
            lines = ["no model calls since then"]
        } else {
            // Every column but the last padded: the bars start where the widest row ends.
            lines = table(rows.map { $0 + [""] }).split(separator: "\n").map(String.init)
            let barWidth = max(10, width - (lines.map(\.count).max() ?? 0))
            let widest = report.rows.map(\.tokens).max() ?? 0
            for (index, row) in report.rows.enumerated() {
                lines[index + 1] += bar(row.tokens, of: widest, width: barWidth)
            }
            lines = lines.map { String($0.reversed().drop { $0 == " " }.reversed()) }
        }
        lines.append("")
        lines.append(today(report.today))
        return lines.joined(separator: "\n")
    }

    /// `value` of `maximum` as a bar of at most `width` characters, in eighths of a character; a value above zero
    /// shows at least an eighth.
    static func bar(_ value: Int, of maximum: Int, width: Int) -> String {
        guard value > 0, maximum > 0 else { return "" }
        let eighthsTotal = max(1, Int((Double(value) / Double(maximum) * Double(width * 8)).rounded()))
        let full = String(repeating: "█", count: eighthsTotal / 8)
        let rest = eighthsTotal % 8
        return rest == 0 ? full : full + String(eighths[rest - 1])
    }

    /// `today 2026-12-05 (UTC): 13,813 of 2,000,000 tokens (0.7%)`, with the cost and its cap; calls in flight on a
    /// line of their own.
    static func today(_ today: UsageReport.Today) -> String {
        var text = "today \(today.day) (UTC): \(RunFormat.count(today.tokens))"
        switch today.tokenBudget {
        case nil:
            text += " tokens (daily budget: unlimited)"
        case 0?:
            text += " of 0 tokens (daily budget 0: no model call is allowed)"
        case let budget?:
            let share = Double(today.tokens) / Double(budget) * 100
            text += " of \(RunFormat.count(budget)) tokens (\(String(format: "%.1f", share))%)"
        }
        text += ", \(RunFormat.dollars(today.costUsd))"
        if let cap = today.costBudgetUsd { text += " of \(RunFormat.dollars(cap))" }
        if today.openReservations > 0 {
            text += "\n  with \(today.openReservations) call(s) in flight counted at their worst case"
        }
        return text
    }
}

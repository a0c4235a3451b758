import ArgumentParser
import AutonousCore
import Foundation

/// `autonousctl transactions`: the self-update transactions, newest first.
struct TransactionsCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "transactions",
        abstract: "List the self-update transactions, newest first.",
        discussion: """
            Each line shows the transaction id, its state, how long ago it was proposed, its title, the first 12 \
            hex digits of its artifact's sha256 (once staged) and its tests passed/failed. \
            autonousctl transaction TX shows one in full.
            """)

    @Option(help: "How many of the newest transactions to list (1 to 1000; default: the supervisor's, 50).")
    var limit: Int?
    @OptionGroup var options: GlobalOptions

    func validate() throws {
        if let limit, !(1 ... 1000).contains(limit) {
            throw ValidationError("--limit must be between 1 and 1000, got \(limit)")
        }
    }

    func run() throws {
        try show(
            options, "io.autonous.Control.ListTransactions", ControlInterface.ListTransactionsRequest(limit: limit),
            as: ControlInterface.TransactionList.self
        ) { list in
            Self.render(list.transactions, nowMs: Int64(Date().timeIntervalSince1970 * 1000))
        }
    }

    /// The longest title the table shows; longer ones are cut and end with "…".
    static let titleWidth = 40

    static func render(_ transactions: [ControlInterface.TransactionInfo], nowMs: Int64) -> String {
        guard !transactions.isEmpty else { return "no transactions yet" }
        var rows = [["ID", "STATE", "AGE", "TITLE", "ARTIFACT", "TESTS"]]
        for transaction in transactions.sorted(by: { ($0.createdMs, $0.id) > ($1.createdMs, $1.id) }) {
            rows.append([
                transaction.id, transaction.state, ago(transaction.createdMs, nowMs: nowMs),
                truncated(transaction.title, to: titleWidth),
                transaction.artifactSha256.map { String($0.prefix(12)) } ?? "-",
                tests(transaction, short: true),
            ])
        }
        return table(rows)
    }

    /// `12/0` (short) or `12 passed, 0 failed`; `-` before the tests ran.
    static func tests(_ transaction: ControlInterface.TransactionInfo, short: Bool) -> String {
        guard transaction.testsPassed != nil || transaction.testsFailed != nil else { return "-" }
        let passed = transaction.testsPassed.map(String.init) ?? "?"
        let failed = transaction.testsFailed.map(String.init) ?? "?"
        return short ? "\(passed)/\(failed)" : "\(passed) passed, \(failed) failed"
    }
}

/// `autonousctl transaction TX`: one self-update transaction in full.
struct TransactionCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "transaction",
        abstract: "Show one self-update transaction: state, diffstat, tests, steps and log tails.",
        discussion: """
            A staged transaction waits for autonousctl approve TX or reject TX until it expires; the artifact's \
            sha256 shown here is the one an approval names.
            """)

    @Argument(help: "The transaction id (tx- and 8 characters, see autonousctl transactions).") var id: String
    @OptionGroup var options: GlobalOptions

    func validate() throws {
        guard TransactionID.isWellFormed(id) else {
            throw ValidationError("'\(id)' is not a transaction id: tx- and 8 characters of a-z and 2-7")
        }
    }

    func run() throws {
        try show(
            options, "io.autonous.Control.GetTransaction", ControlInterface.GetTransactionRequest(id: id),
            as: ControlInterface.TransactionDetail.self
        ) { detail in
            Self.render(detail, nowMs: Int64(Date().timeIntervalSince1970 * 1000))
        }
    }

    /// The fields as aligned rows, then the steps, then the log tails; times in `timeZone`.
    static func render(
        _ detail: ControlInterface.TransactionDetail, nowMs: Int64, timeZone: TimeZone = .current
    ) -> String {
        let transaction = detail.transaction
        let time = LocalTime(timeZone: timeZone)
        func short(_ text: String?, _ length: Int) -> String { text.map { String($0.prefix(length)) } ?? "-" }
        var rows: [(String, String)] = [
            ("transaction", transaction.id),
            ("state", transaction.state),
            ("title", transaction.title),
            ("summary", transaction.summary),
            ("requested by", transaction.requestedBy + (transaction.runId.map { " (run \($0))" } ?? "")),
            (
                "base",
                "revision \(short(transaction.baseRevision, 12)), commit \(short(transaction.baseCommit, 12))"
            ),
            ("commit", transaction.commit ?? "-"),
            ("artifact", transaction.artifactSha256.map { "sha256 \($0)" } ?? "-"),
            ("created", time.string(transaction.createdMs) + " (\(ago(transaction.createdMs, nowMs: nowMs)))"),
            ("updated", time.string(transaction.updatedMs) + " (\(ago(transaction.updatedMs, nowMs: nowMs)))"),
        ]
        if let expiresMs = transaction.expiresMs {
            rows.append(("expires", time.string(expiresMs) + expiry(transaction, nowMs: nowMs)))
        }
        if let reason = transaction.reason { rows.append(("reason", reason)) }
        rows.append(("diffstat", transaction.diffstat ?? "-"))
        rows.append(("tests", TransactionsCommand.tests(transaction, short: false)))

        var text = aligned(rows)
        text += "\n\nsteps\n"
        if detail.steps.isEmpty {
            text += "  none recorded"
        } else {
            text += table(
                detail.steps.map { step in
                    [time.string(step.tsMs), "\(step.from ?? "-") → \(step.to)", step.reason ?? ""]
                }
            ).split(separator: "\n", omittingEmptySubsequences: false).map { line in
                // A step without a reason leaves the padding of the column before it.
                "  " + String(line.reversed().drop(while: { $0 == " " }).reversed())
            }.joined(separator: "\n")
        }
        text += "\n\n" + logTail("build log", detail.buildLogTail)
        text += "\n\n" + logTail("test log", detail.testLogTail)
        if transaction.state == "staged", let expiresMs = transaction.expiresMs,
            remaining(expiresMs, nowMs: nowMs) != nil
        {
            text += "\n\ndecide with: autonousctl approve \(transaction.id) | autonousctl reject \(transaction.id)"
        }
        return text
    }

    /// ` (in 23h59m)` for a staged transaction, or how long ago its deadline passed; empty for other states.
    static func expiry(_ transaction: ControlInterface.TransactionInfo, nowMs: Int64) -> String {
        guard transaction.state == "staged", let expiresMs = transaction.expiresMs else { return "" }
        return remaining(expiresMs, nowMs: nowMs).map { " (in \($0))" }
            ?? " (\(ago(expiresMs, nowMs: nowMs)); it can no longer be approved)"
    }

    /// A log tail under its heading, indented; says so when there are no lines.
    static func logTail(_ name: String, _ lines: [String]) -> String {
        guard !lines.isEmpty else { return "\(name): no lines" }
        return "\(name) (last \(lines.count) line\(lines.count == 1 ? "" : "s"))\n"
            + lines.map { "  " + $0 }.joined(separator: "\n")
    }

    /// `label  value` rows with the values aligned; a value's further lines are indented to its column.
    static func aligned(_ rows: [(String, String)]) -> String {
        let width = rows.map(\.0.count).max() ?? 0
        let indent = String(repeating: " ", count: width + 2)
        return rows.map { label, value in
            let lines = value.split(separator: "\n", omittingEmptySubsequences: false)
            return label.padding(toLength: width, withPad: " ", startingAt: 0) + "  "
                + lines.map(String.init).joined(separator: "\n" + indent)
        }.joined(separator: "\n")
    }
}

/// `5m3s ago`, from a Unix time in milliseconds.
func ago(_ unixMs: Int64, nowMs: Int64) -> String {
    StatusCommand.duration(Int(max(0, nowMs - unixMs) / 1000)) + " ago"
}

/// `23h59m` until a Unix time in milliseconds; nil once it has passed.
func remaining(_ unixMs: Int64, nowMs: Int64) -> String? {
    unixMs > nowMs ? StatusCommand.duration(Int((unixMs - nowMs) / 1000)) : nil
}

/// `text` cut to `length` characters, ending with "…" when it was longer; only its first line.
func truncated(_ text: String, to length: Int) -> String {
    let line = text.split(separator: "\n", maxSplits: 1).first.map(String.init) ?? ""
    guard line.count > length || line.count < text.count else { return line }
    return String(line.prefix(length - 1)) + "…"
}

/// `2026-12-05 10:58:43` in a given time zone.
struct LocalTime {
    private let formatter: DateFormatter

    init(timeZone: TimeZone) {
        formatter = DateFormatter()
        formatter.locale = Locale(identifier: "en_US_POSIX")
        formatter.timeZone = timeZone
        formatter.dateFormat = "yyyy-MM-dd HH:mm:ss"
    }

    func string(_ unixMs: Int64) -> String {
        formatter.string(from: Date(timeIntervalSince1970: Double(unixMs) / 1000))
    }
}

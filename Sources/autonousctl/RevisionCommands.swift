import ArgumentParser
import AutonousCore
import Foundation

/// `autonousctl revisions`: every kept worker revision and its state.
struct RevisionsCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "revisions", abstract: "List the worker revisions the supervisor keeps, newest first.")

    @OptionGroup var options: GlobalOptions

    func run() throws {
        try show(
            options, "io.autonous.Control.ListRevisions", NoParameters(), as: ControlInterface.RevisionList.self
        ) { list in
            Self.render(list.revisions, nowMs: Int64(Date().timeIntervalSince1970 * 1000))
        }
    }

    static func render(_ revisions: [ControlInterface.Revision], nowMs: Int64) -> String {
        guard !revisions.isEmpty else { return "no revisions yet" }
        var rows = [["REVISION", "SOURCE", "COMMIT", "STATE", "WHEN", "WHY"]]
        for revision in revisions {
            var state = revision.state
            if revision.current { state += ", current" }
            if revision.lastGood { state += ", last-good" }
            let age = StatusCommand.duration(Int(max(0, nowMs - revision.changedMs) / 1000)) + " ago"
            rows.append([
                String(revision.sha256.prefix(12)), revision.source,
                revision.gitCommit.map { String($0.prefix(10)) } ?? "-",
                state, age, revision.reason ?? revision.note ?? "-",
            ])
        }
        return table(rows)
    }
}

/// `autonousctl deploy PATH`: imports a worker binary and deploys it through probation.
struct DeployCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "deploy",
        abstract: "Deploy a worker binary as a new revision, through self-check and probation.",
        discussion: """
            The supervisor copies PATH into its artifacts, hashes it and runs its self-check while the current \
            worker keeps serving; then the new revision replaces it and must stay healthy for AUTONOUS_PROBATION \
            before it becomes last-good. Any failure before that reverts to the last-good automatically.
            """)

    @Argument(help: "The worker binary (made absolute here; the supervisor reads it).") var path: String
    @Option(help: "A note kept in the revision's manifest.") var note: String?
    @Flag(help: "Wait until the revision is promoted or reverted; exit status 1 when it was reverted.")
    var wait = false
    @OptionGroup var options: GlobalOptions

    func run() throws {
        let absolute = URL(fileURLWithPath: path).standardizedFileURL.path
        let response = try callControl(options) { client in
            try client.call(
                "io.autonous.Control.Deploy",
                ControlInterface.DeployRequest(path: absolute, note: note, wait: wait ? true : nil),
                as: ControlInterface.DeployResponse.self)
        }
        if options.json {
            print(prettyJSON(response))
        } else {
            let short = response.revision.sha256.prefix(12)
            switch response.outcome {
            case nil: print("revision \(short) deployed; on probation (autonousctl status shows its progress)")
            case "promoted": print("revision \(short) promoted: it is current and last-good")
            default:
                print("revision \(short) \(response.outcome ?? "?"): \(response.reason ?? "no reason given")")
            }
        }
        if wait && response.outcome != "promoted" { throw ExitCode(1) }
    }
}

/// `autonousctl rollback [--to REVISION]`.
struct RollbackCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "rollback",
        abstract: "Run an earlier revision as current and last-good (default: the previous last-good).")

    @Option(help: "The revision: its sha256 or a unique prefix of at least 8 hex digits (see revisions).")
    var to: String?
    @OptionGroup var options: GlobalOptions

    func run() throws {
        try show(
            options, "io.autonous.Control.Rollback", ControlInterface.RollbackRequest(to: to),
            as: ControlInterface.RollbackResponse.self, render: \.message)
    }
}

/// Left-aligned columns separated by two spaces; the last column is not padded.
func table(_ rows: [[String]]) -> String {
    guard let columns = rows.map(\.count).max(), columns > 0 else { return "" }
    var widths = [Int](repeating: 0, count: columns)
    for row in rows {
        for (index, cell) in row.enumerated() where index < columns - 1 {
            widths[index] = max(widths[index], cell.count)
        }
    }
    return rows.map { row in
        row.enumerated().map { index, cell in
            index < columns - 1 ? cell.padding(toLength: widths[index], withPad: " ", startingAt: 0) : cell
        }.joined(separator: "  ")
    }.joined(separator: "\n")
}

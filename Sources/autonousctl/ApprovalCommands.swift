import ArgumentParser
import AutonousCore
import Foundation

/// `autonousctl approvals`: the approvals waiting for a decision, tool calls and staged self-updates.
struct ApprovalsCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "approvals",
        abstract: "List the tool calls and the staged self-updates waiting for an admin's approval.",
        discussion: """
            --json prints an object: approvals, the tool calls, as before; updates, the staged transactions (absent \
            when the supervisor has no self-update interface).
            """)

    @OptionGroup var options: GlobalOptions

    /// `autonousctl approvals --json`.
    struct Listing: Encodable {
        var approvals: [ControlInterface.ApprovalInfo]
        /// The staged transactions; nil (left out) when the supervisor cannot list transactions.
        var updates: [ControlInterface.TransactionInfo]?
    }

    func run() throws {
        let listing = try callControl(options) { client in
            let list = try client.call(
                "io.autonous.Control.ListApprovals", NoParameters(), as: ControlInterface.ApprovalList.self)
            return Listing(approvals: list.approvals, updates: try Self.stagedUpdates(client))
        }
        if options.json {
            print(prettyJSON(listing))
            return
        }
        print(Self.render(listing, nowMs: Int64(Date().timeIntervalSince1970 * 1000)))
    }

    /// The most transactions asked for: a staged one is rarely old, but none may be missed.
    static let transactionLimit = 1000

    /// The staged transactions, newest first; nil when the supervisor predates self-updates (no ListTransactions).
    static func stagedUpdates(_ client: some ControlCalling) throws -> [ControlInterface.TransactionInfo]? {
        do {
            let list = try client.call(
                "io.autonous.Control.ListTransactions",
                ControlInterface.ListTransactionsRequest(limit: transactionLimit),
                as: ControlInterface.TransactionList.self)
            return UpdateDecision.waiting(list.transactions)
        } catch let error as VarlinkError where error.name == "org.varlink.service.MethodNotFound" {
            return nil
        }
    }

    static func render(_ listing: Listing, nowMs: Int64) -> String {
        let updates = listing.updates ?? []
        if listing.approvals.isEmpty && updates.isEmpty { return "no approvals are waiting" }
        var lines: [String] = []
        for approval in listing.approvals {
            let left = max(0, (approval.expiresMs - nowMs) / 1000)
            lines.append(
                "\(approval.id)  \(approval.subject) (\(approval.tier ?? approval.kind)), expires in \(left) s")
            for line in approval.summary.split(separator: "\n", omittingEmptySubsequences: false) {
                lines.append("    \(line)")
            }
        }
        for update in updates {
            let artifact = update.artifactSha256.map { "artifact \($0.prefix(12))" } ?? "no artifact"
            let expires = update.expiresMs.map { expiresMs in
                remaining(expiresMs, nowMs: nowMs).map { "expires in \($0)" }
                    ?? "expired \(ago(expiresMs, nowMs: nowMs))"
            }
            lines.append("\(update.id)  self-update (\(artifact)), \(expires ?? "no deadline")")
            lines.append("    \(truncated(update.title, to: 100))")
        }
        lines.append("decide with: autonousctl approve ID | autonousctl reject ID")
        if !updates.isEmpty {
            lines.append("a self-update's diffstat, tests and logs: autonousctl transaction ID")
        }
        return lines.joined(separator: "\n")
    }
}

/// `autonousctl approve ID`.
struct ApproveCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "approve",
        abstract: "Approve a pending tool call, or a staged self-update (see autonousctl approvals).",
        discussion: """
            A transaction id (tx-…) approves that self-update: the decision names the sha256 of the artifact the \
            supervisor staged for it, and the supervisor deploys it at once.
            """)

    @Argument(help: "The approval id, or a transaction id (tx- and 8 characters).") var id: String
    @OptionGroup var options: GlobalOptions

    func validate() throws { try validateDecisionID(id) }

    func run() throws { try decide(id, approve: true, options) }
}

/// `autonousctl reject ID`.
struct RejectCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "reject",
        abstract: "Reject a pending tool call, or a staged self-update (see autonousctl approvals).")

    @Argument(help: "The approval id, or a transaction id (tx- and 8 characters).") var id: String
    @OptionGroup var options: GlobalOptions

    func validate() throws { try validateDecisionID(id) }

    func run() throws { try decide(id, approve: false, options) }
}

/// Refuses an id that starts like a transaction id but is not one, before connecting.
private func validateDecisionID(_ id: String) throws {
    guard DecisionKind(id: id) != nil else {
        throw ValidationError("'\(id)' is not a transaction id: tx- and 8 characters of a-z and 2-7")
    }
}

/// Sends the decision and prints what was recorded; a decision that came too late or twice says so and fails.
private func decide(_ id: String, approve: Bool, _ options: GlobalOptions) throws {
    if DecisionKind(id: id) == .update {
        let response = try callControl(options) { client in
            try UpdateDecision.decide(id, approve: approve, on: client)
        }
        print(options.json ? prettyJSON(response) : response.message)
        return
    }
    let response = try callControl(options) { client in
        try client.call(
            "io.autonous.Control.DecideApproval", ControlInterface.DecideApprovalRequest(id: id, approve: approve),
            as: ControlInterface.DecideApprovalResponse.self)
    }
    if options.json {
        print(prettyJSON(response))
        return
    }
    let approval = response.approval
    print("\(approval.id): \(approval.status) (\(approval.subject), by \(approval.decidedBy ?? "-"))")
}

/// Connects, makes one call and turns a varlink error into a one-line failure with exit status 1.
func callControl<Result>(_ options: GlobalOptions, _ body: (VarlinkClient) throws -> Result) throws -> Result {
    let client = try options.connect()
    defer { client.close() }
    do {
        return try body(client)
    } catch let error as VarlinkError {
        printError("autonousctl: \(describe(error))")
        throw ExitCode(1)
    }
}

/// Makes one call and prints its result: indented JSON with --json, else the text `render` makes of it.
func show<Parameters: Encodable, Result: Encodable & Decodable>(
    _ options: GlobalOptions, _ method: String, _ parameters: Parameters, as type: Result.Type,
    render: (Result) -> String
) throws {
    let result = try callControl(options) { client in try client.call(method, parameters, as: type) }
    print(options.json ? prettyJSON(result) : render(result))
}

/// Indented JSON with sorted keys.
func prettyJSON<Value: Encodable>(_ value: Value) -> String {
    let encoder = JSONCoding.encoder
    encoder.outputFormatting.insert(.prettyPrinted)
    return (try? encoder.encode(value)).map { String(decoding: $0, as: UTF8.self) } ?? "null"
}

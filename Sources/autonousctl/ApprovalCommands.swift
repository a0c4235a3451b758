import ArgumentParser
import AutonousCore
import Foundation

/// `autonousctl approvals`: the approvals waiting for a decision.
struct ApprovalsCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "approvals", abstract: "List the tool calls waiting for an admin's approval.")

    @OptionGroup var options: GlobalOptions

    func run() throws {
        let list = try callControl(options) { client in
            try client.call(
                "io.autonous.Control.ListApprovals", NoParameters(), as: ControlInterface.ApprovalList.self)
        }
        if options.json {
            print(prettyJSON(list))
            return
        }
        if list.approvals.isEmpty {
            print("no approvals are waiting")
            return
        }
        let now = Int64(Date().timeIntervalSince1970 * 1000)
        for approval in list.approvals {
            let left = max(0, (approval.expiresMs - now) / 1000)
            print("\(approval.id)  \(approval.subject) (\(approval.tier ?? approval.kind)), expires in \(left) s")
            for line in approval.summary.split(separator: "\n", omittingEmptySubsequences: false) {
                print("    \(line)")
            }
        }
        print("decide with: autonousctl approve ID | autonousctl reject ID")
    }
}

/// `autonousctl approve ID`.
struct ApproveCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "approve", abstract: "Approve a pending tool call (see autonousctl approvals).")

    @Argument(help: "The approval id.") var id: String
    @OptionGroup var options: GlobalOptions

    func run() throws { try decideApproval(id, approve: true, options) }
}

/// `autonousctl reject ID`.
struct RejectCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "reject", abstract: "Reject a pending tool call (see autonousctl approvals).")

    @Argument(help: "The approval id.") var id: String
    @OptionGroup var options: GlobalOptions

    func run() throws { try decideApproval(id, approve: false, options) }
}

/// Sends the decision and prints what was recorded; a decision that came too late or twice says so and fails.
private func decideApproval(_ id: String, approve: Bool, _ options: GlobalOptions) throws {
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

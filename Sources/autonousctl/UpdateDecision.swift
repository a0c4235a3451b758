import AutonousCore

/// One call at a time on the control socket: the `VarlinkClient`, or a stand-in in tests.
protocol ControlCalling {
    func call<Parameters: Encodable, Result: Decodable>(
        _ method: String, _ parameters: Parameters, as type: Result.Type
    ) throws -> Result
}

extension VarlinkClient: ControlCalling {}

/// What `autonousctl approve ID` and `reject ID` decide, told apart by the id alone.
enum DecisionKind: Equatable {
    /// A tool call waiting for an admin: `DecideApproval`, recorded by the worker.
    case toolApproval
    /// A staged self-update transaction: `DecideUpdate`, naming its artifact's sha256.
    case update

    /// `.update` for a well-formed transaction id; nil for another id that starts with `tx-` (a mistyped
    /// transaction id); `.toolApproval` for the rest, which the supervisor checks itself. Tool-approval ids never
    /// contain a dash, so the two kinds never collide.
    init?(id: String) {
        if TransactionID.isWellFormed(id) {
            self = .update
        } else if id.hasPrefix("tx-") {
            return nil
        } else {
            self = .toolApproval
        }
    }
}

/// The decision on a self-update transaction, as `autonousctl approve|reject TX` makes it.
enum UpdateDecision {
    /// Reads the transaction, then decides it naming the artifact sha256 the supervisor reported for it, so the
    /// decision is bound to exactly the artifact `autonousctl transaction TX` shows.
    ///
    /// - Throws: `VarlinkError` from either call (`TransactionNotFound`, `UpdateDecisionRefused` …), or an
    ///   `UpdateDecisionRefused` made here, without a `DecideUpdate` call, when the transaction has no staged
    ///   artifact yet (the supervisor would refuse it the same way).
    static func decide(
        _ id: String, approve: Bool, on client: some ControlCalling
    ) throws -> ControlInterface.DecideUpdateResponse {
        let detail = try client.call(
            "io.autonous.Control.GetTransaction", ControlInterface.GetTransactionRequest(id: id),
            as: ControlInterface.TransactionDetail.self)
        guard let sha256 = detail.transaction.artifactSha256 else {
            let state = detail.transaction.state
            throw VarlinkError(
                "io.autonous.Control.UpdateDecisionRefused",
                [
                    "id": .string(id),
                    "message": .string(
                        "\(id) is \(state), not staged: it has no artifact to \(approve ? "approve" : "reject") "
                            + "(autonousctl transaction \(id) shows why)"),
                ])
        }
        return try client.call(
            "io.autonous.Control.DecideUpdate",
            ControlInterface.DecideUpdateRequest(id: id, approve: approve, sha256: sha256),
            as: ControlInterface.DecideUpdateResponse.self)
    }

    /// The staged transactions of `transactions`: the update approvals `autonousctl approvals` lists.
    static func waiting(_ transactions: [ControlInterface.TransactionInfo]) -> [ControlInterface.TransactionInfo] {
        transactions.filter { $0.state == "staged" }
    }
}

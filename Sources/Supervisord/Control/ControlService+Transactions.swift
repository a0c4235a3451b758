import AutonousCore
import Foundation

/// `ListTransactions`, `GetTransaction` and `DecideUpdate`: the operator's view of self-updates and the shell's
/// way to decide on a staged one.
extension ControlService {
    func transactionList(_ request: ControlInterface.ListTransactionsRequest) throws
        -> ControlInterface.TransactionList
    {
        let limit = request.limit ?? 50
        guard (1 ... 1000).contains(limit) else {
            throw VarlinkError(
                "io.autonous.Control.InvalidValue",
                ["parameter": .string("limit"), "message": .string("must be 1 to 1000, got \(limit)")])
        }
        return ControlInterface.TransactionList(
            transactions: try pipeline.store.list(limit: limit).map(Self.transactionInfo))
    }

    func transactionDetail(_ request: ControlInterface.GetTransactionRequest) throws
        -> ControlInterface.TransactionDetail
    {
        let id = try Self.transactionID(request.id)
        guard let transaction = try pipeline.store.get(id) else {
            throw VarlinkError("io.autonous.Control.TransactionNotFound", ["id": .string(id)])
        }
        let steps = try pipeline.store.steps(id).map {
            ControlInterface.TransactionStep(
                tsMs: $0.tsMs, from: $0.from?.rawValue, to: $0.to.rawValue, reason: $0.reason)
        }
        let directory = pipeline.directory(id)
        return ControlInterface.TransactionDetail(
            transaction: Self.transactionInfo(transaction), steps: steps,
            buildLogTail: UpdatePipeline.tail(directory + "/build.log"),
            testLogTail: UpdatePipeline.tail(directory + "/test.log"))
    }

    func decideUpdate(_ request: ControlInterface.DecideUpdateRequest, peer: PeerCredentials) throws
        -> ControlInterface.DecideUpdateResponse
    {
        let id = try Self.transactionID(request.id)
        let decision = UpdateDecisionRequest(
            transactionID: id, artifactSHA256: request.sha256, decision: request.approve ? .approve : .reject,
            via: .shell(user: "\(Self.userName(peer.uid)) (uid \(peer.uid))"))
        do {
            let (transaction, message) = try pipeline.decide(decision)
            return ControlInterface.DecideUpdateResponse(
                transaction: Self.transactionInfo(transaction), message: message)
        } catch TransactionError.notFound {
            throw VarlinkError("io.autonous.Control.TransactionNotFound", ["id": .string(id)])
        } catch let refusal as UpdateApprovalError {
            throw VarlinkError(
                "io.autonous.Control.UpdateDecisionRefused",
                ["id": .string(id), "message": .string(refusal.description)])
        }
    }

    private static func transactionID(_ text: String) throws -> String {
        guard Transaction.isWellFormedID(text) else {
            throw VarlinkError(
                "io.autonous.Control.InvalidValue",
                [
                    "parameter": .string("id"),
                    "message": .string(
                        "a transaction id is tx- and 8 characters of a-z and 2-7, got '\(text.prefix(40))'"),
                ])
        }
        return text
    }

    static func transactionInfo(_ transaction: Transaction) -> ControlInterface.TransactionInfo {
        ControlInterface.TransactionInfo(
            id: transaction.id, state: transaction.state.rawValue, title: transaction.proposal.title,
            summary: transaction.proposal.summary, requestedBy: transaction.proposal.requestedBy,
            runId: transaction.proposal.runID, baseRevision: transaction.proposal.baseRevision,
            baseCommit: transaction.proposal.baseCommit, commit: transaction.commit,
            artifactSha256: transaction.artifactSHA256, diffstat: transaction.diffstat,
            testsPassed: transaction.testsPassed, testsFailed: transaction.testsFailed, reason: transaction.reason,
            createdMs: transaction.createdMs, updatedMs: transaction.updatedMs, expiresMs: transaction.expiresMs)
    }
}

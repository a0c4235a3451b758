import AutonousCore
import Foundation
import Synchronization
import Testing

@testable import autonousctl

/// A stand-in control socket: answers each method with a canned result or error and records every call.
private final class FakeControl: ControlCalling, Sendable {
    let calls = Mutex<[(method: String, parameters: JSONValue)]>([])
    let replies: [String: Result<JSONValue, VarlinkError>]

    init(_ replies: [String: Result<JSONValue, VarlinkError>]) { self.replies = replies }

    func call<Parameters: Encodable, Result: Decodable>(
        _ method: String, _ parameters: Parameters, as type: Result.Type
    ) throws -> Result {
        let encoded = try JSONValue.encode(parameters)
        calls.withLock { $0.append((method, encoded)) }
        guard let reply = replies[method] else { throw VarlinkError.methodNotFound(method) }
        return try reply.get().decode(type)
    }

    var methods: [String] { calls.withLock { $0.map(\.method) } }
}

/// A successful reply carrying `value`.
private func reply(_ value: some Encodable) throws -> Result<JSONValue, VarlinkError> {
    .success(try JSONValue.encode(value))
}

/// `autonousctl approve|reject ID`: which decision an id names, and how a self-update's decision is made.
@Suite struct UpdateDecisionTests {
    typealias Fixtures = TransactionFixtures

    @Test func transactionIdsAreTxAndEightBase32Characters() {
        #expect(TransactionID.isWellFormed("tx-k3m7qa2z"))
        #expect(TransactionID.isWellFormed("tx-abcdefgh"))
        #expect(TransactionID.isWellFormed("tx-22222222"))
        #expect(!TransactionID.isWellFormed("tx-k3m7qa2"))  // 7 characters
        #expect(!TransactionID.isWellFormed("tx-k3m7qa2zz"))  // 9 characters
        #expect(!TransactionID.isWellFormed("tx-k3m7qa1z"))  // 1 is not base32
        #expect(!TransactionID.isWellFormed("tx-k3m7qa8z"))  // nor 8
        #expect(!TransactionID.isWellFormed("tx-K3M7QA2Z"))  // upper case
        #expect(!TransactionID.isWellFormed("TX-k3m7qa2z"))
        #expect(!TransactionID.isWellFormed("k7m2q9xa"))
        #expect(!TransactionID.isWellFormed(""))
    }

    @Test func aTransactionIdIsAnUpdateAndAnIdWithoutADashAToolApproval() {
        #expect(DecisionKind(id: "tx-k3m7qa2z") == .update)
        #expect(DecisionKind(id: "k7m2q9xa") == .toolApproval)
        // Left to the supervisor, which says what a tool-approval id looks like.
        #expect(DecisionKind(id: "not-an-id") == .toolApproval)
        #expect(DecisionKind(id: "tx-k3m7") == nil)
        #expect(DecisionKind(id: "tx-K3M7QA2Z") == nil)
    }

    @Test func approveAndRejectRefuseAMistypedTransactionIdBeforeConnecting() throws {
        for arguments in [["approve", "tx-k3m7"], ["reject", "tx-k3m7qa1z"]] {
            let error = try #require(throws: (any Error).self) { try Autonousctl.parseAsRoot(arguments) }
            #expect(
                Autonousctl.message(for: error)
                    == "'\(arguments[1])' is not a transaction id: tx- and 8 characters of a-z and 2-7")
            #expect(Autonousctl.exitCode(for: error) == .validationFailure)
        }
        let approve = try #require(try Autonousctl.parseAsRoot(["approve", "tx-k3m7qa2z"]) as? ApproveCommand)
        #expect(approve.id == "tx-k3m7qa2z")
        let reject = try #require(try Autonousctl.parseAsRoot(["reject", "k7m2q9xa", "--json"]) as? RejectCommand)
        #expect(reject.id == "k7m2q9xa" && reject.options.json)
    }

    @Test func transactionsAndTransactionParseTheirOptions() throws {
        let list = try #require(
            try Autonousctl.parseAsRoot(["transactions", "--limit", "5", "--json"]) as? TransactionsCommand)
        #expect(list.limit == 5 && list.options.json)
        let defaults = try #require(try Autonousctl.parseAsRoot(["transactions"]) as? TransactionsCommand)
        #expect(defaults.limit == nil && !defaults.options.json)
        #expect(throws: (any Error).self) { try Autonousctl.parseAsRoot(["transactions", "--limit", "0"]) }
        #expect(throws: (any Error).self) { try Autonousctl.parseAsRoot(["transactions", "--limit", "1001"]) }
        let one = try #require(
            try Autonousctl.parseAsRoot(["transaction", "tx-k3m7qa2z", "--json"]) as? TransactionCommand)
        #expect(one.id == "tx-k3m7qa2z" && one.options.json)
        #expect(throws: (any Error).self) { try Autonousctl.parseAsRoot(["transaction", "k7m2q9xa"]) }
        #expect(throws: (any Error).self) { try Autonousctl.parseAsRoot(["transaction"]) }
    }

    @Test func anApprovalNamesTheArtifactTheSupervisorReportedForTheTransaction() throws {
        var approved = Fixtures.staged
        approved.state = "approved"
        let control = FakeControl([
            "io.autonous.Control.GetTransaction": try reply(
                ControlInterface.TransactionDetail(
                    transaction: Fixtures.staged, steps: [], buildLogTail: [], testLogTail: [])),
            "io.autonous.Control.DecideUpdate": try reply(
                ControlInterface.DecideUpdateResponse(
                    transaction: approved, message: "tx-k3m7qa2z approved; deploying 3f1c9a2e4b5d")),
        ])
        let response = try UpdateDecision.decide("tx-k3m7qa2z", approve: true, on: control)
        #expect(response.message == "tx-k3m7qa2z approved; deploying 3f1c9a2e4b5d")
        #expect(control.methods == ["io.autonous.Control.GetTransaction", "io.autonous.Control.DecideUpdate"])
        let sent = try #require(control.calls.withLock { $0.last?.parameters })
        #expect(
            try sent.decode(ControlInterface.DecideUpdateRequest.self)
                == .init(id: "tx-k3m7qa2z", approve: true, sha256: Fixtures.sha256))
    }

    @Test func aTransactionWithoutAnArtifactIsRefusedHereWithoutADecision() throws {
        let control = FakeControl([
            "io.autonous.Control.GetTransaction": try reply(
                ControlInterface.TransactionDetail(
                    transaction: Fixtures.testFailed, steps: [], buildLogTail: [], testLogTail: []))
        ])
        let error = try #require(throws: VarlinkError.self) {
            try UpdateDecision.decide("tx-abcdefgh", approve: false, on: control)
        }
        #expect(control.methods == ["io.autonous.Control.GetTransaction"])
        #expect(
            describe(error)
                == "refused: tx-abcdefgh is test_failed, not staged: it has no artifact to reject "
                + "(autonousctl transaction tx-abcdefgh shows why)")
    }

    @Test func anUnknownTransactionAndARefusedDecisionAreOneLine() throws {
        let missing = FakeControl([
            "io.autonous.Control.GetTransaction": .failure(
                VarlinkError("io.autonous.Control.TransactionNotFound", ["id": .string("tx-aaaaaaaa")]))
        ])
        let notFound = try #require(throws: VarlinkError.self) {
            try UpdateDecision.decide("tx-aaaaaaaa", approve: true, on: missing)
        }
        #expect(describe(notFound) == "no transaction has the id tx-aaaaaaaa (autonousctl transactions lists them)")
        #expect(missing.methods == ["io.autonous.Control.GetTransaction"])

        let late = FakeControl([
            "io.autonous.Control.GetTransaction": try reply(
                ControlInterface.TransactionDetail(
                    transaction: Fixtures.staged, steps: [], buildLogTail: [], testLogTail: [])),
            "io.autonous.Control.DecideUpdate": .failure(
                VarlinkError(
                    "io.autonous.Control.UpdateDecisionRefused",
                    ["id": .string("tx-k3m7qa2z"), "message": .string("tx-k3m7qa2z expired at 11:55")])),
        ])
        let refused = try #require(throws: VarlinkError.self) {
            try UpdateDecision.decide("tx-k3m7qa2z", approve: true, on: late)
        }
        #expect(describe(refused) == "refused: tx-k3m7qa2z expired at 11:55")
    }

    @Test func aSupervisorWithoutTheMethodIsSaidToBeOlder() {
        #expect(
            describe(VarlinkError.methodNotFound("io.autonous.Control.ListTransactions"))
                == "the supervisor does not know io.autonous.Control.ListTransactions: it is older than this "
                + "autonousctl (restart it after an upgrade)")
    }
}

import AutonousCore
import Foundation
import Testing

@testable import autonousctl

/// A stand-in control socket that answers ListTransactions, or does not know it (a supervisor without updates).
private struct TransactionLister: ControlCalling {
    let transactions: [ControlInterface.TransactionInfo]?

    func call<Parameters: Encodable, Result: Decodable>(
        _ method: String, _ parameters: Parameters, as type: Result.Type
    ) throws -> Result {
        guard method == "io.autonous.Control.ListTransactions", let transactions else {
            throw VarlinkError.methodNotFound(method)
        }
        return try JSONValue.encode(ControlInterface.TransactionList(transactions: transactions)).decode(type)
    }
}

/// The first element of a JSON array.
private func first(_ value: JSONValue?) -> JSONValue? {
    guard case .array(let elements)? = value else { return nil }
    return elements.first
}

/// `autonousctl approvals`: tool calls as before, and the staged self-updates.
@Suite struct ApprovalsListingTests {
    typealias Fixtures = TransactionFixtures

    static func toolApproval() throws -> ControlInterface.ApprovalInfo {
        let json = """
            {"id": "k7m2q9xa", "kind": "tool", "subject": "bash", "tier": "network",
             "summary": "bash with network access to 127.0.0.1:8080\\ncurl http://127.0.0.1:8080/",
             "arguments": "{}", "argumentsSha256": "00", "status": "pending",
             "createdMs": \(Fixtures.nowMs - 10_000), "expiresMs": \(Fixtures.nowMs + 290_000)}
            """
        return try JSONDecoder().decode(ControlInterface.ApprovalInfo.self, from: Data(json.utf8))
    }

    @Test func onlyStagedTransactionsAreWaitingForADecision() throws {
        var approved = Fixtures.staged
        approved.id = "tx-bbbbbbbb"
        approved.state = "approved"
        let lister = TransactionLister(transactions: [
            Fixtures.building, Fixtures.staged, approved, Fixtures.testFailed,
        ])
        #expect(try ApprovalsCommand.stagedUpdates(lister) == [Fixtures.staged])
    }

    @Test func aSupervisorWithoutSelfUpdatesListsToolApprovalsOnly() throws {
        #expect(try ApprovalsCommand.stagedUpdates(TransactionLister(transactions: nil)) == nil)
        let listing = ApprovalsCommand.Listing(approvals: [try Self.toolApproval()], updates: nil)
        let json = try JSONValue.encode(listing)
        #expect(json["updates"] == nil)
        #expect(first(json["approvals"])?["id"] == .string("k7m2q9xa"))
    }

    @Test func theJSONKeepsApprovalsAndAddsUpdates() throws {
        let listing = ApprovalsCommand.Listing(approvals: [try Self.toolApproval()], updates: [Fixtures.staged])
        let json = try JSONDecoder().decode(JSONValue.self, from: Data(prettyJSON(listing).utf8))
        guard case .object(let keys) = json else {
            Issue.record("not an object: \(json)")
            return
        }
        #expect(Set(keys.keys) == ["approvals", "updates"])
        #expect(first(json["approvals"])?["subject"] == .string("bash"))
        #expect(first(json["updates"])?["id"] == .string("tx-k3m7qa2z"))
        #expect(first(json["updates"])?["artifactSha256"] == .string(Fixtures.sha256))
        #expect(first(json["updates"])?["expiresMs"] == .int(Fixtures.nowMs + 86_100_000))
    }

    @Test func theTextListsToolApprovalsThenUpdatesWithTheirArtifactAndDeadline() throws {
        let listing = ApprovalsCommand.Listing(approvals: [try Self.toolApproval()], updates: [Fixtures.staged])
        #expect(
            ApprovalsCommand.render(listing, nowMs: Fixtures.nowMs) == """
                k7m2q9xa  bash (network), expires in 290 s
                    bash with network access to 127.0.0.1:8080
                    curl http://127.0.0.1:8080/
                tx-k3m7qa2z  self-update (artifact 3f1c9a2e4b5d), expires in 23h55m
                    Reply to /version with the running revision
                decide with: autonousctl approve ID | autonousctl reject ID
                a self-update's diffstat, tests and logs: autonousctl transaction ID
                """)
    }

    @Test func anUpdatePastItsDeadlineSaysItExpired() {
        var late = Fixtures.staged
        late.expiresMs = Fixtures.nowMs - 120_000
        let text = ApprovalsCommand.render(.init(approvals: [], updates: [late]), nowMs: Fixtures.nowMs)
        #expect(text.hasPrefix("tx-k3m7qa2z  self-update (artifact 3f1c9a2e4b5d), expired 2m0s ago\n"))
    }

    @Test func nothingWaitingSaysSo() {
        #expect(
            ApprovalsCommand.render(.init(approvals: [], updates: []), nowMs: Fixtures.nowMs)
                == "no approvals are waiting")
        #expect(
            ApprovalsCommand.render(.init(approvals: [], updates: nil), nowMs: Fixtures.nowMs)
                == "no approvals are waiting")
    }
}

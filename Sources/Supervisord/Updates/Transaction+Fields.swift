import AutonousCore
import Foundation

extension Transaction {
    /// Sets every field `update` names; nil fields stay as they are.
    mutating func apply(_ update: Update?) {
        guard let update else { return }
        if let commit = update.commit { self.commit = commit }
        if let sha256 = update.artifactSHA256 { artifactSHA256 = sha256 }
        if let diffstat = update.diffstat { self.diffstat = diffstat }
        if let passed = update.testsPassed { testsPassed = passed }
        if let failed = update.testsFailed { testsFailed = failed }
        if let expiresMs = update.expiresMs { self.expiresMs = expiresMs }
    }
}

extension Transaction.Update {
    /// The fields set, as an event payload.
    var payload: [String: JSONValue] {
        var payload: [String: JSONValue] = [:]
        if let commit { payload["commit"] = .string(commit) }
        if let artifactSHA256 { payload["artifact_sha256"] = .string(artifactSHA256) }
        if let diffstat { payload["diffstat"] = .string(diffstat) }
        if let testsPassed { payload["tests_passed"] = .int(Int64(testsPassed)) }
        if let testsFailed { payload["tests_failed"] = .int(Int64(testsFailed)) }
        if let expiresMs { payload["expires_ms"] = .int(expiresMs) }
        return payload
    }
}

extension TransactionStore {
    /// Refuses a proposal with an empty or malformed field before anything is written.
    static func validate(_ proposal: Transaction.Proposal) throws {
        func refuse(_ what: String) -> AutonousError {
            AutonousError(.invalidArgument, "cannot record the proposal: \(what)")
        }
        guard !proposal.title.trimmingCharacters(in: .whitespacesAndNewlines).isEmpty else {
            throw refuse("the title is empty")
        }
        guard !proposal.summary.trimmingCharacters(in: .whitespacesAndNewlines).isEmpty else {
            throw refuse("the summary is empty")
        }
        guard !proposal.requestedBy.isEmpty else { throw refuse("requested_by is empty") }
        guard ArtifactFiles.isSHA256(proposal.baseRevision) else {
            throw refuse("the base revision '\(proposal.baseRevision)' is not a sha256")
        }
        guard isCommit(proposal.baseCommit) else {
            throw refuse("the base commit '\(proposal.baseCommit)' is not a git commit id")
        }
        guard ArtifactFiles.isSHA256(proposal.patchSHA256) else {
            throw refuse("the patch sha256 '\(proposal.patchSHA256)' is not a sha256")
        }
        guard proposal.patchBytes > 0 else { throw refuse("the patch is empty") }
    }

    /// Refuses a field update with a malformed value.
    static func validate(_ update: Transaction.Update) throws {
        func refuse(_ what: String) -> AutonousError {
            AutonousError(.invalidArgument, "cannot update the transaction: \(what)")
        }
        if let commit = update.commit, !isCommit(commit) {
            throw refuse("the commit '\(commit)' is not a git commit id")
        }
        if let sha256 = update.artifactSHA256, !ArtifactFiles.isSHA256(sha256) {
            throw refuse("the artifact sha256 '\(sha256)' is not a sha256")
        }
        if let passed = update.testsPassed, passed < 0 { throw refuse("tests passed is negative") }
        if let failed = update.testsFailed, failed < 0 { throw refuse("tests failed is negative") }
    }

    /// A full git object id: 40 (SHA-1) or 64 (SHA-256) lowercase hex digits.
    static func isCommit(_ text: String) -> Bool {
        (text.utf8.count == 40 || text.utf8.count == 64) && ArtifactFiles.isLowercaseHex(text)
    }
}

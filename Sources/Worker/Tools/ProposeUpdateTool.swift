import AutonousCore
import Foundation

/// Who carries out a proposal: the supervisor, over `SupervisorLink`; tests put a stand-in here.
protocol UpdateProposing: Sendable {
    /// The agent's working copy, cloned from the running revision's commit when missing.
    func prepareWorkingCopy() async throws -> WorkerInterface.WorkingCopy
    /// Hands a patch to the supervisor; throws `VarlinkError` (`io.autonous.Worker.UpdateRefused` …) when it refuses.
    func proposeUpdate(_ request: WorkerInterface.ProposeUpdateRequest) async throws
        -> WorkerInterface.ProposeUpdateReply
}

/// `propose_update {summary, title?}`: proposes the agent's changes to autonous's own source as a self-update. It
/// asks the supervisor for the working copy (created from the running revision's commit when missing), takes the
/// working copy's diff against that commit with git in the Exec sandbox (`WorkingCopyDiff`), and hands the patch to
/// the supervisor, which checks, builds, tests and stages it for an admin's approval. The tool itself writes
/// nothing; everything after the patch is the supervisor's.
struct ProposeUpdateTool: Sendable {
    struct Arguments: Decodable, Equatable {
        var summary: String
        var title: String?
    }

    static let name = "propose_update"

    /// The longest default title, in characters.
    static let titleLimit = 80

    static let description =
        "Propose your changes to autonous's own source code as a self-update. Your working copy is the git "
        + "checkout autonous/ in the workspace, at the commit of the running revision (the first call creates it "
        + "when it is missing). Everything you changed there is proposed: commits, staged and unstaged changes, and "
        + "new files that are not ignored. The supervisor builds and tests the patch, and an admin decides whether "
        + "it is deployed. summary says what the change does and why; title is one line (default: the summary's "
        + "first line). Returns the transaction id, its state and what happens next."

    static let schema = """
        {"type":"object","properties":{"summary":{"type":"string","description":"what the change does and why"},\
        "title":{"type":"string","description":"one line; default: the summary's first line"}},\
        "required":["summary"],"additionalProperties":false}
        """

    /// What an admin is asked to approve, when the Exec tier asks.
    static func summary(_ arguments: Arguments) -> String {
        "propose_update: \(title(arguments).prefix(200))\n\(arguments.summary.prefix(1300))"
    }

    /// The title given, trimmed, or the summary's first line cut at `titleLimit` characters.
    static func title(_ arguments: Arguments) -> String {
        let given = arguments.title?.trimmingCharacters(in: .whitespacesAndNewlines) ?? ""
        if !given.isEmpty { return given }
        let summary = arguments.summary.trimmingCharacters(in: .whitespacesAndNewlines)
        let firstLine = summary.prefix { !$0.isNewline }.trimmingCharacters(in: .whitespaces)
        return String(firstLine.prefix(titleLimit)).trimmingCharacters(in: .whitespaces)
    }

    let supervisor: any UpdateProposing
    let diff: WorkingCopyDiff
    let origin: ToolCallOrigin

    /// Proposes the working copy's changes; every refusal is a failed result whose message the model can act on.
    func run(_ arguments: Arguments) async -> ToolResult {
        let stopwatch = Stopwatch()
        func failure(_ message: String) -> ToolResult {
            .failure(message, tier: .exec, durationMs: stopwatch.milliseconds)
        }
        let summary = arguments.summary.trimmingCharacters(in: .whitespacesAndNewlines)
        guard !summary.isEmpty else {
            return failure("summary is empty: say what the change does and why, then propose again")
        }
        let copy: WorkerInterface.WorkingCopy
        do {
            copy = try await supervisor.prepareWorkingCopy()
        } catch {
            return failure(Self.sentence(for: error, step: "to prepare the working copy"))
        }
        guard Self.isCommitID(copy.commit) else {
            return failure("the supervisor named no valid base commit for the working copy ('\(copy.commit)')")
        }
        let short = String(copy.commit.prefix(12))
        let patch: String
        switch await diff.take(path: copy.path, base: copy.commit) {
        case .patch(let text):
            patch = text
        case .empty where copy.created:
            return failure(
                "the working copy at \(copy.path) was just created from \(short) and has no changes yet; "
                    + "edit it, then propose again")
        case .empty:
            return failure("the working copy at \(copy.path) has no changes against \(short); nothing to propose")
        case .tooLarge(let bytes):
            return failure(
                "the patch of the working copy at \(copy.path) is \(bytes) bytes, more than the limit of "
                    + "\(diff.maxPatch) bytes (AUTONOUS_UPDATE_MAX_PATCH); propose a smaller change, and check "
                    + "that build output and large files are ignored (.gitignore)")
        case .failed(let reason):
            return failure(reason)
        }
        let request = WorkerInterface.ProposeUpdateRequest(
            patch: patch, base: copy.commit, summary: summary, title: Self.title(arguments), runId: origin.runID,
            requestedBy: origin.requestedBy)
        // A message over the varlink limit would make the supervisor drop the connection heartbeats share.
        let encoded = (try? JSONCoding.encoder.encode(request))?.count ?? Int.max
        guard encoded <= VarlinkConnection.maximumMessageSize - Self.messageOverhead else {
            return failure(
                "the patch of the working copy at \(copy.path) takes \(encoded) bytes as a message, more than the "
                    + "supervisor reads (\(VarlinkConnection.maximumMessageSize - Self.messageOverhead)); "
                    + "propose a smaller change")
        }
        let reply: WorkerInterface.ProposeUpdateReply
        do {
            reply = try await supervisor.proposeUpdate(request)
        } catch {
            return failure(Self.sentence(for: error, step: "to take the proposal"))
        }
        let text =
            "tx: \(reply.tx)\nstate: \(reply.state)\npatch: \(patch.utf8.count) bytes against \(short)\n"
            + reply.message
        return ToolResult(
            ok: true, exitCode: nil, stdout: text, stderr: "", stdoutTruncated: false, stderrTruncated: false,
            durationMs: stopwatch.milliseconds, tier: .exec, nextOffset: nil, hasMore: nil)
    }

    /// The supervisor's refusal verbatim; any other error in one sentence.
    static func sentence(for error: any Error, step: String) -> String {
        guard let error = error as? VarlinkError else {
            return "cannot reach the supervisor \(step): \(Redactor.shared.redact("\(error)"))"
        }
        if error.name == refusedError, let message = error.parameters["message"]?.stringValue { return message }
        return "the supervisor failed \(step): \(error.description)"
    }

    /// Room in a varlink message for the method name and the envelope around the parameters.
    static let messageOverhead = 1024

    /// The error the supervisor refuses a proposal with.
    static let refusedError = "io.autonous.Worker.UpdateRefused"

    /// 40 (SHA-1) or 64 (SHA-256) lowercase hex digits.
    static func isCommitID(_ text: String) -> Bool {
        (text.count == 40 || text.count == 64)
            && text.allSatisfy { ("0" ... "9").contains($0) || ("a" ... "f").contains($0) }
    }
}

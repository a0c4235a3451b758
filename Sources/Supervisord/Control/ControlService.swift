import AutonousCore
import Foundation
import Logging

#if canImport(Glibc)
import Glibc
#endif

/// `io.autonous.Control` on control.sock.
struct ControlService: VarlinkInterfaceHandler {
    let configuration: Configuration
    let manager: WorkerManager
    let relay: ChatRelay
    let inbox: Inbox
    let approvals: Approvals
    let startedAt: ContinuousClock.Instant
    let sandbox: ControlInterface.SandboxStatus
    let logger: Logger

    /// The longest message `Chat` accepts, in bytes.
    static let maximumChatLength = 64 * 1024

    var interfaceName: String { ControlInterface.name }
    var interfaceDescription: String { ControlInterface.description }

    func handle(_ call: VarlinkCall, replier: VarlinkReplier) async throws -> JSONValue {
        switch call.memberName {
        case "GetStatus":
            return try JSONValue.encode(status())
        case "Chat":
            let request = try call.decode(ControlInterface.ChatRequest.self)
            return try JSONValue.encode(try await chat(request, replier: replier))
        case "ListApprovals":
            let pending = try approvals.pending().map(ControlInterface.ApprovalInfo.init)
            return try JSONValue.encode(ControlInterface.ApprovalList(approvals: pending))
        case "DecideApproval":
            let request = try call.decode(ControlInterface.DecideApprovalRequest.self)
            return try JSONValue.encode(try decide(request, peer: call.peer))
        default:
            throw VarlinkError.methodNotFound(call.method)
        }
    }

    func status() throws -> ControlInterface.Status {
        let worker = manager.snapshot()
        let counts = (try? inbox.counts()) ?? InboxCounts()
        return ControlInterface.Status(
            supervisor: .init(
                pid: Int(getpid()), version: AutonousVersion.current, state: "running",
                uptimeSeconds: Int((ContinuousClock.now - startedAt).components.seconds)),
            worker: worker.status,
            inbox: counts,
            model: .init(
                configured: configuration.modelConfigured, model: configuration.model,
                baseURL: configuration.openAIBaseURL.absoluteString,
                hint: configuration.modelConfigured ? nil : ModelSetupHint.sentence),
            telegram: .init(
                enabled: configuration.telegramEnabled, allowedUsers: configuration.telegramAllowedUsers.count),
            sandbox: sandbox)
    }

    /// Records an operator's decision; the caller is named by its user (from SO_PEERCRED), never by what it says.
    private func decide(_ request: ControlInterface.DecideApprovalRequest, peer: PeerCredentials) throws
        -> ControlInterface.DecideApprovalResponse
    {
        guard Approvals.isWellFormedID(request.id) else {
            throw VarlinkError(
                "io.autonous.Control.InvalidValue",
                [
                    "parameter": .string("id"),
                    "message": .string("an approval id is 4 to 32 lowercase letters and digits, got '\(request.id)'"),
                ])
        }
        let decider = "\(Self.userName(peer.uid)) (uid \(peer.uid))"
        switch try approvals.decide(request.id, approve: request.approve, by: decider, via: .autonousctl) {
        case .decided(let approval):
            logger.notice(
                "approval decided",
                metadata: [
                    "approval.id": "\(approval.id)", "approval.status": "\(approval.status.rawValue)",
                    "approval.by": "\(decider)",
                ])
            return ControlInterface.DecideApprovalResponse(approval: .init(approval))
        case .notFound:
            throw VarlinkError("io.autonous.Control.NoSuchApproval", ["id": .string(request.id)])
        case .alreadyDecided(let approval):
            throw VarlinkError(
                "io.autonous.Control.ApprovalNotPending",
                [
                    "id": .string(approval.id), "status": .string(approval.status.rawValue),
                    "decidedBy": approval.decidedBy.map { .string($0) } ?? .null,
                ])
        case .expired(let approval):
            throw VarlinkError(
                "io.autonous.Control.ApprovalExpired",
                ["id": .string(approval.id), "expiresMs": .int(approval.expiresMs)])
        }
    }

    /// The login name of `uid`, or the number when it has none.
    static func userName(_ uid: uid_t) -> String {
        guard let entry = getpwuid(uid), let name = entry.pointee.pw_name else { return "uid:\(uid)" }
        return String(cString: name)
    }

    private func chat(_ request: ControlInterface.ChatRequest, replier: VarlinkReplier) async throws
        -> ControlInterface.ChatResponse
    {
        let text = request.text.trimmingCharacters(in: .whitespacesAndNewlines)
        guard !text.isEmpty else {
            throw VarlinkError(
                "io.autonous.Control.InvalidValue",
                ["parameter": .string("text"), "message": .string("the message is empty")])
        }
        guard text.utf8.count <= Self.maximumChatLength else {
            throw VarlinkError(
                "io.autonous.Control.InvalidValue",
                [
                    "parameter": .string("text"),
                    "message": .string("the message is longer than \(Self.maximumChatLength) bytes"),
                ])
        }
        let conversation = request.conversation ?? "operator"
        guard conversation.utf8.count <= 64,
            conversation.allSatisfy({ $0.isASCII && ($0.isLetter || $0.isNumber || "-_.".contains($0)) })
        else {
            throw VarlinkError(
                "io.autonous.Control.InvalidValue",
                [
                    "parameter": .string("conversation"),
                    "message": .string("use at most 64 letters, digits, '-', '_' or '.'"),
                ])
        }
        guard manager.snapshot().isReady else {
            let status = manager.snapshot().status
            throw VarlinkError(
                "io.autonous.Control.WorkerUnavailable",
                ["reason": .string("the worker is \(status.state)" + (status.lastError.map { " (\($0))" } ?? ""))])
        }
        let timeout = configuration.modelTimeout * (configuration.retryAttempts + 1) + .seconds(30)
        let relay = relay
        // A caller that hangs up ends the wait at once (its hang-up is an event on the connection).
        let outcome = try await replier.whileCallerListens {
            await relay.send(text: text, conversation: conversation, timeout: timeout)
        }
        switch outcome {
        case .answered(let reply, let runID):
            return ControlInterface.ChatResponse(reply: reply, runId: runID)
        case .failed(let message):
            throw VarlinkError("io.autonous.Control.ChatFailed", ["message": .string(message)])
        case .workerGone(let reason):
            throw VarlinkError("io.autonous.Control.WorkerUnavailable", ["reason": .string(reason)])
        }
    }
}

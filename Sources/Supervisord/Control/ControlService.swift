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
    /// The worker's database, read-only.
    let workerState: WorkerStateReader
    /// Both event logs, for `GetEvents`.
    let events: EventFeed
    let store: ArtifactStore
    let revisions: RevisionLog
    let pipeline: UpdatePipeline
    let startedAt: ContinuousClock.Instant
    let sandbox: ControlInterface.SandboxStatus
    let logger: Logger

    /// The longest message `Chat` accepts, in bytes.
    static let maximumChatLength = 64 * 1024

    var interfaceName: String { ControlInterface.name }
    var interfaceDescription: String { ControlInterface.description }

    func handle(_ call: VarlinkCall, replier: VarlinkReplier) async throws -> JSONValue {
        // Status is what monitoring asks for on a timer; it must not keep an idle supervisor from trimming.
        if call.memberName != "GetStatus" { IdleTrim.shared.noteActivity() }
        switch call.memberName {
        case "GetStatus":
            return try JSONValue.encode(status())
        case "Chat":
            let request = try call.decode(ControlInterface.ChatRequest.self)
            return try JSONValue.encode(try await chat(request, replier: replier))
        case "ListApprovals":
            // No worker database yet means no worker has asked anything yet.
            let pending = try (try? workerState.approvals())?.pending().map(ControlInterface.ApprovalInfo.init) ?? []
            return try JSONValue.encode(ControlInterface.ApprovalList(approvals: pending))
        case "GetEvents":
            return try await getEvents(call, replier: replier)
        case "ListRevisions":
            return try JSONValue.encode(ControlInterface.RevisionList(revisions: try revisionList()))
        case "Deploy":
            let request = try call.decode(ControlInterface.DeployRequest.self)
            return try JSONValue.encode(try await deploy(request, peer: call.peer, replier: replier))
        case "Rollback":
            let request = try call.decode(ControlInterface.RollbackRequest.self)
            return try JSONValue.encode(try rollback(request, peer: call.peer))
        case "ListTransactions":
            let request = try call.decode(ControlInterface.ListTransactionsRequest.self)
            return try JSONValue.encode(try transactionList(request))
        case "GetTransaction":
            let request = try call.decode(ControlInterface.GetTransactionRequest.self)
            return try JSONValue.encode(try transactionDetail(request))
        case "DecideUpdate":
            let request = try call.decode(ControlInterface.DecideUpdateRequest.self)
            return try JSONValue.encode(try decideUpdate(request, peer: call.peer))
        case "ListRuns":
            let request = try call.decode(ControlInterface.ListRunsRequest.self)
            return try JSONValue.encode(try runList(request))
        case "TraceRun":
            let request = try call.decode(ControlInterface.TraceRunRequest.self)
            return try JSONValue.encode(try runTrace(request))
        case "GetUsage":
            let request = try call.decode(ControlInterface.GetUsageRequest.self)
            return try JSONValue.encode(try usage(request))
        case "DecideApproval":
            let request = try call.decode(ControlInterface.DecideApprovalRequest.self)
            return try JSONValue.encode(try await decide(request, peer: call.peer, replier: replier))
        default:
            throw VarlinkError.methodNotFound(call.method)
        }
    }

    func status() throws -> ControlInterface.Status {
        let worker = manager.snapshot()
        let counts = (try? workerState.inbox().counts()) ?? InboxCounts()
        // No worker database yet (or none readable): no model call yet.
        let latest = try? workerState.database().pool.read { db in try ModelCallLog.latest(db) }
        return ControlInterface.Status(
            supervisor: .init(
                pid: Int(getpid()), version: AutonousVersion.current, state: "running",
                uptimeSeconds: Int((ContinuousClock.now - startedAt).components.seconds)),
            worker: worker.status,
            inbox: counts,
            model: .init(
                configured: configuration.modelConfigured, model: configuration.model,
                baseURL: configuration.openAIBaseURL.absoluteString,
                hint: configuration.modelConfigured ? nil : ModelSetupHint.sentence,
                provider: latest?.provider ?? configuration.modelProvider.rawValue,
                lastFatalError: latest?.fatalError, lastFatalErrorMs: latest?.fatalError == nil ? nil : latest?.tsMs),
            telegram: .init(
                enabled: configuration.telegramEnabled, allowedUsers: configuration.telegramAllowedUsers.count),
            sandbox: sandbox, revisions: worker.revisions)
    }

    /// Sends an operator's decision to the worker, which records it in its database (it owns the approvals) and
    /// wakes the waiting tool call. The caller is named by its user (from SO_PEERCRED), never by what it says.
    /// What needs no worker is answered from the read-only `approvals`: an unknown id, a decision already made,
    /// a deadline already passed (the worker records that expiry itself, at the deadline).
    private func decide(
        _ request: ControlInterface.DecideApprovalRequest, peer: PeerCredentials, replier: VarlinkReplier
    ) async throws -> ControlInterface.DecideApprovalResponse {
        guard Approvals.isWellFormedID(request.id) else {
            throw VarlinkError(
                "io.autonous.Control.InvalidValue",
                [
                    "parameter": .string("id"),
                    "message": .string("an approval id is 4 to 32 lowercase letters and digits, got '\(request.id)'"),
                ])
        }
        // No worker database yet: no worker has asked for anything.
        guard let current = try (try? workerState.approvals())?.approval(request.id) else {
            throw Self.noSuchApproval(request.id)
        }
        guard current.status == .pending else { throw Self.notPending(.init(current)) }
        guard AppDatabase.nowMilliseconds() < current.expiresMs else { throw Self.expired(.init(current)) }
        let worker = manager.snapshot()
        guard worker.isReady else {
            throw VarlinkError(
                "io.autonous.Control.WorkerUnavailable",
                [
                    "reason": .string(
                        "no worker is ready to record the decision (the worker is \(worker.status.state)); "
                            + "try again once `autonousctl status` shows it ready")
                ])
        }
        let decider = "\(Self.userName(peer.uid)) (uid \(peer.uid))"
        let (relay, id, approve) = (relay, request.id, request.approve)
        let outcome = try await replier.whileCallerListens {
            await relay.decide(approvalID: id, approve: approve, decidedBy: decider, timeout: .seconds(30))
        }
        let reply: WorkerInterface.DecisionReply
        switch outcome {
        case .recorded(let recorded): reply = recorded
        case .failed(let message):
            throw VarlinkError("io.autonous.Control.InternalError", ["message": .string(message)])
        case .workerGone(let reason):
            throw VarlinkError("io.autonous.Control.WorkerUnavailable", ["reason": .string(reason)])
        }
        switch (reply.outcome, reply.approval) {
        case (.decided, let approval?):
            logger.notice(
                "approval decided",
                metadata: [
                    "approval.id": "\(approval.id)", "approval.status": "\(approval.status)",
                    "approval.by": "\(decider)",
                ])
            return ControlInterface.DecideApprovalResponse(approval: approval)
        case (.alreadyDecided, let approval?): throw Self.notPending(approval)
        case (.expired, let approval?): throw Self.expired(approval)
        case (.notFound, _): throw Self.noSuchApproval(request.id)
        default:
            throw VarlinkError(
                "io.autonous.Control.InternalError",
                ["message": .string("the worker could not record the decision: \(reply.error ?? "no reason given")")])
        }
    }

    static func noSuchApproval(_ id: String) -> VarlinkError {
        VarlinkError("io.autonous.Control.NoSuchApproval", ["id": .string(id)])
    }

    static func notPending(_ approval: ControlInterface.ApprovalInfo) -> VarlinkError {
        VarlinkError(
            "io.autonous.Control.ApprovalNotPending",
            [
                "id": .string(approval.id), "status": .string(approval.status),
                "decidedBy": approval.decidedBy.map { .string($0) } ?? .null,
            ])
    }

    static func expired(_ approval: ControlInterface.ApprovalInfo) -> VarlinkError {
        VarlinkError(
            "io.autonous.Control.ApprovalExpired", ["id": .string(approval.id), "expiresMs": .int(approval.expiresMs)])
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
        let outcome: ChatRelay.Outcome
        do {
            outcome = try await replier.whileCallerListens {
                await relay.send(text: text, conversation: conversation, timeout: timeout)
            }
        } catch let hangUp as VarlinkReplier.CallerHungUp {
            // The run goes on in the worker (its answer stays in the conversation); only the wait ends.
            logger.info("chat caller hung up before the answer", metadata: ["conversation": "\(conversation)"])
            throw hangUp
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

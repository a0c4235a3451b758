import AutonousCore
import Foundation
import Logging

/// `io.autonous.Worker` on worker.sock: the spawned worker's hello, readiness, heartbeats, notices and answers.
///
/// Nothing here lets the worker decide for the supervisor: a DecisionReply only reports what the worker recorded
/// for a decision the supervisor sent it, and is accepted only for a notice still waiting for its answer.
struct WorkerService: VarlinkInterfaceHandler {
    let manager: WorkerManager
    let relay: ChatRelay
    /// Takes proposals and working-copy requests; decides nothing on the worker's word.
    let pipeline: UpdatePipeline
    let heartbeatInterval: Duration
    /// `AUTONOUS_TELEGRAM_ADMINS`: who may ask for a rollback from Telegram.
    let admins: [Int64]
    let logger: Logger

    var interfaceName: String { WorkerInterface.name }
    var interfaceDescription: String { WorkerInterface.description }

    func handle(_ call: VarlinkCall, replier: VarlinkReplier) async throws -> JSONValue {
        // The socket admits only the current worker, but that worker may have been replaced since it connected.
        guard let workerPID = manager.workerPID(for: call.peer) else {
            throw VarlinkError("io.autonous.Worker.NotYourWorker", ["pid": .int(Int64(call.peer.pid))])
        }
        if call.memberName != "Heartbeat" { IdleTrim.shared.noteActivity() }
        switch call.memberName {
        case "Hello":
            let hello = try call.decode(WorkerInterface.Hello.self)
            guard manager.hello(pid: workerPID, claimed: hello.revision) else {
                logger.warning(
                    "worker named another revision than the one started",
                    metadata: ["worker.pid": "\(workerPID)", "revision.claimed": "\(hello.revision)"])
                throw VarlinkError(
                    "io.autonous.Worker.WrongRevision",
                    [
                        "expected": .string(manager.expectedRevision(pid: workerPID) ?? ""),
                        "claimed": .string(hello.revision),
                    ])
            }
            logger.info(
                "worker said hello",
                metadata: [
                    "worker.pid": "\(call.peer.pid)", "worker.launcher_pid": "\(workerPID)",
                    "revision": "\(hello.revision)",
                ])
            return try JSONValue.encode(
                WorkerInterface.HelloReply(
                    parentEventId: manager.currentSpawnEventID() ?? 0,
                    heartbeatIntervalMs: Int(heartbeatInterval.wholeMilliseconds)))
        case "Ready":
            manager.deliver(.ready(pid: workerPID))
            // Starting the supervisor and then a worker touched code that idling will not run again.
            IdleTrim.shared.enable()
            return .object([:])
        case "Heartbeat":
            let heartbeat = try call.decode(WorkerInterface.Heartbeat.self)
            manager.heartbeat(pid: workerPID, counters: heartbeat.counters)
            return .object([:])
        case "Subscribe":
            guard call.more else { throw VarlinkError.expectedMore() }
            return try await subscribe(call, replier: replier)
        case "ChatReply":
            let reply = try call.decode(WorkerInterface.ChatReply.self)
            let outcome: ChatRelay.Outcome =
                if let text = reply.text { .answered(text: text, runID: reply.runId) } else {
                    .failed(reply.error ?? "the worker gave no answer")
                }
            guard relay.deliver(id: reply.id, outcome: outcome) else {
                throw VarlinkError("io.autonous.Worker.UnknownChat", ["id": .string(reply.id)])
            }
            return .object([:])
        case "RequestRollback":
            let request = try call.decode(WorkerInterface.RollbackRequest.self)
            return try JSONValue.encode(try rollback(request))
        case "PrepareWorkingCopy":
            do {
                return try JSONValue.encode(try await pipeline.prepareWorkingCopy())
            } catch let refusal as UpdatePipeline.Refusal {
                throw VarlinkError("io.autonous.Worker.UpdateRefused", ["message": .string(refusal.message)])
            }
        case "ProposeUpdate":
            let request = try call.decode(WorkerInterface.ProposeUpdateRequest.self)
            do {
                return try JSONValue.encode(try await pipeline.propose(request))
            } catch let refusal as UpdatePipeline.Refusal {
                logger.notice("a self-update proposal was refused", metadata: ["reason": "\(refusal.message)"])
                throw VarlinkError("io.autonous.Worker.UpdateRefused", ["message": .string(refusal.message)])
            }
        case "DecideUpdate":
            let request = try call.decode(WorkerInterface.DecideUpdateRequest.self)
            return try JSONValue.encode(try decideUpdate(request, relayingPID: workerPID))
        case "DecisionReply":
            let reply = try call.decode(WorkerInterface.DecisionReply.self)
            guard relay.deliverDecision(reply) else {
                throw VarlinkError("io.autonous.Worker.UnknownDecision", ["id": .string(reply.id)])
            }
            return .object([:])
        default:
            throw VarlinkError.methodNotFound(call.method)
        }
    }

    /// A Telegram button press on a staged self-update as the worker relays it: every rule (the sender is an admin,
    /// the tx and sha256 match, the deadline, the approval mode, the relaying worker is the last-good revision and
    /// not on probation) is checked by the pipeline on the supervisor's own state.
    private func decideUpdate(_ request: WorkerInterface.DecideUpdateRequest, relayingPID: Int32) throws
        -> WorkerInterface.DecideUpdateReply
    {
        guard Transaction.isWellFormedID(request.tx) else {
            throw VarlinkError(
                "io.autonous.Worker.UpdateDecisionRefused",
                ["message": .string("'\(request.tx.prefix(40))' is not a transaction id")])
        }
        let decision = UpdateDecisionRequest(
            transactionID: request.tx, artifactSHA256: request.sha256, decision: request.approve ? .approve : .reject,
            via: .telegram(userID: request.requestedBy))
        do {
            let (transaction, message) = try pipeline.decide(decision, relayingPID: relayingPID)
            return WorkerInterface.DecideUpdateReply(state: transaction.state.rawValue, message: message)
        } catch TransactionError.notFound {
            throw VarlinkError(
                "io.autonous.Worker.UpdateDecisionRefused",
                ["message": .string("there is no transaction \(request.tx)")])
        } catch let refusal as UpdateApprovalError {
            logger.warning(
                "a relayed self-update decision was refused",
                metadata: [
                    "tx": "\(request.tx)", "telegram.user": "\(request.requestedBy)",
                    "reason": "\(refusal.description)",
                ])
            throw VarlinkError("io.autonous.Worker.UpdateDecisionRefused", ["message": .string(refusal.description)])
        }
    }

    /// A Telegram admin's /rollback as the worker relays it: the supervisor checks the sender against its own
    /// configuration and the target against its own store; the worker's word counts for nothing else.
    private func rollback(_ request: WorkerInterface.RollbackRequest) throws -> WorkerInterface.RollbackReply {
        guard admins.contains(request.requestedBy) else {
            logger.warning(
                "a rollback request from a non-admin was refused", metadata: ["telegram.user": "\(request.requestedBy)"]
            )
            throw VarlinkError("io.autonous.Worker.NotAnAdmin", ["requestedBy": .int(request.requestedBy)])
        }
        do {
            let revision = try manager.rollback(
                to: request.target, requestedBy: "Telegram admin \(request.requestedBy)")
            return WorkerInterface.RollbackReply(
                revision: revision,
                message:
                    "Rolling back to revision \(revision.prefix(12)); it starts in a moment as current and last-good.")
        } catch let refusal as RevisionRefusal {
            throw VarlinkError("io.autonous.Worker.RollbackRefused", ["message": .string(refusal.message)])
        } catch let error as ArtifactStore.ResolveError {
            throw VarlinkError("io.autonous.Worker.RollbackRefused", ["message": .string("\(error)")])
        }
    }

    /// Streams notices until the worker hangs up or is replaced; each notice is sent as soon as it is queued.
    private func subscribe(_ call: VarlinkCall, replier: VarlinkReplier) async throws -> JSONValue {
        let notices = relay.notices
        let generation = notices.subscribe()
        let manager = manager
        let peer = call.peer
        try await replier.whileCallerListens {
            while let notice = try await notices.next(generation) {
                guard manager.isCurrentWorker(peer) else {
                    notices.requeue(notice)
                    return
                }
                do {
                    try await replier.send(WorkerInterface.NoticeReply(notice: notice))
                } catch {
                    // The worker went away mid-send: the notice waits for the next worker (or its caller gives up).
                    notices.requeue(notice)
                    throw error
                }
            }
        }
        return try JSONValue.encode(WorkerInterface.NoticeReply(notice: .init(kind: "end")))
    }
}

import AutonousCore
import Foundation
import Logging

#if canImport(Glibc)
import Glibc
#endif

/// The worker's connection to its supervisor over worker.sock: Hello, Ready, heartbeats, the notice stream and
/// answers. Every call is async on a non-blocking socket, so no thread of the pool waits on the supervisor.
///
/// Heartbeats and the short calls (Ready, the answers to notices) share one connection and take turns; the notice
/// stream has a connection of its own, and so does each request that makes the supervisor work before it answers
/// (PrepareWorkingCopy clones a repository, ProposeUpdate checks a patch, DecideUpdate and RequestRollback decide):
/// a heartbeat never waits behind one of those, or a slow clone would make the supervisor take the worker for hung
/// (AUTONOUS_WORKER_HEARTBEAT_TIMEOUT). When the supervisor goes away the worker must stop (it never runs
/// unsupervised): `HeartbeatService` and `SupervisorNoticeService` then throw `SupervisorLost`, which ends the
/// service group.
final class SupervisorLink: RollbackRequesting, UpdateProposing, UpdateDeciding {
    let parentEventID: Int64
    let heartbeatInterval: Duration
    private let path: String
    private let client: AsyncVarlinkClient
    private let logger: Logger

    private init(
        path: String, client: AsyncVarlinkClient, reply: WorkerInterface.HelloReply, logger: Logger
    ) {
        self.path = path
        self.client = client
        self.logger = logger
        parentEventID = reply.parentEventId
        heartbeatInterval = .milliseconds(max(50, reply.heartbeatIntervalMs))
    }

    /// Connects and says Hello.
    ///
    /// - Throws: `WrongRevision` when the supervisor started another revision than `revision` (retrying cannot
    ///   help: the worker must exit); other errors when the socket or the call fails.
    static func connect(path: String, revision: String, logger: Logger) async throws -> SupervisorLink {
        let client = try AsyncVarlinkClient(path: path)
        let reply: WorkerInterface.HelloReply
        do {
            reply = try await client.call(
                "io.autonous.Worker.Hello",
                WorkerInterface.Hello(revision: revision, pid: Int(getpid()), version: AutonousVersion.current),
                as: WorkerInterface.HelloReply.self)
        } catch let error as VarlinkError where error.name == WrongRevision.errorName {
            client.close()
            throw WrongRevision(
                expected: error.parameters["expected"]?.stringValue ?? "unknown",
                claimed: error.parameters["claimed"]?.stringValue ?? revision)
        }
        return SupervisorLink(path: path, client: client, reply: reply, logger: logger)
    }

    private func call<P: Encodable & Sendable>(_ method: String, _ parameters: P) async throws {
        _ = try await client.call(method, parameters, as: JSONValue.self)
    }

    /// Calls `method` on a connection opened for this call alone and closed after it, so the shared connection (and
    /// the heartbeats on it) never waits for the answer. The supervisor admits the connection by the caller's pid,
    /// like the first. A cancelled call leaves only its own connection out of step, and that one is closed.
    private func callAlone<P: Encodable & Sendable, R: Decodable & Sendable>(
        _ method: String, _ parameters: P, as type: R.Type
    ) async throws -> R {
        let own = try AsyncVarlinkClient(path: path)
        defer { own.close() }
        return try await own.call(method, parameters, as: type)
    }

    func ready() async throws {
        try await call("io.autonous.Worker.Ready", NoParameters())
    }

    /// Sends one heartbeat with `counters`.
    func heartbeat(_ counters: WorkerInterface.Counters) async throws {
        try await call("io.autonous.Worker.Heartbeat", WorkerInterface.Heartbeat(counters: counters))
    }

    /// Answers a chat notice; an answer the supervisor no longer waits for is logged and dropped.
    func chatReply(id: String, text: String?, error: String?, runID: String?) async {
        do {
            try await call(
                "io.autonous.Worker.ChatReply",
                WorkerInterface.ChatReply(id: id, text: text, error: error, runId: runID))
        } catch {
            logger.warning("chat answer not delivered", metadata: ["chat.id": "\(id)", "error": "\(error)"])
        }
    }

    /// Reports what was recorded for a decide notice; a report the supervisor no longer waits for is logged.
    func decisionReply(_ reply: WorkerInterface.DecisionReply) async {
        do {
            try await call("io.autonous.Worker.DecisionReply", reply)
        } catch {
            logger.warning(
                "decision report not delivered", metadata: ["decision.id": "\(reply.id)", "error": "\(error)"])
        }
    }

    /// Relays a Telegram admin's /rollback; the supervisor checks the sender itself.
    ///
    /// - Throws: `VarlinkError` as the supervisor answered (`NotAnAdmin`, `RollbackRefused` …), or the
    ///   connection's error.
    func requestRollback(_ request: WorkerInterface.RollbackRequest) async throws -> WorkerInterface.RollbackReply {
        try await callAlone("io.autonous.Worker.RequestRollback", request, as: WorkerInterface.RollbackReply.self)
    }

    /// Asks for the agent's working copy of autonous; the supervisor clones the running revision's commit into the
    /// workspace when nothing is there yet.
    ///
    /// - Throws: `VarlinkError` as the supervisor answered (`UpdateRefused` when it has no source …), or the
    ///   connection's error.
    func prepareWorkingCopy() async throws -> WorkerInterface.WorkingCopy {
        try await callAlone(
            "io.autonous.Worker.PrepareWorkingCopy", NoParameters(), as: WorkerInterface.WorkingCopy.self)
    }

    /// Proposes a self-update; the supervisor checks the patch itself and answers with the new transaction.
    ///
    /// - Throws: `VarlinkError` as the supervisor answered (`UpdateRefused` with its reason …), or the
    ///   connection's error.
    func proposeUpdate(_ request: WorkerInterface.ProposeUpdateRequest) async throws
        -> WorkerInterface.ProposeUpdateReply
    {
        try await callAlone("io.autonous.Worker.ProposeUpdate", request, as: WorkerInterface.ProposeUpdateReply.self)
    }

    /// Relays a press on a staged update's Approve or Reject button; the supervisor checks everything itself (the
    /// sender is an admin, the tx and sha256 match the staged artifact, the deadline, the approval mode, and that
    /// this worker is the promoted last-good revision).
    ///
    /// - Throws: `VarlinkError` as the supervisor answered (`UpdateDecisionRefused` with its sentence …), or the
    ///   connection's error.
    func decideUpdate(_ request: WorkerInterface.DecideUpdateRequest) async throws -> WorkerInterface.DecideUpdateReply
    {
        try await callAlone("io.autonous.Worker.DecideUpdate", request, as: WorkerInterface.DecideUpdateReply.self)
    }

    /// Subscribes on a second connection and hands each notice to `onNotice` until the stream ends.
    ///
    /// - Throws: `SupervisorLost` when the supervisor ends the stream or the connection fails;
    ///   `CancellationError` when cancelled.
    func receiveNotices(_ onNotice: @Sendable (WorkerInterface.Notice) async -> Void) async throws {
        let stream: AsyncVarlinkClient
        do {
            stream = try AsyncVarlinkClient(path: path)
        } catch {
            throw SupervisorLost("cannot open the notice stream: \(error)")
        }
        defer { stream.close() }
        do {
            try await stream.stream("io.autonous.Worker.Subscribe", NoParameters()) { parameters in
                let reply = try parameters.decode(WorkerInterface.NoticeReply.self)
                if reply.notice.kind != "end" { await onNotice(reply.notice) }
                return true
            }
        } catch is CancellationError {
            throw CancellationError()
        } catch {
            throw SupervisorLost("the notice stream failed: \(error)")
        }
        throw SupervisorLost("the supervisor ended the notice stream")
    }
}

/// The supervisor stopped answering or hung up: the worker must exit (non-zero) rather than run unsupervised.
struct SupervisorLost: Error, CustomStringConvertible {
    let reason: String

    init(_ reason: String) {
        self.reason = reason
    }

    var description: String { "lost the supervisor: \(reason)" }
}

/// The supervisor answered Hello with `io.autonous.Worker.WrongRevision`: it started another revision than this
/// binary says it is (AUTONOUS_REVISION). The worker exits with status 1 instead of retrying: the same binary would
/// be refused again.
struct WrongRevision: Error, CustomStringConvertible, Equatable {
    static let errorName = "io.autonous.Worker.WrongRevision"

    let expected: String
    let claimed: String

    var description: String {
        "the supervisor started revision \(expected), but this worker is revision \(claimed) (AUTONOUS_REVISION)"
    }
}

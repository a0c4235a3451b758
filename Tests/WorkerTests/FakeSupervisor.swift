import AutonousCore
import Foundation
import Logging
import Synchronization

@testable import Worker

/// A stand-in supervisor on a temporary worker.sock: answers Hello with a 50 ms heartbeat interval, records
/// heartbeats (failing them when told), ends the notice stream after `notices`, hands out `workingCopy` (when
/// `holdWorkingCopy`, only after `releaseWorkingCopy()`, as a slow clone would), and records each proposal and
/// relayed update decision and answers them with `proposal` and `decision`.
final class FakeSupervisor: VarlinkInterfaceHandler, Sendable {
    let heartbeats = Mutex<[WorkerInterface.Counters]>([])
    let failHeartbeats: Bool
    let notices: [WorkerInterface.Notice]
    /// The revision Hello must name; nil: any.
    let expectedRevision: String?
    /// PrepareWorkingCopy's answer.
    let workingCopy: WorkerInterface.WorkingCopy
    /// ProposeUpdate's answer.
    let proposal: Result<WorkerInterface.ProposeUpdateReply, VarlinkError>
    /// PrepareWorkingCopy answers only after `releaseWorkingCopy()`.
    let holdWorkingCopy: Bool
    /// DecideUpdate's answer.
    let decision: Result<WorkerInterface.DecideUpdateReply, VarlinkError>
    let workingCopyCalls = Mutex(0)
    let proposals = Mutex<[WorkerInterface.ProposeUpdateRequest]>([])
    let decisions = Mutex<[WorkerInterface.DecideUpdateRequest]>([])
    private let workingCopyGate = AsyncStream<Void>.makeStream()

    init(
        failHeartbeats: Bool = false, notices: [WorkerInterface.Notice] = [], expectedRevision: String? = nil,
        workingCopy: WorkerInterface.WorkingCopy = .init(commit: "", path: "autonous", created: false),
        holdWorkingCopy: Bool = false,
        proposal: Result<WorkerInterface.ProposeUpdateReply, VarlinkError> = .success(
            .init(tx: "tx-1", state: "created", message: "The supervisor builds and tests it next.")),
        decision: Result<WorkerInterface.DecideUpdateReply, VarlinkError> = .success(
            .init(state: "approved", message: "approved tx-k3m7qa2z; it deploys now"))
    ) {
        self.failHeartbeats = failHeartbeats
        self.notices = notices
        self.expectedRevision = expectedRevision
        self.workingCopy = workingCopy
        self.holdWorkingCopy = holdWorkingCopy
        self.proposal = proposal
        self.decision = decision
    }

    /// Lets a held PrepareWorkingCopy answer.
    func releaseWorkingCopy() {
        workingCopyGate.continuation.yield()
    }

    var interfaceName: String { WorkerInterface.name }
    var interfaceDescription: String { WorkerInterface.description }

    func handle(_ call: VarlinkCall, replier: VarlinkReplier) async throws -> JSONValue {
        switch call.memberName {
        case "Hello":
            let hello = try call.decode(WorkerInterface.Hello.self)
            if let expectedRevision, hello.revision != expectedRevision {
                throw VarlinkError(
                    WrongRevision.errorName,
                    ["expected": .string(expectedRevision), "claimed": .string(hello.revision)])
            }
            return try JSONValue.encode(WorkerInterface.HelloReply(parentEventId: 1, heartbeatIntervalMs: 50))
        case "Heartbeat":
            if failHeartbeats { throw VarlinkError("io.autonous.Worker.NotYourWorker", ["pid": .int(0)]) }
            let heartbeat = try call.decode(WorkerInterface.Heartbeat.self)
            heartbeats.withLock { $0.append(heartbeat.counters) }
            return .object([:])
        case "Subscribe":
            for notice in notices { try await replier.send(WorkerInterface.NoticeReply(notice: notice)) }
            return try JSONValue.encode(WorkerInterface.NoticeReply(notice: .init(kind: "end")))
        case "PrepareWorkingCopy":
            workingCopyCalls.withLock { $0 += 1 }
            if holdWorkingCopy {
                for await _ in workingCopyGate.stream { break }
            }
            return try JSONValue.encode(workingCopy)
        case "ProposeUpdate":
            let request = try call.decode(WorkerInterface.ProposeUpdateRequest.self)
            proposals.withLock { $0.append(request) }
            return try JSONValue.encode(try proposal.get())
        case "DecideUpdate":
            let request = try call.decode(WorkerInterface.DecideUpdateRequest.self)
            decisions.withLock { $0.append(request) }
            return try JSONValue.encode(try decision.get())
        default:
            throw VarlinkError.methodNotFound(call.method)
        }
    }
}

/// Runs `body` with `supervisor` serving a temporary directory's worker.sock.
func withSupervisor(_ supervisor: FakeSupervisor, _ body: (String) async throws -> Void) async throws {
    let directory = FileManager.default.temporaryDirectory.appendingPathComponent("sl-" + UUID().uuidString).path
    try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
    defer { try? FileManager.default.removeItem(atPath: directory) }
    let server = VarlinkServer(
        path: directory + "/worker.sock", mode: 0o600,
        info: VarlinkServiceInfo(vendor: "autonous", product: "test", version: "1", url: "https://example.org"),
        interfaces: [supervisor], logger: Logger(label: "test"), authorize: { _ in nil })
    try server.bind()
    let running = Task { try await server.run() }
    defer { running.cancel() }
    try await body(directory)
}

/// Runs `body` with a link to `supervisor` and a fresh worker database.
func withLink(_ supervisor: FakeSupervisor, _ body: (SupervisorLink, AppDatabase) async throws -> Void) async throws {
    try await withSupervisor(supervisor) { directory in
        let link = try await SupervisorLink.connect(
            path: directory + "/worker.sock", revision: "test", logger: Logger(label: "test"))
        try await body(link, try AppDatabase(path: directory + "/worker.db", role: .worker))
    }
}

import AutonousCore
import Foundation
import Logging
import Synchronization
import Testing

@testable import Worker

/// A stand-in supervisor on a temporary worker.sock: answers Hello with a 50 ms heartbeat interval, records
/// heartbeats (failing them when told), and ends the notice stream after `notices`.
private final class FakeSupervisor: VarlinkInterfaceHandler, Sendable {
    let heartbeats = Mutex<[WorkerInterface.Counters]>([])
    let failHeartbeats: Bool
    let notices: [WorkerInterface.Notice]
    /// The revision Hello must name; nil: any.
    let expectedRevision: String?

    init(failHeartbeats: Bool = false, notices: [WorkerInterface.Notice] = [], expectedRevision: String? = nil) {
        self.failHeartbeats = failHeartbeats
        self.notices = notices
        self.expectedRevision = expectedRevision
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
        default:
            throw VarlinkError.methodNotFound(call.method)
        }
    }
}

@Suite(.serialized) struct SupervisorLinkTests {
    /// Runs `body` with `supervisor` serving a temporary directory's worker.sock.
    private func withSupervisor(_ supervisor: FakeSupervisor, _ body: (String) async throws -> Void) async throws {
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
    private func withLink(
        _ supervisor: FakeSupervisor, _ body: (SupervisorLink, AppDatabase) async throws -> Void
    ) async throws {
        try await withSupervisor(supervisor) { directory in
            let link = try await SupervisorLink.connect(
                path: directory + "/worker.sock", revision: "test", logger: Logger(label: "test"))
            try await body(link, try AppDatabase(path: directory + "/worker.db", role: .worker))
        }
    }

    @Test func aHelloWithTheWrongRevisionThrowsWrongRevision() async throws {
        try await withSupervisor(FakeSupervisor(expectedRevision: "aaaa1111")) { directory in
            await #expect(throws: WrongRevision(expected: "aaaa1111", claimed: "bbbb2222")) {
                _ = try await SupervisorLink.connect(
                    path: directory + "/worker.sock", revision: "bbbb2222", logger: Logger(label: "test"))
            }
        }
    }

    @Test func heartbeatsCarryTheCountersAndTheBacklogs() async throws {
        let supervisor = FakeSupervisor()
        try await withLink(supervisor) { link, database in
            #expect(link.heartbeatInterval == .milliseconds(50))
            let counters = WorkerCounters()
            counters.pollCompleted(at: 1234)
            counters.runStarted()
            let service = HeartbeatService(
                link: link, counters: counters, inbox: Inbox(database: database), outbox: Outbox(database: database))
            let running = Task { try await service.run() }
            let arrived = await eventually { supervisor.heartbeats.withLock { !$0.isEmpty } }
            running.cancel()
            try await running.value
            #expect(arrived)
            let first = try #require(supervisor.heartbeats.withLock { $0.first })
            #expect(first.lastPollCompletedMs == 1234)
            #expect(first.runsInFlight == 1)
            #expect(first.outboxBacklog == 0)
            #expect(first.oldestUnansweredMs == nil)
        }
    }

    @Test func aRefusedHeartbeatEndsTheServiceWithSupervisorLost() async throws {
        try await withLink(FakeSupervisor(failHeartbeats: true)) { link, database in
            let service = HeartbeatService(
                link: link, counters: WorkerCounters(), inbox: Inbox(database: database),
                outbox: Outbox(database: database))
            await #expect(throws: SupervisorLost.self) { try await service.run() }
        }
    }

    @Test func anEndedNoticeStreamEndsTheServiceWithSupervisorLost() async throws {
        let chat = WorkerInterface.Notice(kind: "chat", id: "c1", text: "hi", conversation: "ops")
        try await withLink(FakeSupervisor(notices: [chat])) { link, _ in
            let received = Mutex<[WorkerInterface.Notice]>([])
            let service = SupervisorNoticeService(link: link) { notice in received.withLock { $0.append(notice) } }
            await #expect(throws: SupervisorLost.self) { try await service.run() }
            #expect(received.withLock { $0 } == [chat])
        }
    }
}

/// True once `condition` holds, checked every 10 ms for up to `timeout`.
private func eventually(timeout: Duration = .seconds(10), _ condition: () -> Bool) async -> Bool {
    let deadline = ContinuousClock.now + timeout
    while ContinuousClock.now < deadline {
        if condition() { return true }
        try? await Task.sleep(for: .milliseconds(10))
    }
    return condition()
}

import AutonousCore
import Foundation
import Logging
import Synchronization

#if canImport(Glibc)
import Glibc
#endif

/// The worker's connection to its supervisor over worker.sock: Hello, Ready, heartbeats, the notice stream and
/// chat answers. When the supervisor goes away the worker exits: it must never run unsupervised.
final class SupervisorLink: Sendable {
    let parentEventID: Int64
    let heartbeatInterval: Duration
    private let path: String
    private let client: VarlinkClient
    private let callLock = Mutex<Void>(())
    private let logger: Logger

    /// Connects and says Hello.
    init(path: String, revision: String, logger: Logger) throws {
        self.path = path
        self.logger = logger
        client = try VarlinkClient(path: path)
        let reply = try client.call(
            "io.autonous.Worker.Hello",
            WorkerInterface.Hello(revision: revision, pid: Int(getpid()), version: AutonousVersion.current),
            as: WorkerInterface.HelloReply.self)
        parentEventID = reply.parentEventId
        heartbeatInterval = .milliseconds(max(50, reply.heartbeatIntervalMs))
    }

    private func call<P: Encodable>(_ method: String, _ parameters: P) throws {
        try callLock.withLock { _ in
            _ = try client.call(method, parameters, as: JSONValue.self)
        }
    }

    func ready() throws {
        try call("io.autonous.Worker.Ready", NoParameters())
    }

    /// Answers a chat notice; an answer the supervisor no longer waits for is logged and dropped.
    func chatReply(id: String, text: String?, error: String?, runID: String?) {
        do {
            try call(
                "io.autonous.Worker.ChatReply",
                WorkerInterface.ChatReply(id: id, text: text, error: error, runId: runID))
        } catch {
            logger.warning("chat answer not delivered", metadata: ["chat.id": "\(id)", "error": "\(error)"])
        }
    }

    /// Starts the heartbeat thread; it exits the process if the supervisor stops answering.
    func startHeartbeats(counters: WorkerCounters) {
        let thread = Thread { [self] in
            while true {
                Thread.sleep(forTimeInterval: Double(heartbeatInterval.wholeMilliseconds) / 1000)
                do {
                    try call("io.autonous.Worker.Heartbeat", WorkerInterface.Heartbeat(counters: counters.snapshot))
                } catch {
                    lost("heartbeat failed: \(error)")
                }
            }
        }
        thread.name = "heartbeat"
        thread.start()
    }

    /// Starts the notice stream on a second connection; each notice goes to `onNotice`.
    func startNotices(onNotice: @escaping @Sendable (WorkerInterface.Notice) -> Void) {
        let thread = Thread { [self] in
            do {
                let stream = try VarlinkClient(path: path)
                try stream.stream("io.autonous.Worker.Subscribe", NoParameters()) { parameters in
                    let reply = try parameters.decode(WorkerInterface.NoticeReply.self)
                    if reply.notice.kind != "end" { onNotice(reply.notice) }
                    return true
                }
                lost("the supervisor ended the notice stream")
            } catch {
                lost("notice stream failed: \(error)")
            }
        }
        thread.name = "notices"
        thread.start()
    }

    private func lost(_ reason: String) -> Never {
        logger.critical("lost the supervisor; exiting", metadata: ["reason": "\(reason)"])
        exit(70)
    }
}

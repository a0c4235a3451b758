import AutonousCore
import ServiceLifecycle

/// Receives the supervisor's notices (local chats, decisions) and hands each to `sink`. Ends with `SupervisorLost`
/// when the supervisor ends the stream, which shuts the worker's service group down; on graceful shutdown it just
/// stops.
struct SupervisorNoticeService: Service {
    let link: SupervisorLink
    let sink: @Sendable (WorkerInterface.Notice) async -> Void

    func run() async throws {
        do {
            try await cancelWhenGracefulShutdown { [link, sink] in
                try await link.receiveNotices(sink)
            }
        } catch is CancellationError {
            return
        }
    }
}

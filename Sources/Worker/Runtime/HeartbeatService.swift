import AutonousCore
import ServiceLifecycle

/// Sends a heartbeat with the worker's progress counters, its outbox backlog and its oldest unanswered message
/// every interval the supervisor asked for (in its HelloReply). A heartbeat that fails, or gets no answer within `answerTimeout`, ends the service with
/// `SupervisorLost`, which shuts the service group down and makes the worker exit non-zero.
struct HeartbeatService: Service {
    let link: SupervisorLink
    let counters: WorkerCounters
    let inbox: Inbox
    let outbox: Outbox
    let clock: any Clock<Duration>

    init(
        link: SupervisorLink, counters: WorkerCounters, inbox: Inbox, outbox: Outbox,
        clock: any Clock<Duration> = ContinuousClock()
    ) {
        self.link = link
        self.counters = counters
        self.inbox = inbox
        self.outbox = outbox
        self.clock = clock
    }

    /// The counters plus what the database says now (a field the database cannot say is left out).
    func progress() -> WorkerInterface.Counters {
        var progress = counters.snapshot
        progress.outboxBacklog = try? outbox.backlog()
        progress.oldestUnansweredMs = (try? inbox.oldestUnansweredMs()) ?? nil
        return progress
    }

    /// How long one heartbeat may wait for the supervisor's answer.
    var answerTimeout: Duration { max(.seconds(5), link.heartbeatInterval * 3) }

    func run() async throws {
        do {
            try await cancelWhenGracefulShutdown { [self] in
                while true {
                    try await clock.sleep(for: link.heartbeatInterval)
                    try await beat()
                }
            }
        } catch is CancellationError {
            return
        }
    }

    /// One heartbeat: a race between the supervisor's answer and `answerTimeout`; the loser is cancelled.
    private func beat() async throws {
        let (link, snapshot) = (link, progress())
        do {
            try await withDeadline(answerTimeout, clock: clock, "a heartbeat") { try await link.heartbeat(snapshot) }
        } catch is CancellationError {
            throw CancellationError()
        } catch let error as AutonousError where error.code == .timeout {
            throw SupervisorLost("the supervisor did not answer a heartbeat within \(answerTimeout)")
        } catch {
            throw SupervisorLost("heartbeat failed: \(error)")
        }
    }
}

import AutonousCore
import Logging
import ServiceLifecycle

/// Answers chat messages that operators send with `autonousctl chat`, relayed by the supervisor as notices.
struct LocalCommander: Service {
    let agent: Agent
    let link: SupervisorLink
    let notices: AsyncStream<WorkerInterface.Notice>
    let counters: WorkerCounters
    let logger: Logger

    func run() async throws {
        await withTaskGroup(of: Void.self) { group in
            for await notice in notices.cancelOnGracefulShutdown() {
                guard notice.kind == "chat", let id = notice.id, let text = notice.text else {
                    logger.notice("ignoring notice", metadata: ["notice.kind": "\(notice.kind)"])
                    continue
                }
                let conversation = "local:" + (notice.conversation ?? "operator")
                group.addTask {
                    do {
                        let request = AgentRequest(
                            commander: "local", requestedBy: "local", conversationID: conversation, text: text)
                        let outcome = try await counters.duringRun { try await agent.run(request) }
                        await link.chatReply(id: id, text: outcome.reply, error: nil, runID: outcome.runID)
                    } catch {
                        await link.chatReply(id: id, text: nil, error: "the agent failed: \(error)", runID: nil)
                    }
                }
            }
        }
    }
}

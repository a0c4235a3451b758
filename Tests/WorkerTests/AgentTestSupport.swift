import AutonousCore
import Foundation
import GRDB
import Logging

@testable import Worker

/// Agents over a fresh worker database and the scripted model, for tests of whole runs.
enum AgentTestSupport {
    final class Fixture {
        private let store: TemporaryWorkerDatabase
        var database: AppDatabase { store.database }
        let systemPromptPath: String
        let settings: ContextSettings

        init(systemPromptPath: String = "/nonexistent/AUTONOUS.md", settings: ContextSettings = ContextSettings())
            throws
        {
            store = try TemporaryWorkerDatabase(prefix: "agent-")
            self.systemPromptPath = systemPromptPath
            self.settings = settings
        }

        /// An agent answering with `script` (no model at all when nil), without tools.
        func agent(script: ModelScript?, fatalReporter: ModelFatalReporter? = nil) -> Agent {
            agent(
                provider: script.map { ScriptedProvider(script: $0, source: "the test script") },
                fatalReporter: fatalReporter)
        }

        /// An agent answering with `provider` (no model at all when nil), without tools.
        func agent(provider: ScriptedProvider?, fatalReporter: ModelFatalReporter? = nil) -> Agent {
            let model = provider.map { ChatCompletionsClient(provider: $0) }
            var agent = Agent(
                database: database, model: model,
                context: ContextPipeline.make(settings, database: database, systemPromptPath: systemPromptPath),
                parentEventID: 0,
                control: AgentControl(settings: AgentControl.Settings(), ledger: SpendLedger(database: database)),
                counters: WorkerCounters(), logger: Logger(label: "test"))
            agent.fatalReporter = fatalReporter
            return agent
        }

        func request(_ text: String, conversation: String = "local:test") -> AgentRequest {
            AgentRequest(
                commander: "local", requestedBy: "local", conversationID: conversation, text: text, inboxID: nil)
        }

        /// Stores earlier messages of `conversation`, as earlier runs would have.
        func remember(_ messages: [ConversationMessage], conversation: String = "local:test") throws {
            try database.pool.write { db in
                for message in messages {
                    try ConversationStore.append(db, conversationID: conversation, message, inboxID: nil, runID: nil)
                }
            }
        }

        func events(_ type: String) throws -> [EventRecord] {
            try EventLog(database: database).events(typePrefix: type).filter { $0.type == type }
        }

        func rows(_ sql: String) throws -> [Row] {
            try database.pool.read { db in try Row.fetchAll(db, sql: sql) }
        }
    }

    /// A script of `steps`, each a JSON object as `AUTONOUS_MODEL_SCRIPT` has them.
    static func script(_ steps: [String]) throws -> ModelScript {
        try ModelScript(json: Data(("[" + steps.joined(separator: ",") + "]").utf8))
    }
}

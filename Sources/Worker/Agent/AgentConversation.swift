import AutonousCore
import GRDB

/// What a run sends the model, growing turn by turn: the assembled prompt (system prompt, history, context, the
/// user's message), then this run's assistant turns and tool results. It keeps the estimated size of each prompt
/// component for the per-call accounting, and what it was built from, so a harder compression can rebuild it.
struct AgentConversation: Sendable {
    /// The prompt as the assembler ordered it.
    let prompt: [PromptMessage]
    /// The function definitions offered while tools are, with their estimated tokens.
    let offeredTools: OfferedTools
    /// The function definitions offered while tools are.
    var tools: [JSONValue] { offeredTools.definitions }
    /// The estimated tokens of `tools`, counted once for the registry rather than at every run or turn.
    var toolsTokens: Int { offeredTools.estimatedTokens }
    /// What the context provider gathered, before compression.
    let gathered: GatheredContext
    /// The compressed parts `prompt` was assembled from.
    let parts: PromptParts
    /// How hard the history was compressed.
    let level: CompressionLevel
    /// This run's assistant messages and tool results, in order.
    private(set) var turns: [ConversationMessage] = []
    /// The payload of the `context.compressed` event not written yet: set when compression changed the history,
    /// cleared by `writeCompression`.
    var compression: [String: JSONValue]?

    init(
        prompt: [PromptMessage], tools: OfferedTools, gathered: GatheredContext, parts: PromptParts,
        level: CompressionLevel = .normal, turns: [ConversationMessage] = []
    ) {
        self.prompt = prompt
        offeredTools = tools
        self.gathered = gathered
        self.parts = parts
        self.level = level
        self.turns = turns
    }

    /// Writes the pending `context.compressed` event under `context`, inside the caller's transaction; nothing
    /// when compression changed nothing. Clear `compression` once the transaction commits.
    func writeCompression(_ db: Database, context: EventContext) throws {
        if let compression { try EventLog.append(db, .contextCompressed, context, payload: compression) }
    }

    mutating func append(_ message: ConversationMessage) {
        turns.append(message)
    }

    /// The request's messages in the chat-completions wire order.
    var messages: [ChatMessage] {
        prompt.map { ChatMessage($0.message) } + turns.map(ChatMessage.init)
    }

    /// Estimated tokens per component: the system prompt; the history (earlier messages, the user's message and
    /// this run's assistant turns); the context; and tool output (every `tool` message, earlier runs' included).
    var estimate: (system: Int, history: Int, context: Int, toolOutput: Int) {
        var estimate = (system: 0, history: 0, context: 0, toolOutput: 0)
        let all = prompt + turns.map { PromptMessage(component: .history, message: $0) }
        for part in all {
            let tokens = part.message.estimatedTokens
            if part.message.role == .tool {
                estimate.toolOutput += tokens
                continue
            }
            switch part.component {
            case .system: estimate.system += tokens
            case .history, .user: estimate.history += tokens
            case .context: estimate.context += tokens
            }
        }
        return estimate
    }

    /// Estimated tokens of the messages, every component together.
    var estimatedTokens: Int {
        let estimate = self.estimate
        return estimate.system + estimate.history + estimate.context + estimate.toolOutput
    }
}

extension ChatMessage {
    /// A stored message in the chat-completions shape.
    init(_ message: ConversationMessage) {
        self.init(
            role: message.role.rawValue, content: message.content,
            toolCalls: message.toolCalls.map { ToolCall(id: $0.id, name: $0.name, arguments: $0.arguments) },
            toolCallID: message.toolCallID)
    }
}

/// The function definitions a run offers the model and their estimated tokens, counted when the tool registry is
/// built: they are the same for every run, and every prompt budget needs their size.
struct OfferedTools: Sendable, ExpressibleByArrayLiteral {
    let definitions: [JSONValue]
    let estimatedTokens: Int

    init(_ definitions: [JSONValue]) {
        self.definitions = definitions
        estimatedTokens = definitions.reduce(0) { $0 + Agent.estimateTokens($1.jsonText) }
    }

    init(arrayLiteral definitions: JSONValue...) {
        self.init(definitions)
    }
}

import AutonousCore

/// What a run sends the model, growing turn by turn: the system prompt, the conversation's history, the user's
/// message, then this run's assistant turns and tool results. It keeps the estimated size of each prompt component
/// for the per-call accounting.
struct AgentConversation: Sendable {
    let system: String
    let history: [ConversationMessage]
    let user: String
    /// The function definitions offered while tools are.
    let tools: [JSONValue]
    /// This run's assistant messages and tool results, in order.
    private(set) var turns: [ConversationMessage] = []

    init(system: String, history: [ConversationMessage], user: String, tools: [JSONValue]) {
        self.system = system
        self.history = history
        self.user = user
        self.tools = tools
    }

    mutating func append(_ message: ConversationMessage) {
        turns.append(message)
    }

    /// The request's messages in the chat-completions wire order.
    var messages: [ChatMessage] {
        [ChatMessage(role: "system", content: system)] + history.map(ChatMessage.init)
            + [ChatMessage(role: "user", content: user)] + turns.map(ChatMessage.init)
    }

    /// Estimated tokens per component: the system prompt; the history (earlier messages, the user's message and
    /// this run's assistant turns); retrieved context (none yet); and tool output (every `tool` message, earlier
    /// runs' included).
    var estimate: (system: Int, history: Int, context: Int, toolOutput: Int) {
        var history = Agent.estimateTokens(user)
        var toolOutput = 0
        for message in self.history + turns {
            let tokens = Self.estimateTokens(message)
            if message.role == .tool { toolOutput += tokens } else { history += tokens }
        }
        return (Agent.estimateTokens(system), history, 0, toolOutput)
    }

    static func estimateTokens(_ message: ConversationMessage) -> Int {
        Agent.estimateTokens(message.content ?? "")
            + message.toolCalls.reduce(0) { $0 + Agent.estimateTokens($1.name) + Agent.estimateTokens($1.arguments) }
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

import AutonousCore

/// The parts a prompt is assembled from, each already compressed.
struct PromptParts: Sendable, Equatable {
    var system: String
    var history: [ConversationMessage]
    var context: [String]
    var user: String
}

/// Which part of the prompt a message comes from, for the per-component accounting.
enum PromptComponent: String, Sendable {
    case system, history, context, user
}

/// One message of an assembled prompt and the part it comes from.
struct PromptMessage: Sendable, Equatable {
    var component: PromptComponent
    var message: ConversationMessage
}

/// Puts the parts of a prompt in the order the model gets them. Swappable by `AUTONOUS_CONTEXT_PROFILE`.
protocol PromptAssembler: Sendable {
    func assemble(_ parts: PromptParts) -> [PromptMessage]
}

/// The `naive` assembler: the system prompt, the history, the context (one system message, when there is any),
/// then the user's message.
struct OrderedPromptAssembler: PromptAssembler {
    func assemble(_ parts: PromptParts) -> [PromptMessage] {
        var prompt = [PromptMessage(component: .system, message: .init(role: .system, content: parts.system))]
        prompt += parts.history.map { PromptMessage(component: .history, message: $0) }
        if !parts.context.isEmpty {
            let text = "Context for this message:\n\n" + parts.context.joined(separator: "\n\n")
            prompt.append(PromptMessage(component: .context, message: .init(role: .system, content: text)))
        }
        prompt.append(PromptMessage(component: .user, message: .init(role: .user, content: parts.user)))
        return prompt
    }
}

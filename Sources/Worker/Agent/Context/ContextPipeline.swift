import AutonousCore

/// The context subsystem as a run uses it: where the system prompt comes from, and the provider, compressor and
/// assembler of the configured profile (`AUTONOUS_CONTEXT_PROFILE`). `main` builds it once; tests build their own.
struct ContextPipeline: Sendable {
    /// The profile's name, recorded with every model call (`model_calls.context_profile`).
    let profile: String
    let settings: ContextSettings
    let systemPrompt: SystemPromptSource
    let provider: any ContextProvider
    let compressor: any ContextCompressor
    let assembler: any PromptAssembler

    /// The pipeline `settings.profile` names, reading history from `database` and the system prompt from
    /// `systemPromptPath` (`$AUTONOUS_CONFIG_DIR/AUTONOUS.md`).
    static func make(_ settings: ContextSettings, database: AppDatabase, systemPromptPath: String) -> ContextPipeline {
        switch settings.profile {
        case .naive:
            return ContextPipeline(
                profile: settings.profile.rawValue, settings: settings,
                systemPrompt: SystemPromptSource(path: systemPromptPath),
                provider: RecentMessagesProvider(database: database, limit: settings.messages),
                compressor: RuleCompressor(), assembler: OrderedPromptAssembler())
        }
    }

    /// Why a prompt is being compressed, as `context.compressed` records it.
    enum Reason: String, Sendable {
        /// The run starts.
        case run
        /// The model said the last prompt does not fit its context window.
        case contextLengthExceeded = "context_length_exceeded"
    }

    /// The prompt for `user`'s message: the gathered history compressed at `level` to what the other parts (the
    /// system prompt, the context, the message, `turns` and the tool definitions) leave of the budget, then
    /// assembled. When compression changed anything, the result carries its `context.compressed` event (the sizes
    /// before and after) for the caller to write with the step that sends the prompt.
    func conversation(
        system: String, gathered: GatheredContext, user: String, tools: OfferedTools,
        turns: [ConversationMessage] = [], level: CompressionLevel = .normal, reason: Reason = .run
    ) -> AgentConversation {
        let limits = CompressionLimits(settings, level: level)
        var parts = PromptParts(system: system, history: [], context: gathered.context, user: user)
        var reserved = tools.estimatedTokens
        reserved += assembler.assemble(parts).reduce(0) { $0 + $1.message.estimatedTokens }
        reserved += turns.reduce(0) { $0 + $1.estimatedTokens }
        let compressed = compressor.compress(gathered.history, reserved: reserved, limits: limits)
        parts.history = compressed.messages
        var conversation = AgentConversation(
            prompt: assembler.assemble(parts), tools: tools, gathered: gathered, parts: parts, level: level,
            turns: turns)
        if compressed.changed {
            conversation.compression = [
                "profile": .string(profile), "level": .string(level.rawValue), "reason": .string(reason.rawValue),
                "before": compressed.before.json, "after": compressed.after.json,
                "dropped": .int(Int64(compressed.dropped)), "truncated": .int(Int64(compressed.truncated)),
                "tool_outputs_truncated": .int(Int64(compressed.toolOutputsTruncated)),
                "tool_outputs_skipped": .int(Int64(compressed.toolOutputsSkipped)),
                "budget_tokens": .int(Int64(limits.tokenBudget)), "reserved_tokens": .int(Int64(reserved)),
            ]
        }
        return conversation
    }

    /// `conversation` rebuilt with the harder compression, its turns kept, after the model said it does not fit.
    func harder(_ conversation: AgentConversation) -> AgentConversation {
        self.conversation(
            system: conversation.parts.system, gathered: conversation.gathered, user: conversation.parts.user,
            tools: conversation.offeredTools, turns: conversation.turns, level: .harder, reason: .contextLengthExceeded)
    }
}

/// Who a tool call is made for: the agent run, and who sent the message it answers. Tools that ask the supervisor
/// for something (`propose_update`) pass it on, so the supervisor records who asked.
struct ToolCallOrigin: Sendable, Equatable {
    var runID: String?
    /// `telegram:<user id>` for a Telegram sender, `local` for `autonousctl chat` and anything else.
    var requestedBy: String

    /// A call made outside any agent run (the self-check, tests).
    static let local = ToolCallOrigin(runID: nil, requestedBy: "local")
}

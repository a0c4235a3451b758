/// The chat commands a user types besides /rollback: `/cancel` stops the chat's current run, `/new` starts a new
/// conversation, `/status` (admins) gives a short status. Telegram writes them as `/cancel@BotName` in groups.
enum ChatCommand: String, Equatable, Sendable, CaseIterable {
    case cancel, new, status

    /// The command `text` starts with, or nil when it is none of these.
    static func parse(_ text: String) -> ChatCommand? {
        guard let first = text.split(whereSeparator: \.isWhitespace).first, first.hasPrefix("/") else { return nil }
        let word = first.dropFirst().split(separator: "@", maxSplits: 1).first ?? ""
        return ChatCommand(rawValue: String(word))
    }

    /// Commands that must not wait behind the chat's running message: stored as `Inbox.interruptKind` and taken at
    /// once by `CallbackDesk`. /new waits its turn, so the run before it finishes in the old conversation.
    var interrupts: Bool { self != .new }
}

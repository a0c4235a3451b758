import AutonousCore

/// The parts of a Telegram update autonous acts on, read from the raw JSON it stores verbatim.
struct TelegramUpdate: Sendable, Equatable {
    var updateID: Int64
    /// The update's type: `message`, `callback_query`, `edited_message`, …
    var kind: String
    var chatID: Int64?
    var userID: Int64?
    var text: String?
    var raw: JSONValue

    /// Reads one element of getUpdates' result; nil when it has no integer `update_id`.
    init?(_ raw: JSONValue) {
        guard let object = raw.objectValue, let updateID = object["update_id"]?.intValue else { return nil }
        self.updateID = updateID
        self.raw = raw
        kind = object.keys.filter { $0 != "update_id" }.sorted().first ?? "unknown"
        let body = object[kind]
        switch kind {
        case "callback_query":
            userID = body?["from"]?["id"]?.intValue
            chatID = body?["message"]?["chat"]?["id"]?.intValue
            text = body?["data"]?.stringValue
        case Inbox.generationStoppedKind:
            // Only private chats have drafts, so the chat is the user who pressed Stop.
            chatID = body?["chat"]?["id"]?.intValue
            userID = body?["chat"]?["type"]?.stringValue == "private" ? chatID : nil
            text = nil
        default:
            userID = body?["from"]?["id"]?.intValue
            chatID = body?["chat"]?["id"]?.intValue
            text = body?["text"]?.stringValue
        }
    }

    /// The row to store. A message that is an interrupting command (/cancel, /status) is stored as
    /// `Inbox.interruptKind`, so it is taken at once rather than behind the chat's running message.
    var inboxItem: NewInboxItem {
        let interrupts = kind == "message" && (text.flatMap(ChatCommand.parse)?.interrupts ?? false)
        return NewInboxItem(
            updateID: updateID, kind: interrupts ? Inbox.interruptKind : kind, chatID: chatID, userID: userID,
            text: text, payload: raw.jsonText)
    }
}

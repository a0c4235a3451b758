import AutonousCore
import Foundation

extension TelegramCommander {
    /// The outbox chunks of the agent's reply: its Markdown as Telegram HTML, split to Telegram's limit; or the
    /// reply as plain text when the HTML would show nothing (an empty code block, say).
    static func replyChunks(_ reply: String) -> (chunks: [String], parseMode: OutboxParseMode?) {
        let html = TelegramHTML.render(reply)
        guard TelegramHTML.visibleText(html).contains(where: { !$0.isWhitespace }) else {
            return (MessageSplitter.split(reply), nil)
        }
        return (TelegramHTMLSplitter.split(html), .html)
    }

    /// Sends one reply chunk: with its parse mode, or as plain text when it has none or Telegram refused it before.
    ///
    /// When Telegram cannot parse the chunk's markup ("can't parse entities"), the refusal is stored on the chunk
    /// (`plain_fallback`) and recorded as a `telegram.send.plain_fallback` event, and the chunk goes again at once as
    /// its visible text: tags removed, entities decoded. A restart then sends it as plain text straight away.
    ///
    /// - Parameters:
    ///   - parameters: chat_id, reply_parameters and the like; `text` and `parse_mode` are set here.
    ///   - method: `sendMessage`, or `editMessageText` (with `message_id` in `parameters`) to replace a message.
    /// - Returns: the sent (or edited) Message.
    func send(
        _ chunk: OutboxItem, _ parameters: [String: JSONValue], context: EventContext, method: String = "sendMessage"
    ) async throws -> JSONValue {
        var parameters = parameters
        guard let parseMode = chunk.parseMode else {
            parameters["text"] = .string(chunk.text)
            return try await call(method, parameters)
        }
        guard chunk.plainFallback == nil else {
            parameters["text"] = .string(TelegramHTML.visibleText(chunk.text))
            return try await call(method, parameters)
        }
        var formatted = parameters
        formatted["text"] = .string(chunk.text)
        formatted["parse_mode"] = .string(parseMode.rawValue)
        do {
            return try await call(method, formatted)
        } catch {
            guard error.isEntityParseError else { throw error }
            let reason = Redactor.shared.redact(error.description)
            try await database.pool.write { db in
                try Outbox.markPlainFallback(db, chunk.id, reason: reason)
                try EventLog.append(
                    db, .telegramSendPlainFallback, context,
                    payload: [
                        "outbox_id": .int(chunk.id), "seq": .int(Int64(chunk.seq)),
                        "parse_mode": .string(parseMode.rawValue), "error": .string(reason),
                    ])
            }
            logger.warning(
                "Telegram could not parse a reply chunk's markup; sending it as plain text",
                metadata: ["outbox.id": "\(chunk.id)", "error": "\(reason)"])
            parameters["text"] = .string(TelegramHTML.visibleText(chunk.text))
            return try await call(method, parameters)
        }
    }

    /// Puts the answer's first chunk in place of the message that showed it growing. When Telegram will not edit
    /// that message (deleted meanwhile, say), the chunk is sent as a message of its own.
    ///
    /// - Parameter parameters: what `send` would use for a new message (chat_id, reply_parameters).
    func replace(
        _ messageID: Int64, with chunk: OutboxItem, _ parameters: [String: JSONValue], context: EventContext
    ) async throws -> JSONValue {
        do {
            return try await send(
                chunk, ["chat_id": .int(chunk.chatID), "message_id": .int(messageID)], context: context,
                method: "editMessageText")
        } catch let error as TelegramError where error.isNotModified {
            return .object(["message_id": .int(messageID)])
        } catch let error as TelegramError where !error.isRetryable {
            logger.notice(
                "cannot put the answer in place of its preview; sending it as a new message",
                metadata: [
                    "telegram.message_id": "\(messageID)", "error": "\(Redactor.shared.redact(error.description))",
                ])
            return try await send(chunk, parameters, context: context)
        }
    }

    /// A reply method (sendMessage, editMessageText) with the send policy's retries.
    private func call(_ method: String, _ parameters: [String: JSONValue]) async throws(TelegramError) -> JSONValue {
        let (result, _) = try await withRetries(
            sendPolicy,
            operation: { () async throws(TelegramError) in
                try await client.call(method, parameters, timeout: .seconds(30))
            },
            onRetry: { attempt, error, delay in
                logger.warning(
                    "\(method) failed; retrying",
                    metadata: [
                        "attempt": "\(attempt)", "error": "\(error)", "retry.delay_ms": "\(delay.wholeMilliseconds)",
                    ])
            })
        return result
    }
}

extension TelegramCommander {
    /// A stream that shows the answer to `item` growing, as `streaming` asks: a draft in a private chat, a message
    /// edited elsewhere; nil when streaming is off.
    func answerStream(for item: InboxItem, chatID: Int64) -> AnswerStream? {
        let message = (try? JSONValue(parsing: item.payload))?["message"]
        let isPrivate = message?["chat"]?["type"]?.stringValue == "private"
        let preview: AnswerPreview
        switch streaming {
        case .off: return nil
        case .auto where isPrivate: preview = .draft(id: item.id)
        case .auto, .edit: preview = .edit(replyTo: message?["message_id"]?.intValue)
        }
        return AnswerStream(client: client, chatID: chatID, preview: preview, drafts: drafts, logger: logger)
    }

    /// Records how an answer was shown while it was written, when anything was.
    func recordStream(_ shown: AnswerStream.Summary, context: EventContext) async throws {
        guard shown.previews > 0 || shown.note != nil else { return }
        var payload: [String: JSONValue] = [
            "mode": .string(shown.mode), "previews": .int(Int64(shown.previews)),
            "first_preview_ms": shown.firstPreview.map { .int($0.wholeMilliseconds) } ?? .null,
        ]
        if let note = shown.note { payload["note"] = .string(note) }
        let recorded = payload
        try await database.pool.write { db in
            _ = try EventLog.append(db, .telegramAnswerStreamed, context, payload: recorded)
        }
    }
}

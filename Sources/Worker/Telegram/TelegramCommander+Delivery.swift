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
    /// - Parameter parameters: chat_id, reply_parameters and the like; `text` and `parse_mode` are set here.
    /// - Returns: the sent Message.
    func send(_ chunk: OutboxItem, _ parameters: [String: JSONValue], context: EventContext) async throws -> JSONValue {
        var parameters = parameters
        guard let parseMode = chunk.parseMode else {
            parameters["text"] = .string(chunk.text)
            return try await sendMessage(parameters)
        }
        guard chunk.plainFallback == nil else {
            parameters["text"] = .string(TelegramHTML.visibleText(chunk.text))
            return try await sendMessage(parameters)
        }
        var formatted = parameters
        formatted["text"] = .string(chunk.text)
        formatted["parse_mode"] = .string(parseMode.rawValue)
        do {
            return try await sendMessage(formatted)
        } catch {
            guard error.isEntityParseError else { throw error }
            let reason = Redactor.shared.redact(error.description)
            try await database.pool.write { db in
                try Outbox.markPlainFallback(db, chunk.id, reason: reason)
                try EventLog.append(
                    db, "telegram.send.plain_fallback", context,
                    payload: [
                        "outbox_id": .int(chunk.id), "seq": .int(Int64(chunk.seq)),
                        "parse_mode": .string(parseMode.rawValue), "error": .string(reason),
                    ])
            }
            logger.warning(
                "Telegram could not parse a reply chunk's markup; sending it as plain text",
                metadata: ["outbox.id": "\(chunk.id)", "error": "\(reason)"])
            parameters["text"] = .string(TelegramHTML.visibleText(chunk.text))
            return try await sendMessage(parameters)
        }
    }

    /// sendMessage with the send policy's retries.
    private func sendMessage(_ parameters: [String: JSONValue]) async throws(TelegramError) -> JSONValue {
        let (result, _) = try await withRetries(
            sendPolicy,
            operation: { () async throws(TelegramError) in
                try await client.call("sendMessage", parameters, timeout: .seconds(30))
            },
            onRetry: { attempt, error, delay in
                logger.warning(
                    "sendMessage failed; retrying",
                    metadata: [
                        "attempt": "\(attempt)", "error": "\(error)", "retry.delay_ms": "\(delay.wholeMilliseconds)",
                    ])
            })
        return result
    }
}

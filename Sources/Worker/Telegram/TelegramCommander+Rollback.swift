import AutonousCore
import GRDB

extension TelegramCommander {
    /// The inbox outcome a /rollback row carries from the moment it is relayed until it is answered. A row that a
    /// restart requeued with this outcome was relayed already: it is answered, never relayed a second time (a
    /// rollback replaces this worker, so dying right after the relay is the expected case, not a rare one).
    static let rollbackRelayedOutcome = "rollback_relayed"

    /// Answers a /rollback: relays it when the sender is an admin and the argument is well formed, and stores the
    /// answer in the outbox like any reply, so it is delivered once even across the restart the rollback causes.
    func answerRollback(
        _ command: RollbackCommand, item: InboxItem, userID: Int64, chatID: Int64, conversationID: String,
        context: EventContext
    ) async throws {
        let relay = RollbackRelay(admins: admins, requester: rollback)
        var text: String
        var outcome: String
        var answered: [String: JSONValue]?
        switch relay.decide(command, from: userID) {
        case .answer(let answer, let answerOutcome):
            (text, outcome) = (answer, answerOutcome)
            if answerOutcome == "rollback_not_admin" {
                try events.append(
                    .rollbackRefused, context,
                    payload: ["update_id": .int(item.updateID), "user_id": .int(userID)])
                logger.warning("a non-admin asked for a rollback", metadata: ["telegram.user_id": "\(userID)"])
            }
        case .relay where item.outcome == Self.rollbackRelayedOutcome:
            text =
                "This /rollback was relayed before the worker restarted and is not sent again; "
                + "autonousctl revisions shows what runs now."
            outcome = "rollback_already_relayed"
            logger.notice("a requeued /rollback was relayed before; not relaying it again")
        case .relay(let request):
            try await database.pool.write { db in
                try EventLog.append(
                    db, .rollbackRequested, context,
                    payload: [
                        "update_id": .int(item.updateID), "requested_by": .int(request.requestedBy),
                        "target": request.target.map { .string($0) } ?? .null,
                    ])
                try db.execute(
                    sql: "UPDATE inbox SET outcome = ? WHERE id = ?",
                    arguments: [Self.rollbackRelayedOutcome, item.id])
            }
            logger.notice(
                "relaying a rollback request to the supervisor",
                metadata: ["telegram.user_id": "\(userID)", "rollback.target": "\(request.target ?? "last-good")"])
            let answer = await relay.relay(request)
            // Shutting down (the rollback itself stops this worker): the next worker answers from the marker.
            try Task.checkCancellation()
            text = answer.text
            outcome = answer.revision == nil ? "rollback_failed" : "rollback_started"
            answered = [
                "update_id": .int(item.updateID), "revision": answer.revision.map { .string($0) } ?? .null,
                "error": answer.error.map { .string($0) } ?? .null,
            ]
        }
        try await database.pool.write { [text, answered] db in
            if let answered { try EventLog.append(db, .rollbackAnswered, context, payload: answered) }
            try Outbox.enqueue(
                db, inboxID: item.id, conversationID: conversationID, chatID: chatID,
                chunks: MessageSplitter.split(text))
        }
        try await deliver(item, context: context, outcome: outcome)
    }
}

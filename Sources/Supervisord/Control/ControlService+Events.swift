import AutonousCore

extension ControlService {
    /// The most `GetEvents` returns in one page, and what it returns when the caller names no limit.
    static let eventLimits = (maximum: 10_000, default: 200)

    /// `GetEvents`: a page of both logs merged by time, or with `more` that page and then every new event.
    func getEvents(_ call: VarlinkCall, replier: VarlinkReplier) async throws -> JSONValue {
        let request = try call.decode(ControlInterface.GetEventsRequest.self)
        let (query, limit) = try Self.validate(request)
        guard call.more else {
            let page =
                try request.after.map { try events.log.after($0, query, limit: limit) }
                ?? events.log.latest(query, limit: limit)
            return try JSONValue.encode(ControlInterface.EventsPage(page))
        }
        let (feed, after) = (events, request.after)
        // A caller that hangs up ends the stream at once: its hang-up is an event on the connection.
        do {
            return try await replier.whileCallerListens {
                try await feed.follow(query, limit: limit, after: after, logger: logger) { page in
                    try await replier.send(ControlInterface.EventsPage(page))
                }
            }
        } catch let hangUp as VarlinkReplier.CallerHungUp {
            logger.debug("events follower hung up", metadata: ["peer.pid": "\(call.peer.pid)"])
            throw hangUp
        }
    }

    /// The query and limit of a request, or `InvalidValue` naming the parameter that is not acceptable.
    static func validate(_ request: ControlInterface.GetEventsRequest) throws -> (EventQuery, Int) {
        let invalid = invalidValue
        let limit = request.limit ?? eventLimits.default
        guard (1 ... eventLimits.maximum).contains(limit) else {
            throw invalid("limit", "limit must be between 1 and \(eventLimits.maximum), got \(limit)")
        }
        let types: EventTypeFilter
        do {
            types = try EventTypeFilter(request.types ?? [])
        } catch let error as AutonousError {
            throw invalid("types", error.message)
        }
        try checkIdentifier("runId", request.runId)
        try checkIdentifier("conversationId", request.conversationId)
        if let after = request.after, after.supervisor < 0 || after.worker < 0 {
            throw invalid("after", "a cursor's ids are never negative")
        }
        let query = EventQuery(
            sinceMs: request.sinceMs, types: types, runID: request.runId, conversationID: request.conversationId)
        return (query, limit)
    }
}

/// Stops model calls for a while after the same kind of failure repeats, so a broken API or key is not hammered by
/// every conversation at once.
///
/// Closed: calls go through; failures of one error class in a row are counted (another class starts the count
/// again, a success clears it). At `threshold` in a row the breaker opens for `cooldown`: every call is refused.
/// After the cooldown it is half-open: exactly one call (the probe) goes through and the others are refused until
/// the probe ends; a successful probe closes the breaker, a failed one opens it for another cooldown, and a probe
/// that ends without a verdict (cancelled) lets the next call probe instead. While open or half-open, outcomes of
/// calls admitted earlier change nothing: only the probe decides.
struct CircuitBreaker: Sendable {
    /// Where the breaker stands.
    enum State: Sendable, Equatable {
        case closed
        /// Refusing calls until `until` (the control clock's time).
        case open(until: Duration)
        /// Letting one probe through; `probing` while it runs.
        case halfOpen(probing: Bool)
    }

    /// What an admitted call must report back.
    enum Ticket: Sendable, Equatable {
        /// A call admitted while closed.
        case normal
        /// The half-open breaker's one probe.
        case probe
    }

    let threshold: Int
    let cooldown: Duration
    private(set) var state = State.closed
    /// The error class of the latest failures in a row while closed, and how many.
    private(set) var streak: (errorClass: String, count: Int)?

    init(threshold: Int, cooldown: Duration) {
        self.threshold = max(1, threshold)
        self.cooldown = cooldown
    }

    /// The state at `now`: an open breaker whose cooldown has passed is half-open.
    func state(at now: Duration) -> State {
        if case .open(let until) = state, now >= until { return .halfOpen(probing: false) }
        return state
    }

    /// Whether `admit(now:)` would let a call through, without taking the probe.
    func wouldAdmit(now: Duration) -> Bool {
        switch state(at: now) {
        case .closed, .halfOpen(probing: false): return true
        case .open, .halfOpen(probing: true): return false
        }
    }

    /// Lets a call through (with its ticket) or refuses it (nil); a half-open breaker's call becomes the probe.
    mutating func admit(now: Duration) -> Ticket? {
        switch state(at: now) {
        case .closed: return .normal
        case .halfOpen(probing: false):
            state = .halfOpen(probing: true)
            return .probe
        case .open, .halfOpen(probing: true): return nil
        }
    }

    /// A call admitted with `ticket` succeeded.
    mutating func recordSuccess(_ ticket: Ticket) {
        switch (state, ticket) {
        case (.closed, _), (.halfOpen, .probe):
            state = .closed
            streak = nil
        default: break
        }
    }

    /// A call admitted with `ticket` failed with `errorClass` at `now`.
    mutating func recordFailure(_ ticket: Ticket, errorClass: String, now: Duration) {
        switch (state, ticket) {
        case (.closed, _):
            let count = streak?.errorClass == errorClass ? (streak?.count ?? 0) + 1 : 1
            streak = (errorClass, count)
            if count >= threshold {
                state = .open(until: now + cooldown)
                streak = nil
            }
        case (.halfOpen, .probe):
            state = .open(until: now + cooldown)
        default: break
        }
    }

    /// A call admitted with `ticket` ended without a verdict (cancelled): a probe's place goes to the next call.
    mutating func recordAbandoned(_ ticket: Ticket) {
        if ticket == .probe, state == .halfOpen(probing: true) { state = .halfOpen(probing: false) }
    }
}

import CLinux
import Synchronization

/// Gives back the pages of the daemon's own executable and of its libraries once it has been quiet for a while: the
/// code and read-only data its start (or its last burst of work) touched, which would otherwise stay mapped for as
/// long as the daemon idles (`cl_release_executable_pages`). What it runs afterwards comes back a page at a time:
/// without read-around, and with its code split into one-page areas, without the cached pages around each fault
/// (the executable's 5,000 or so areas and the libraries' cost the kernel about 1.5 MiB a daemon; what an idle
/// daemon's first heartbeat maps again fell from about 7 MiB a daemon to about 3).
///
/// A quiet spell is timed only after activity: nothing wakes the daemon while it stays idle. `noteActivity()` is
/// for work that comes from outside (a message, an operator's call), not for the heartbeats of an idle daemon.
/// Disabled unless the daemon enables it (tests create the daemons' objects in their own process).
public final class IdleTrim: Sendable {
    /// The daemons' one instance: the executable's pages belong to the whole process.
    public static let shared = IdleTrim()

    private struct State {
        var enabled = false
        var quiet: Duration = .seconds(60)
        var deadline: ContinuousClock.Instant?
        /// The pending trim is the one after start, which activity does not postpone.
        var afterStart = false
        var waiting = false
        var trims = 0
    }

    private let state = Mutex(State())

    init() {}

    /// Enables trimming: the first trim comes `afterStart` from now (what only the start needed), later ones once
    /// `quiet` has passed without `noteActivity()`.
    public func enable(afterStart: Duration = .seconds(3), quiet: Duration = .seconds(60)) {
        state.withLock { state in
            state.enabled = true
            state.quiet = quiet
        }
        schedule(after: afterStart, isStart: true)
    }

    /// How many trims ran so far.
    public var trims: Int { state.withLock { $0.trims } }

    /// Work from outside happened: the next trim waits for `quiet` from now (unless the one after start is still
    /// pending: that one keeps its time).
    public func noteActivity() {
        let quiet = state.withLock { state in state.enabled && !state.afterStart ? state.quiet : nil }
        if let quiet { schedule(after: quiet, isStart: false) }
    }

    private func schedule(after delay: Duration, isStart: Bool) {
        let clock = ContinuousClock()
        let startWaiter = state.withLock { state in
            if state.afterStart && !isStart { return false }
            state.deadline = clock.now + delay
            state.afterStart = isStart
            defer { state.waiting = true }
            return !state.waiting
        }
        guard startWaiter else { return }
        // One waiter at a time: it sleeps to the deadline, and again when activity moved the deadline meanwhile.
        Task.detached(priority: .background) { [self] in
            while true {
                let sleepUntil: ContinuousClock.Instant? = state.withLock { state in
                    if let deadline = state.deadline, clock.now < deadline { return deadline }
                    state.deadline = nil
                    state.afterStart = false
                    state.waiting = false
                    state.trims += 1
                    return nil
                }
                guard let sleepUntil else { break }
                try? await clock.sleep(until: sleepUntil)
            }
            _ = cl_release_executable_pages(
                Int32(CL_RELEASE_LIBRARIES | CL_RELEASE_SPLIT_CODE))
        }
    }
}

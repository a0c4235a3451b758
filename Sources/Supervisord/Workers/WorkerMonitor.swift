import AutonousCore

/// The worker's lifecycle and the revision it runs, as a pure state machine: inputs (spawned, hello, ready,
/// heartbeat, exited, deploy, self-check results, rollback, tick, shutdown) and the time in, actions out. No clock,
/// process, file or database inside, so every timing rule is tested by feeding instants.
///
/// Revisions: `current` is what runs, `lastGood` what a failure falls back to, `previousGood` the last-good before
/// it (N-1). A deployed revision is on probation: it must pass its self-check (while the old worker still serves),
/// say Ready, and stay healthy for the probation time; any failure before that reverts to the last-good at once.
/// A promoted revision that crash-loops is reverted to N-1 once. A worker whose sandbox could not be set up (the
/// launcher's exit 125) is the host's fault, not the revision's: that is retried with backoff and reported as
/// degraded, never reverted.
struct WorkerMonitor {
    /// Timing rules, from the configuration.
    struct Settings {
        var readyTimeout: Duration
        var heartbeatTimeout: Duration
        var stopTimeout: Duration
        var backoffInitial: Duration
        var backoffMax: Duration
        /// A worker that stayed ready this long has proved itself: the failure streak starts over.
        var stableAfter: Duration
        /// How long a new revision must stay healthy after Ready before it is promoted.
        var probation: Duration
        /// A ready worker whose last Telegram poll completed longer ago is stuck; nil when it does not poll.
        var stuckAfter: Duration?
        /// Restarts within `crashLoopWindow` that make a promoted revision a crash loop.
        var crashLoopRestarts: Int
        var crashLoopWindow: Duration

        init(configuration: Configuration) {
            readyTimeout = configuration.workerReadyTimeout
            heartbeatTimeout = configuration.workerHeartbeatTimeout
            stopTimeout = configuration.workerStopTimeout
            backoffInitial = configuration.restartBackoffInitial
            backoffMax = configuration.restartBackoffMax
            stableAfter = max(.seconds(60), configuration.restartBackoffMax)
            probation = configuration.probation
            stuckAfter = configuration.telegramEnabled ? configuration.workerStuckAfter : nil
            crashLoopRestarts = configuration.crashLoopRestarts
            crashLoopWindow = configuration.crashLoopWindow
        }

        init(
            readyTimeout: Duration, heartbeatTimeout: Duration, stopTimeout: Duration, backoffInitial: Duration,
            backoffMax: Duration, stableAfter: Duration, probation: Duration = .seconds(60),
            stuckAfter: Duration? = nil, crashLoopRestarts: Int = 3, crashLoopWindow: Duration = .seconds(60)
        ) {
            self.readyTimeout = readyTimeout
            self.heartbeatTimeout = heartbeatTimeout
            self.stopTimeout = stopTimeout
            self.backoffInitial = backoffInitial
            self.backoffMax = backoffMax
            self.stableAfter = stableAfter
            self.probation = probation
            self.stuckAfter = stuckAfter
            self.crashLoopRestarts = crashLoopRestarts
            self.crashLoopWindow = crashLoopWindow
        }
    }

    typealias Instant = ContinuousClock.Instant

    /// Why a worker was stopped by the supervisor.
    enum StopReason: String, Equatable {
        case readyTimeout = "ready_timeout"
        case heartbeatTimeout = "heartbeat_timeout"
        case stuck
        case wrongRevision = "wrong_revision"
        /// Another revision takes its place (a deploy that passed its self-check, a revert, a rollback).
        case replaced
        case shutdown
    }

    enum Phase: Equatable {
        /// Nothing running; the next tick spawns (or asks for the self-check the revision still needs).
        case idle
        /// The driver is spawning; waiting for `.spawned`, `.spawnFailed` or `.spawnRefused`.
        case spawning
        case backoff(until: Instant)
        case starting(pid: Int32, since: Instant)
        case ready(pid: Int32, since: Instant, readyAt: Instant, lastHeartbeat: Instant)
        case stopping(pid: Int32, since: Instant, readyAt: Instant?, reason: StopReason, killAt: Instant, killed: Bool)
        /// Supervisor shutdown finished: nothing runs and nothing will be spawned.
        case stopped
    }

    /// What the three artifact pointers name.
    struct Pointers: Equatable, Sendable {
        var current: String
        var lastGood: String?
        var previousGood: String?
    }

    /// A revision on probation, from its deploy until it is promoted or reverted.
    struct Probation: Equatable {
        var revision: String
        /// What a failure falls back to.
        var revertTo: String
        var startedAt: Instant
        var selfChecked = false
        /// The self-check was asked for and its result is awaited.
        var selfCheckRunning = false
        /// When the probation revision said Ready; the probation time counts from here.
        var readyAt: Instant?
    }

    /// A revision's recorded states (the `revisions` table's `state`).
    enum RevisionState: String, Equatable, Sendable {
        case probation, promoted, reverted, refused
        case rolledBack = "rolled_back"

        /// The event recorded with a change to this state (`revision.<state>`).
        var eventType: EventType {
            switch self {
            case .probation: .revisionProbation
            case .promoted: .revisionPromoted
            case .reverted: .revisionReverted
            case .refused: .revisionRefused
            case .rolledBack: .revisionRolledBack
            }
        }
    }

    enum Input: Equatable {
        case spawned(pid: Int32)
        case spawnFailed(String)
        /// The revision's file did not verify (missing or changed): it was not started.
        case spawnRefused(revision: String, reason: String)
        case hello(pid: Int32)
        /// Hello named another revision than the one spawned.
        case wrongRevision(pid: Int32, claimed: String)
        case ready(pid: Int32)
        /// `pollCompleted`: when the worker's last Telegram poll completed, if it reported one; `pollAttempted`:
        /// when its last poll ended at all (completed, or failed by Telegram or the network).
        case heartbeat(pid: Int32, pollCompleted: Instant? = nil, pollAttempted: Instant? = nil)
        case exited(pid: Int32, ExitStatus)
        /// The launcher exited 125 before the worker ran: its sandbox could not be set up (the host's fault).
        case sandboxFailed(pid: Int32, message: String)
        /// Deploy a verified revision through probation.
        case deploy(revision: String, reason: String)
        case selfCheckFinished(revision: String, passed: Bool, message: String)
        /// Make a verified earlier revision current and last-good at once (an operator's or admin's rollback).
        case rollback(to: String, reason: String)
        case tick
        case shutdown
    }

    enum Action: Equatable {
        case spawn(revision: String)
        case terminate(pid: Int32)
        case kill(pid: Int32)
        /// An event for the current worker spawn (or the process when no worker is running).
        case record(EventType, [String: JSONValue])
        /// A revision changed state: record it (with the pointers as they must be afterwards), then flip the
        /// pointers. `check` names what failed, for reverts.
        case transition(
            revision: String, state: RevisionState, reason: String, pointers: Pointers, check: String? = nil)
        /// Run `--self-check` of `revision` and report with `.selfCheckFinished`.
        case runSelfCheck(revision: String)
        /// Tell the Telegram admins (through whichever worker runs next).
        case tellAdmins(String)
        /// A deploy ended: promoted, or reverted with the reason.
        case deployFinished(revision: String, promoted: Bool, reason: String?)
        /// The worker is gone for good (after shutdown).
        case finished
    }

    let settings: Settings
    private(set) var phase: Phase = .idle
    private(set) var restarts = 0
    private(set) var consecutiveFailures = 0
    private(set) var lastError: String?
    private(set) var lastExit: String?
    private(set) var shuttingDown = false
    private(set) var pointers: Pointers
    private(set) var probation: Probation?
    /// Why the service runs below its promise (nil when it does not).
    private(set) var degraded: String?
    /// The revision the running (or spawning) worker was started from.
    private(set) var runningRevision: String?
    /// Restarts of promoted revisions within the crash-loop window.
    private(set) var recentRestarts: [Instant] = []
    /// When the running worker's last Telegram poll ended, completed or failed (its Ready time until it reports
    /// one): what the stuck rule judges. A Telegram outage keeps polls ending in errors; a wedged poller does not.
    private var lastPoll: Instant?
    /// When its last poll completed: a revision on probation is promoted only after one did.
    private var lastPollCompleted: Instant?
    /// The one crash-loop revert to N-1 was used; another crash loop only backs off.
    private var crashLoopRevertUsed = false
    private var spawnCount = 0

    /// - Parameter pointers: what the artifact pointers name at start; `onProbation` when the current revision's
    ///   probation was interrupted (a supervisor restart): it starts over.
    init(
        settings: Settings, pointers: Pointers = Pointers(current: "bootstrap"), onProbation: Bool = false,
        now: Instant = .now
    ) {
        self.settings = settings
        self.pointers = pointers
        if onProbation, let revertTo = pointers.lastGood, revertTo != pointers.current {
            probation = Probation(revision: pointers.current, revertTo: revertTo, startedAt: now)
        }
    }

    /// The pid of the running worker, if any.
    var pid: Int32? {
        switch phase {
        case .starting(let pid, _), .ready(let pid, _, _, _), .stopping(let pid, _, _, _, _, _): return pid
        default: return nil
        }
    }

    /// True while the worker is ready to take work.
    var isReady: Bool {
        if case .ready = phase { return true }
        return false
    }

    /// The earliest instant at which a `.tick` can produce an action, so the driver sleeps until then (or until an
    /// input arrives) instead of ticking on a timer; nil when only an input can change anything (spawning, a
    /// self-check running, a SIGKILL already sent, stopped, or nothing to restart during shutdown). `now` is
    /// returned when a tick is due at once (idle: the first spawn).
    ///
    /// The ready, heartbeat and stuck rules fire when the silence is strictly longer than the timeout, hence the
    /// extra nanosecond: a tick exactly at the deadline would otherwise find nothing to do and sleep zero time again.
    func nextDeadline(now: Instant) -> Instant? {
        let past = Duration.nanoseconds(1)
        switch phase {
        case .idle: return shuttingDown ? nil : now
        case .spawning, .stopped: return nil
        case .backoff(let until): return shuttingDown ? nil : until
        case .starting(_, let since): return since + settings.readyTimeout + past
        case .ready(_, _, let readyAt, let lastHeartbeat):
            var deadline = lastHeartbeat + settings.heartbeatTimeout + past
            if let stuckAfter = settings.stuckAfter, let lastPoll {
                deadline = min(deadline, lastPoll + stuckAfter + past)
            }
            if let probation, probation.revision == runningRevision, let ready = probation.readyAt,
                polledSince(ready)
            {
                deadline = min(deadline, ready + settings.probation)
            }
            if degraded != nil || consecutiveFailures > 0 {
                deadline = min(deadline, readyAt + settings.stableAfter)
            }
            return deadline
        case .stopping(_, _, _, _, let killAt, let killed): return killed ? nil : killAt
        }
    }

    /// The delay before the restart after the `failures`-th consecutive failure: initial · 2^(failures-1), capped.
    func backoffDelay(failures: Int) -> Duration {
        var delay = settings.backoffInitial
        var step = 1
        while step < failures && delay < settings.backoffMax {
            delay = delay * 2
            step += 1
        }
        return min(delay, settings.backoffMax)
    }

    /// The revision the next spawn starts: `current`, unless that is on probation and has not passed its self-check
    /// yet; until then what it falls back to serves.
    var revisionToRun: String {
        if let probation, probation.revision == pointers.current, !probation.selfChecked { return probation.revertTo }
        return pointers.current
    }

    mutating func handle(_ input: Input, now: Instant) -> [Action] {
        switch (input, phase) {
        case (.shutdown, _):
            shuttingDown = true
            switch phase {
            case .starting(let pid, let since):
                phase = .stopping(
                    pid: pid, since: since, readyAt: nil, reason: .shutdown,
                    killAt: now + settings.stopTimeout, killed: false)
                return [.terminate(pid: pid)]
            case .ready(let pid, let since, let readyAt, _):
                phase = .stopping(
                    pid: pid, since: since, readyAt: readyAt, reason: .shutdown,
                    killAt: now + settings.stopTimeout, killed: false)
                return [.terminate(pid: pid)]
            case .stopping(let pid, let since, let readyAt, _, let killAt, let killed):
                phase = .stopping(
                    pid: pid, since: since, readyAt: readyAt, reason: .shutdown, killAt: killAt,
                    killed: killed)
                return []
            case .spawning:
                return []
            case .idle, .backoff, .stopped:
                phase = .stopped
                return [.finished]
            }

        case (.deploy(let revision, let reason), _):
            return deploy(revision, reason: reason, now: now)

        case (.selfCheckFinished(let revision, let passed, let message), _):
            return selfCheckFinished(revision, passed: passed, message: message, now: now)

        case (.rollback(let target, let reason), _):
            return rollback(to: target, reason: reason, now: now)

        case (.tick, .idle):
            guard !shuttingDown else { return [] }
            var actions: [Action] = []
            // An interrupted probation starts over: its self-check runs while what it falls back to serves.
            if var probation, probation.revision == pointers.current, !probation.selfChecked,
                !probation.selfCheckRunning
            {
                probation.selfCheckRunning = true
                self.probation = probation
                actions.append(.runSelfCheck(revision: probation.revision))
            }
            return actions + startSpawn()

        case (.tick, .backoff(let until)):
            guard now >= until, !shuttingDown else { return [] }
            return startSpawn()

        case (.spawned(let pid), .spawning):
            spawnCount += 1
            if spawnCount > 1 { restarts += 1 }
            phase = .starting(pid: pid, since: now)
            lastPoll = nil
            lastPollCompleted = nil
            if shuttingDown {
                phase = .stopping(
                    pid: pid, since: now, readyAt: nil, reason: .shutdown,
                    killAt: now + settings.stopTimeout, killed: false)
                return [.terminate(pid: pid)]
            }
            // What to run changed while it was being spawned (a self-check passed, a rollback).
            return replaceRunningWorker(now: now)

        case (.spawnFailed(let message), .spawning):
            lastError = "cannot start the worker: \(message)"
            runningRevision = nil
            if shuttingDown {
                phase = .stopped
                return [.finished]
            }
            return [.record(.workerSpawnFailed, ["error": .string(message)])] + scheduleRestart(now: now)

        case (.spawnRefused(let revision, let reason), .spawning):
            runningRevision = nil
            phase = .idle
            if shuttingDown {
                phase = .stopped
                return [.finished]
            }
            return refused(revision, reason: reason, now: now)

        case (.hello(let pid), .starting(let current, _)) where pid == current:
            return []

        case (.wrongRevision(let pid, let claimed), .starting(let current, let since)) where pid == current:
            return stopUnhealthy(
                pid: pid, since: since, readyAt: nil, reason: .wrongRevision, timeout: nil,
                message: "the worker said it runs revision \(claimed), not \(runningRevision ?? "?")", now: now)

        case (.ready(let pid), .starting(let current, let since)) where pid == current:
            phase = .ready(pid: pid, since: since, readyAt: now, lastHeartbeat: now)
            lastPoll = now
            if var probation, probation.revision == runningRevision {
                probation.readyAt = now
                self.probation = probation
            }
            if let message = degraded, message.hasPrefix(Self.sandboxDegraded) {
                degraded = nil
            }
            return [
                .record(.workerReady, ["pid": .int(Int64(pid)), "startup_ms": .int((now - since).wholeMilliseconds)])
            ]

        case (.heartbeat(let pid, let pollCompleted, let pollAttempted), .ready(let current, let since, let readyAt, _))
        where pid == current:
            phase = .ready(pid: pid, since: since, readyAt: readyAt, lastHeartbeat: now)
            if let pollCompleted, pollCompleted > (lastPollCompleted ?? readyAt) {
                lastPollCompleted = min(pollCompleted, now)
            }
            if let ended = [pollAttempted, pollCompleted].compactMap({ $0 }).max(), ended > (lastPoll ?? readyAt) {
                lastPoll = min(ended, now)
            }
            return []

        case (.tick, .starting(let pid, let since)) where now - since > settings.readyTimeout:
            return stopUnhealthy(
                pid: pid, since: since, readyAt: nil, reason: .readyTimeout, timeout: settings.readyTimeout,
                message: "the worker did not say Ready within \(settings.readyTimeout)", now: now)

        case (.tick, .ready(let pid, let since, let readyAt, let lastHeartbeat)):
            return tickReady(pid: pid, since: since, readyAt: readyAt, lastHeartbeat: lastHeartbeat, now: now)

        case (.tick, .stopping(let pid, let since, let readyAt, let reason, let killAt, false)) where now >= killAt:
            phase = .stopping(pid: pid, since: since, readyAt: readyAt, reason: reason, killAt: killAt, killed: true)
            return [
                .record(
                    .workerKill,
                    [
                        "pid": .int(Int64(pid)), "reason": .string(reason.rawValue),
                        "message": .string("the worker did not stop within \(settings.stopTimeout) of SIGTERM"),
                    ]),
                .kill(pid: pid),
            ]

        case (.exited(let pid, let status), .starting(let current, let since)) where pid == current:
            return workerExited(pid: pid, status: status, since: since, readyAt: nil, reason: nil, now: now)

        case (.exited(let pid, let status), .ready(let current, let since, let readyAt, _)) where pid == current:
            return workerExited(pid: pid, status: status, since: since, readyAt: readyAt, reason: nil, now: now)

        case (.exited(let pid, let status), .stopping(let current, let since, let readyAt, let reason, _, _))
        where pid == current:
            return workerExited(pid: pid, status: status, since: since, readyAt: readyAt, reason: reason, now: now)

        case (.sandboxFailed(let pid, let message), .starting(let current, let since)) where pid == current:
            return sandboxFailed(pid: pid, message: message, since: since, now: now)

        case (.sandboxFailed(let pid, let message), .stopping(let current, let since, _, _, _, _)) where pid == current:
            return sandboxFailed(pid: pid, message: message, since: since, now: now)

        default:
            return []
        }
    }

    static let sandboxDegraded = "the worker's sandbox could not be set up"

    // MARK: - Revisions

    private mutating func deploy(_ revision: String, reason: String, now: Instant) -> [Action] {
        guard !shuttingDown else { return [] }
        var actions: [Action] = []
        // A deploy replaces one still on probation: that one is reverted first (it never proved itself).
        if let earlier = probation {
            actions += revert(
                earlier, check: "superseded", message: "revision \(revision) was deployed in its place", now: now)
        }
        let revertTo = pointers.lastGood ?? pointers.current
        guard revision != revertTo else { return actions }
        probation = Probation(revision: revision, revertTo: revertTo, startedAt: now, selfCheckRunning: true)
        pointers.current = revision
        actions += [
            .transition(revision: revision, state: .probation, reason: reason, pointers: pointers),
            .runSelfCheck(revision: revision),
        ]
        return actions
    }

    private mutating func selfCheckFinished(_ revision: String, passed: Bool, message: String, now: Instant) -> [Action]
    {
        guard var probation, probation.revision == revision, !probation.selfChecked else { return [] }
        probation.selfCheckRunning = false
        guard passed else {
            return revert(probation, check: "self_check", message: "its self-check failed: \(message)", now: now)
        }
        probation.selfChecked = true
        self.probation = probation
        var actions: [Action] = [.record(.revisionSelfCheckPassed, ["revision": .string(revision)])]
        actions += replaceRunningWorker(now: now)
        return actions
    }

    private mutating func rollback(to target: String, reason: String, now: Instant) -> [Action] {
        guard !shuttingDown else { return [] }
        var actions: [Action] = []
        if let probation {
            actions += revertRecordOnly(probation, check: "rollback", message: reason)
        }
        let abandoned = pointers.current
        let previous = pointers.lastGood
        pointers = Pointers(
            current: target, lastGood: target,
            previousGood: previous != target
                ? previous : (pointers.previousGood != target ? pointers.previousGood : nil))
        if abandoned != target && probation == nil {
            actions.append(.transition(revision: abandoned, state: .rolledBack, reason: reason, pointers: pointers))
        }
        probation = nil
        crashLoopRevertUsed = false
        recentRestarts = []
        actions.append(.transition(revision: target, state: .promoted, reason: reason, pointers: pointers))
        actions += replaceRunningWorker(now: now)
        return actions
    }

    /// Stops the running worker when it runs another revision than `current` (its exit starts the next one), or
    /// starts `current` at once when nothing runs.
    private mutating func replaceRunningWorker(now: Instant) -> [Action] {
        switch phase {
        case .starting(let pid, let since) where runningRevision != revisionToRun:
            phase = .stopping(
                pid: pid, since: since, readyAt: nil, reason: .replaced, killAt: now + settings.stopTimeout,
                killed: false)
            return [.terminate(pid: pid)]
        case .ready(let pid, let since, let readyAt, _) where runningRevision != revisionToRun:
            phase = .stopping(
                pid: pid, since: since, readyAt: readyAt, reason: .replaced, killAt: now + settings.stopTimeout,
                killed: false)
            return [.terminate(pid: pid)]
        case .stopping(let pid, let since, let readyAt, let reason, let killAt, let killed)
        where reason != .shutdown && runningRevision != revisionToRun:
            // Already stopping: its exit now starts `current` without a backoff.
            phase = .stopping(
                pid: pid, since: since, readyAt: readyAt, reason: .replaced, killAt: killAt, killed: killed)
            return []
        case .backoff:
            phase = .idle
            return []
        default:
            return []
        }
    }

    /// Ends `probation` as reverted, returns `current` to what it falls back to and starts that.
    private mutating func revert(_ probation: Probation, check: String, message: String, now: Instant) -> [Action] {
        var actions = revertRecordOnly(probation, check: check, message: message)
        pointers.current = probation.revertTo
        self.probation = nil
        actions[0] = .transition(
            revision: probation.revision, state: .reverted, reason: message, pointers: pointers, check: check)
        actions += replaceRunningWorker(now: now)
        return actions
    }

    /// The records of a reverted probation, without changing what runs.
    private func revertRecordOnly(_ probation: Probation, check: String, message: String) -> [Action] {
        var after = pointers
        after.current = probation.revertTo
        return [
            .transition(revision: probation.revision, state: .reverted, reason: message, pointers: after, check: check),
            .tellAdmins(
                "Revision \(probation.revision.prefix(12)) was reverted: \(message). Running \(probation.revertTo.prefix(12)) again."
            ),
            .deployFinished(revision: probation.revision, promoted: false, reason: message),
        ]
    }

    private mutating func promote(_ probation: Probation, now: Instant) -> [Action] {
        let previous = pointers.lastGood
        pointers = Pointers(
            current: probation.revision, lastGood: probation.revision,
            previousGood: previous != probation.revision ? previous : pointers.previousGood)
        self.probation = nil
        crashLoopRevertUsed = false
        recentRestarts = []
        let reason = "healthy for \(settings.probation) after Ready"
        return [
            .transition(revision: probation.revision, state: .promoted, reason: reason, pointers: pointers),
            .deployFinished(revision: probation.revision, promoted: true, reason: nil),
        ]
    }

    /// The revision to spawn did not verify.
    private mutating func refused(_ revision: String, reason: String, now: Instant) -> [Action] {
        if let probation, probation.revision == revision {
            return revert(probation, check: "verify", message: "its file does not verify: \(reason)", now: now)
        }
        // The last-good itself: fall back to N-1 if there is one, else keep trying (the file may be restored).
        if let older = pointers.previousGood, older != revision {
            pointers = Pointers(current: older, lastGood: older, previousGood: nil)
            let message = "its file does not verify: \(reason)"
            return [
                .transition(revision: revision, state: .refused, reason: message, pointers: pointers, check: "verify"),
                .tellAdmins(
                    "Revision \(revision.prefix(12)) was refused: \(message). Running \(older.prefix(12)) instead."),
            ]
        }
        degraded =
            "the last-known-good revision \(revision.prefix(12)) does not verify (\(reason)) and there is "
            + "nothing older to trust; retrying with backoff"
        lastError = degraded
        return [.record(.revisionRefused, ["revision": .string(revision), "reason": .string(reason)])]
            + scheduleRestart(now: now)
    }

    private mutating func startSpawn() -> [Action] {
        phase = .spawning
        runningRevision = revisionToRun
        return [.spawn(revision: revisionToRun)]
    }

    private mutating func tickReady(pid: Int32, since: Instant, readyAt: Instant, lastHeartbeat: Instant, now: Instant)
        -> [Action]
    {
        if now - lastHeartbeat > settings.heartbeatTimeout {
            return stopUnhealthy(
                pid: pid, since: since, readyAt: readyAt, reason: .heartbeatTimeout,
                timeout: settings.heartbeatTimeout,
                message: "the worker sent no heartbeat for \(settings.heartbeatTimeout)", now: now,
                extra: ["silent_ms": .int((now - lastHeartbeat).wholeMilliseconds)])
        }
        if let stuckAfter = settings.stuckAfter, let lastPoll, now - lastPoll > stuckAfter {
            return stopUnhealthy(
                pid: pid, since: since, readyAt: readyAt, reason: .stuck, timeout: stuckAfter,
                message: "the worker heartbeats but no Telegram poll ended for \(stuckAfter)", now: now,
                extra: ["poll_age_ms": .int((now - lastPoll).wholeMilliseconds)])
        }
        var actions: [Action] = []
        if now - readyAt >= settings.stableAfter {
            consecutiveFailures = 0
            if let message = degraded, !message.hasPrefix(Self.sandboxDegraded) {
                degraded = nil
                actions.append(.record(.serviceRecovered, ["revision": .string(runningRevision ?? "?")]))
            }
        }
        if let probation, probation.revision == runningRevision, let ready = probation.readyAt,
            now - ready >= settings.probation, polledSince(ready)
        {
            actions += promote(probation, now: now)
        }
        return actions
    }

    /// Whether the running worker completed a Telegram poll after `instant` (always true when it does not poll): a
    /// revision on probation is promoted only once it has, so one that never polls is judged stuck, not promoted,
    /// whatever the probation time.
    private func polledSince(_ instant: Instant) -> Bool {
        guard settings.stuckAfter != nil else { return true }
        return lastPollCompleted.map { $0 > instant } ?? false
    }

    /// Records why a worker is unhealthy and starts stopping it: SIGTERM now, SIGKILL after the stop timeout.
    private mutating func stopUnhealthy(
        pid: Int32, since: Instant, readyAt: Instant?, reason: StopReason, timeout: Duration?, message: String,
        now: Instant, extra: [String: JSONValue] = [:]
    ) -> [Action] {
        lastError = message
        phase = .stopping(
            pid: pid, since: since, readyAt: readyAt, reason: reason, killAt: now + settings.stopTimeout, killed: false)
        var payload: [String: JSONValue] = ["pid": .int(Int64(pid)), "reason": .string(reason.rawValue)]
        if let timeout { payload["timeout_ms"] = .int(timeout.wholeMilliseconds) }
        payload["message"] = .string(message)
        payload.merge(extra) { _, new in new }
        var actions: [Action] = [.record(.workerUnhealthy, payload), .terminate(pid: pid)]
        // On probation the verdict is final at once: revert now, the exit then starts the last-good.
        if let probation, probation.revision == runningRevision {
            var after = revert(probation, check: reason.rawValue, message: message, now: now)
            // `revert` saw the worker already stopping and left it so; its exit starts `current`.
            after.removeAll { if case .terminate = $0 { return true } else { return false } }
            actions += after
            phase = .stopping(
                pid: pid, since: since, readyAt: readyAt, reason: .replaced, killAt: now + settings.stopTimeout,
                killed: false)
        }
        return actions
    }

    private mutating func sandboxFailed(pid: Int32, message: String, since: Instant, now: Instant) -> [Action] {
        lastExit = "sandbox_failed: exited with status 125"
        lastError = "\(Self.sandboxDegraded): \(message)"
        degraded = lastError
        runningRevision = nil
        var actions: [Action] = [
            .record(
                .workerSandboxFailed,
                [
                    "pid": .int(Int64(pid)), "message": .string(message),
                    "uptime_ms": .int((now - since).wholeMilliseconds),
                ])
        ]
        if shuttingDown {
            phase = .stopped
            actions.append(.finished)
            return actions
        }
        return actions + scheduleRestart(now: now)
    }

    private mutating func workerExited(
        pid: Int32, status: ExitStatus, since: Instant, readyAt: Instant?, reason: StopReason?, now: Instant
    ) -> [Action] {
        let why: String
        if let reason {
            why = reason.rawValue
        } else if case .signaled = status {
            why = "crashed"
        } else {
            why = "exited"
        }
        lastExit = "\(why): \(status)"
        if reason == nil { lastError = "the worker \(status)" }
        var payload: [String: JSONValue] = [
            "pid": .int(Int64(pid)), "reason": .string(why), "uptime_ms": .int((now - since).wholeMilliseconds),
            "status": .string(status.description),
        ]
        switch status {
        case .exited(let code): payload["exit_code"] = .int(Int64(code))
        case .signaled(let signal):
            payload["signal"] = .int(Int64(signal))
            payload["signal_name"] = .string(ExitStatus.signalName(signal))
        }
        var actions: [Action] = [.record(.workerExited, payload)]
        let exitedRevision = runningRevision
        runningRevision = nil
        if shuttingDown {
            phase = .stopped
            actions.append(.finished)
            return actions
        }
        if reason == .replaced {
            // Another revision takes its place: no failure, no backoff.
            phase = .idle
            return actions
        }
        // On probation any exit reverts at once; the last-good starts without a backoff.
        if let probation, probation.revision == exitedRevision {
            phase = .idle
            let message =
                reason.map { "it was stopped (\($0.rawValue))" }
                ?? "it \(status) \((now - since).wholeMilliseconds) ms after it started"
            return actions + revert(probation, check: reason?.rawValue ?? "exit", message: message, now: now)
        }
        if let readyAt, now - readyAt >= settings.stableAfter {
            consecutiveFailures = 0
        }
        recentRestarts = recentRestarts.filter { now - $0 < settings.crashLoopWindow } + [now]
        if recentRestarts.count >= settings.crashLoopRestarts, let exitedRevision {
            actions += crashLoop(exitedRevision, now: now)
            if case .idle = phase { return actions }
        }
        actions += scheduleRestart(now: now)
        return actions
    }

    /// A promoted revision restarted `crashLoopRestarts` times within the window: revert to N-1 once; after that
    /// (or with nothing older) keep the last-good, back off and say the service is degraded.
    private mutating func crashLoop(_ revision: String, now: Instant) -> [Action] {
        let message = "it restarted \(recentRestarts.count) times within \(settings.crashLoopWindow)"
        if !crashLoopRevertUsed, let older = pointers.previousGood, older != revision {
            crashLoopRevertUsed = true
            recentRestarts = []
            consecutiveFailures = 0
            pointers = Pointers(current: older, lastGood: older, previousGood: nil)
            phase = .idle
            return [
                .transition(
                    revision: revision, state: .reverted, reason: "crash loop: \(message)", pointers: pointers,
                    check: "crash_loop"),
                .tellAdmins(
                    "Revision \(revision.prefix(12)) was reverted: \(message). Running \(older.prefix(12)) again."),
            ]
        }
        let wasDegraded = degraded != nil
        degraded =
            "the last-known-good revision \(revision.prefix(12)) keeps failing (\(message)) and there is nothing "
            + "older to trust; retrying with backoff"
        return wasDegraded
            ? [] : [.record(.serviceDegraded, ["revision": .string(revision), "reason": .string(degraded ?? "")])]
    }

    private mutating func scheduleRestart(now: Instant) -> [Action] {
        consecutiveFailures += 1
        let delay = backoffDelay(failures: consecutiveFailures)
        phase = .backoff(until: now + delay)
        return [
            .record(
                .workerRestartScheduled,
                [
                    "delay_ms": .int(delay.wholeMilliseconds), "consecutive_failures": .int(Int64(consecutiveFailures)),
                ])
        ]
    }
}

import AutonousCore

/// The worker's lifecycle as a pure state machine: inputs (spawned, hello, ready, heartbeat, exited, tick,
/// shutdown) and the time in, actions out. No clock, process or database inside, so every timing rule is tested
/// by feeding instants.
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

        init(configuration: Configuration) {
            readyTimeout = configuration.workerReadyTimeout
            heartbeatTimeout = configuration.workerHeartbeatTimeout
            stopTimeout = configuration.workerStopTimeout
            backoffInitial = configuration.restartBackoffInitial
            backoffMax = configuration.restartBackoffMax
            stableAfter = max(.seconds(60), configuration.restartBackoffMax)
        }

        init(
            readyTimeout: Duration, heartbeatTimeout: Duration, stopTimeout: Duration, backoffInitial: Duration,
            backoffMax: Duration, stableAfter: Duration
        ) {
            self.readyTimeout = readyTimeout
            self.heartbeatTimeout = heartbeatTimeout
            self.stopTimeout = stopTimeout
            self.backoffInitial = backoffInitial
            self.backoffMax = backoffMax
            self.stableAfter = stableAfter
        }
    }

    typealias Instant = ContinuousClock.Instant

    /// Why a worker was stopped by the supervisor.
    enum StopReason: String, Equatable {
        case readyTimeout = "ready_timeout"
        case heartbeatTimeout = "heartbeat_timeout"
        case shutdown
    }

    enum Phase: Equatable {
        /// Nothing running; the next tick spawns.
        case idle
        /// The driver is spawning; waiting for `.spawned` or `.spawnFailed`.
        case spawning
        case backoff(until: Instant)
        case starting(pid: Int32, since: Instant)
        case ready(pid: Int32, since: Instant, readyAt: Instant, lastHeartbeat: Instant)
        case stopping(pid: Int32, since: Instant, readyAt: Instant?, reason: StopReason, killAt: Instant, killed: Bool)
        /// Supervisor shutdown finished: nothing runs and nothing will be spawned.
        case stopped
    }

    enum Input: Equatable {
        case spawned(pid: Int32)
        case spawnFailed(String)
        case hello(pid: Int32)
        case ready(pid: Int32)
        case heartbeat(pid: Int32)
        case exited(pid: Int32, ExitStatus)
        case tick
        case shutdown
    }

    enum Action: Equatable {
        case spawn
        case terminate(pid: Int32)
        case kill(pid: Int32)
        /// An event for the current worker spawn (or the process when no worker is running).
        case record(String, [String: JSONValue])
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
    private var spawnCount = 0

    init(settings: Settings) {
        self.settings = settings
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
    /// SIGKILL already sent, stopped, or nothing to restart during shutdown). `now` is returned when a tick is due
    /// at once (idle: the first spawn).
    ///
    /// The ready and heartbeat rules fire when the silence is strictly longer than the timeout, hence the extra
    /// nanosecond: a tick exactly at the deadline would otherwise find nothing to do and sleep zero time again.
    func nextDeadline(now: Instant) -> Instant? {
        let past = Duration.nanoseconds(1)
        switch phase {
        case .idle: return shuttingDown ? nil : now
        case .spawning, .stopped: return nil
        case .backoff(let until): return shuttingDown ? nil : until
        case .starting(_, let since): return since + settings.readyTimeout + past
        case .ready(_, _, _, let lastHeartbeat): return lastHeartbeat + settings.heartbeatTimeout + past
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

        case (.tick, .idle):
            guard !shuttingDown else { return [] }
            phase = .spawning
            return [.spawn]

        case (.tick, .backoff(let until)):
            guard now >= until, !shuttingDown else { return [] }
            phase = .spawning
            return [.spawn]

        case (.spawned(let pid), .spawning):
            spawnCount += 1
            if spawnCount > 1 { restarts += 1 }
            phase = .starting(pid: pid, since: now)
            if shuttingDown {
                phase = .stopping(
                    pid: pid, since: now, readyAt: nil, reason: .shutdown,
                    killAt: now + settings.stopTimeout, killed: false)
                return [.terminate(pid: pid)]
            }
            return []

        case (.spawnFailed(let message), .spawning):
            lastError = "cannot start the worker: \(message)"
            if shuttingDown {
                phase = .stopped
                return [.finished]
            }
            return [.record("worker.spawn_failed", ["error": .string(message)])] + scheduleRestart(now: now)

        case (.hello(let pid), .starting(let current, _)) where pid == current:
            return []

        case (.ready(let pid), .starting(let current, let since)) where pid == current:
            phase = .ready(pid: pid, since: since, readyAt: now, lastHeartbeat: now)
            return [
                .record("worker.ready", ["pid": .int(Int64(pid)), "startup_ms": .int((now - since).wholeMilliseconds)])
            ]

        case (.heartbeat(let pid), .ready(let current, let since, let readyAt, _)) where pid == current:
            phase = .ready(pid: pid, since: since, readyAt: readyAt, lastHeartbeat: now)
            return []

        case (.tick, .starting(let pid, let since)) where now - since > settings.readyTimeout:
            return stopUnhealthy(
                pid: pid, since: since, readyAt: nil, reason: .readyTimeout, timeout: settings.readyTimeout,
                message: "the worker did not say Ready within \(settings.readyTimeout)", now: now)

        case (.tick, .ready(let pid, let since, let readyAt, let lastHeartbeat))
        where now - lastHeartbeat > settings.heartbeatTimeout:
            return stopUnhealthy(
                pid: pid, since: since, readyAt: readyAt, reason: .heartbeatTimeout,
                timeout: settings.heartbeatTimeout,
                message: "the worker sent no heartbeat for \(settings.heartbeatTimeout)", now: now,
                extra: ["silent_ms": .int((now - lastHeartbeat).wholeMilliseconds)])

        case (.tick, .stopping(let pid, let since, let readyAt, let reason, let killAt, false)) where now >= killAt:
            phase = .stopping(pid: pid, since: since, readyAt: readyAt, reason: reason, killAt: killAt, killed: true)
            return [
                .record(
                    "worker.kill",
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

        default:
            return []
        }
    }

    /// Records why a worker is unhealthy and starts stopping it: SIGTERM now, SIGKILL after the stop timeout.
    private mutating func stopUnhealthy(
        pid: Int32, since: Instant, readyAt: Instant?, reason: StopReason, timeout: Duration, message: String,
        now: Instant, extra: [String: JSONValue] = [:]
    ) -> [Action] {
        lastError = message
        phase = .stopping(
            pid: pid, since: since, readyAt: readyAt, reason: reason, killAt: now + settings.stopTimeout, killed: false)
        var payload: [String: JSONValue] = [
            "pid": .int(Int64(pid)), "reason": .string(reason.rawValue), "timeout_ms": .int(timeout.wholeMilliseconds),
        ]
        payload.merge(extra) { _, new in new }
        return [.record("worker.unhealthy", payload), .terminate(pid: pid)]
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
        var actions: [Action] = [.record("worker.exited", payload)]
        if shuttingDown {
            phase = .stopped
            actions.append(.finished)
            return actions
        }
        if let readyAt, now - readyAt >= settings.stableAfter {
            consecutiveFailures = 0
        }
        actions += scheduleRestart(now: now)
        return actions
    }

    private mutating func scheduleRestart(now: Instant) -> [Action] {
        consecutiveFailures += 1
        let delay = backoffDelay(failures: consecutiveFailures)
        phase = .backoff(until: now + delay)
        return [
            .record(
                "worker.restart_scheduled",
                [
                    "delay_ms": .int(delay.wholeMilliseconds), "consecutive_failures": .int(Int64(consecutiveFailures)),
                ])
        ]
    }
}

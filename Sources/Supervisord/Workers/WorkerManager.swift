import AutonousCore
import Foundation
import Logging
import ServiceLifecycle
import Synchronization

#if canImport(Glibc)
import Glibc
#endif

/// Runs the worker: spawns the revision the `WorkerMonitor` names, feeds it with what happens, carries out its
/// actions (verify and spawn, SIGTERM, SIGKILL, events, revision transitions and pointer flips, self-checks, notes
/// to the admins), and on graceful shutdown stops the worker before returning.
final class WorkerManager: Service, Sendable {
    /// What status reports about the worker.
    struct Snapshot: Sendable {
        var status: ControlInterface.WorkerStatus
        var isReady: Bool
        var revisions: ControlInterface.RevisionsStatus
    }

    private struct State: Sendable {
        var monitor: WorkerMonitor
        var child: ChildProcess?
        /// The revision the current child was started from.
        var revision: String?
        /// The last lines the current child wrote (the launcher's message, a crash report).
        var tail = LineTail()
        /// Notes for the Telegram admins, sent through the next worker that says Ready (the one they are about).
        var adminNotes: [String] = []
        /// Notices that wait for the next worker that says Ready (staged updates: only a last-good one).
        var pendingNotices: [WorkerInterface.Notice] = []
        var spawnEventID: Int64?
        var spawnedAt: ContinuousClock.Instant?
        /// The current worker's last heartbeat: what it reported and when it arrived.
        var lastHeartbeat: (counters: WorkerInterface.Counters, at: ContinuousClock.Instant)?
        var finished = false
        /// The current child said Hello: it ran, so an exit 125 is its own, not the launcher's.
        var helloSeen = false
        /// The current launcher's report pipe: whether the worker ran at all.
        var report: LauncherReport?
        /// What systemd was last told (`STATUS=`), so it hears only of changes.
        var reportedStatus = ""
    }

    private let configuration: Configuration
    private let launch: WorkerLaunch
    private let store: ArtifactStore
    private let revisions: RevisionLog
    private let selfCheck: SelfCheckRunner
    /// Deploy callers waiting for the outcome (`Deploy` with `wait`), by revision.
    private let deployOutcomes = KeyedWakeUps<DeployOutcome>()
    private let events: EventLog
    private let processEventID: Int64
    private let relay: ChatRelay
    private let logger: Logger
    private let notifier: SystemdNotifier
    private let parentEnvironment: [String: String]
    private let state: Mutex<State>
    /// Counts revision changes (deploys, promotions, reverts, rollbacks): the update pipeline looks again after each.
    let revisionChanges = ChangeSignal()
    /// Wakes `run` when an input arrived, so it recomputes the monitor's next deadline.
    private let inputs = KeyedWakeUps<Void>()
    private static let inputKey = "input"

    /// How a deploy ended.
    struct DeployOutcome: Sendable, Equatable {
        var promoted: Bool
        var reason: String?
    }

    init(
        configuration: Configuration, launch: WorkerLaunch, store: ArtifactStore, revisions: RevisionLog,
        start: RevisionStartup.Outcome, events: EventLog, processEventID: Int64, relay: ChatRelay,
        notifier: SystemdNotifier, environment: [String: String], logger: Logger
    ) {
        self.configuration = configuration
        self.launch = launch
        self.store = store
        self.revisions = revisions
        self.selfCheck = SelfCheckRunner(
            configuration: configuration, sandboxBinary: launch.sandboxBinary, environment: environment,
            logger: logger)
        self.events = events
        self.processEventID = processEventID
        self.relay = relay
        self.notifier = notifier
        self.parentEnvironment = environment
        self.logger = logger
        self.state = Mutex(
            State(
                monitor: WorkerMonitor(
                    settings: .init(configuration: configuration), pointers: start.pointers,
                    onProbation: start.onProbation)))
    }

    /// Ticks the monitor, then sleeps until its next deadline or until an input arrives, whichever comes first.
    func run() async throws {
        await withGracefulShutdownHandler {
            while true {
                // Registered before the tick: an input that arrives from here on wakes the wait below; one that
                // arrived earlier is already reflected in the deadline computed after the tick.
                inputs.register(Self.inputKey)
                deliver(.tick)
                let (finished, deadline) = state.withLock { state in
                    (state.finished, state.monitor.nextDeadline(now: .now))
                }
                if finished { return }
                // Without a deadline only an input changes anything; the hour is a safety net, not a tick. Under a
                // systemd watchdog this loop is what pings it, so a stalled loop is what systemd notices.
                var timeout = deadline.map { max(.zero, $0 - .now) } ?? .seconds(3600)
                if let interval = notifier.watchdogInterval {
                    notifier.watchdog()
                    timeout = min(timeout, interval)
                }
                // Unstructured, so a cancelled run (after the graceful period) still sleeps until SIGKILL is due
                // instead of spinning: the kill must still be sent.
                let inputs = inputs
                await Task { await inputs.wait(Self.inputKey, timeout: timeout) }.value
            }
        } onGracefulShutdown: {
            self.notifier.stopping(status: "stopping the worker")
            self.deliver(.shutdown)
        }
    }

    /// Feeds one input and carries out the resulting actions, all under the lock so inputs are handled in order.
    func deliver(_ input: WorkerMonitor.Input) {
        defer {
            // A heartbeat only moves the deadline later (the wait may end at the old one and find nothing to do),
            // except on probation, where its first completed poll may make the promotion due at once.
            switch input {
            case .tick: break
            case .heartbeat:
                if state.withLock({ $0.monitor.probation != nil }) { inputs.resume(Self.inputKey, with: ()) }
            default: inputs.resume(Self.inputKey, with: ())
            }
        }
        state.withLock { state in
            var inputs = [input]
            while !inputs.isEmpty {
                let next = inputs.removeFirst()
                // A worker that has ended but whose exit report is still waiting for this lock must not be judged
                // by the clock first (a heartbeat or ready timeout): its exit, on its way, says what happened.
                if case .tick = next, let child = state.child, child.hasExited, state.monitor.pid == child.pid {
                    continue
                }
                let wasReady = state.monitor.isReady
                let actions = state.monitor.handle(next, now: .now)
                for action in actions {
                    if let followUp = perform(action, state: &state) { inputs.append(followUp) }
                }
                // Chats are only taken while the worker is ready, so leaving ready is when waiting callers hear.
                if wasReady && !state.monitor.isReady {
                    relay.workerGone(
                        "the worker stopped (\(state.monitor.lastExit ?? state.monitor.lastError ?? "unknown"))")
                }
                switch next {
                case .exited, .sandboxFailed:
                    if state.monitor.pid == nil { state.child = nil }
                default: break
                }
            }
            reportStatus(&state)
        }
    }

    /// Tells systemd (`STATUS=`) what runs and whether the service is degraded, when that changed.
    private func reportStatus(_ state: inout State) {
        let monitor = state.monitor
        var text: String
        switch monitor.phase {
        case .ready(let pid, _, _, _): text = "worker ready (pid \(pid))"
        case .starting: text = "worker starting"
        case .backoff: text = "worker restarting after a backoff"
        case .stopping: text = "worker stopping"
        case .idle, .spawning: text = "worker starting"
        case .stopped: text = "worker stopped"
        }
        text += "; revision \(monitor.pointers.current.prefix(12))"
        if let probation = monitor.probation { text += " (probation: \(probation.revision.prefix(12)))" }
        if let degraded = monitor.degraded { text += "; DEGRADED: \(degraded)" }
        guard text != state.reportedStatus else { return }
        state.reportedStatus = text
        notifier.status(text)
    }

    /// A heartbeat from the worker `pid`: keeps what it reports (for status) and tells the monitor.
    func heartbeat(pid: Int32, counters: WorkerInterface.Counters) {
        state.withLock { state in
            if state.monitor.pid == pid { state.lastHeartbeat = (counters, .now) }
        }
        // The worker reports wall-clock milliseconds; the monitor judges on the monotonic clock.
        func instant(_ unixMilliseconds: Int64?) -> ContinuousClock.Instant? {
            unixMilliseconds.map { .now - .milliseconds(max(0, AppDatabase.nowMilliseconds() - $0)) }
        }
        deliver(
            .heartbeat(
                pid: pid, pollCompleted: instant(counters.lastPollCompletedMs),
                pollAttempted: instant(counters.lastPollAttemptMs ?? counters.lastPollCompletedMs)))
    }

    /// The revision the worker `pid` was started from; nil when `pid` is not the current worker.
    func expectedRevision(pid: Int32) -> String? {
        state.withLock { $0.monitor.pid == pid ? $0.revision : nil }
    }

    private func perform(_ action: WorkerMonitor.Action, state: inout State) -> WorkerMonitor.Input? {
        switch action {
        case .spawn(let revision):
            return spawn(revision, state: &state)
        case .terminate(let pid):
            logger.notice("stopping worker", metadata: ["worker.pid": "\(pid)"])
            state.child?.signalGroup(SIGTERM)
            return nil
        case .kill(let pid):
            logger.warning("killing worker", metadata: ["worker.pid": "\(pid)"])
            state.child?.signalGroup(SIGKILL)
            return nil
        case .record(let type, var payload):
            if let revision = state.revision, payload["revision"] == nil { payload["revision"] = .string(revision) }
            if type == .workerExited || type == .workerSandboxFailed {
                let lines = state.tail.snapshot
                if !lines.isEmpty { payload["last_lines"] = .array(lines.map { .string($0) }) }
            }
            if type == .workerReady {
                // Queued only now: notices queued while a worker stops are dropped with it, and the stopping
                // (possibly misbehaving) worker must not be the one to receive them.
                for text in state.adminNotes {
                    relay.notices.push(
                        WorkerInterface.Notice(kind: "admins", id: UUID().uuidString.lowercased(), text: text))
                }
                state.adminNotes = []
                if state.monitor.probation == nil && state.monitor.pointers.current == state.monitor.pointers.lastGood {
                    for notice in state.pendingNotices { relay.notices.push(notice) }
                    state.pendingNotices = []
                }
            }
            let parent = state.spawnEventID ?? processEventID
            let processLevel: Set<EventType> = [
                .workerRestartScheduled, .workerSpawnFailed, .serviceDegraded, .serviceRecovered,
                .revisionRefused, .revisionSelfCheckPassed,
            ]
            do {
                try events.append(
                    type, EventContext(parentID: processLevel.contains(type) ? processEventID : parent),
                    payload: payload)
            } catch {
                logger.error("cannot record event", metadata: ["event.type": "\(type)", "error": "\(error)"])
            }
            logLifecycle(type, payload)
            return nil
        case .transition(let revision, let revisionState, let reason, let pointers, let check):
            // The revision's own last lines, while its tail is the one kept (it runs, or was the last to run).
            let lines = state.revision == revision ? state.tail.snapshot : []
            transition(revision, revisionState, reason: reason, pointers: pointers, check: check, lastLines: lines)
            return nil
        case .runSelfCheck(let revision):
            runSelfCheck(revision)
            return nil
        case .tellAdmins(let text):
            logger.notice("telling the admins", metadata: ["text": "\(text)"])
            // A worker that stays (a revert before the new revision ever ran) tells them now; otherwise the next
            // one to say Ready does.
            if state.monitor.isReady && state.monitor.runningRevision == state.monitor.pointers.current {
                relay.notices.push(
                    WorkerInterface.Notice(kind: "admins", id: UUID().uuidString.lowercased(), text: text))
            } else {
                state.adminNotes.append(text)
            }
            return nil
        case .deployFinished(let revision, let promoted, let reason):
            _ = deployOutcomes.resume(revision, with: DeployOutcome(promoted: promoted, reason: reason))
            return nil
        case .finished:
            state.finished = true
            return nil
        }
    }

    /// Records a revision's new state with the pointers as they must be afterwards (the write-ahead record a
    /// restart reconciles from), then flips the symlinks that differ.
    private func transition(
        _ revision: String, _ revisionState: WorkerMonitor.RevisionState, reason: String,
        pointers: WorkerMonitor.Pointers, check: String?, lastLines: [String]
    ) {
        var payload: [String: JSONValue] = [
            "revision": .string(revision), "reason": .string(reason), "current": .string(pointers.current),
        ]
        if let lastGood = pointers.lastGood { payload["last_good"] = .string(lastGood) }
        if let previousGood = pointers.previousGood { payload["previous_good"] = .string(previousGood) }
        if let check { payload["check"] = .string(check) }
        if revisionState == .reverted || revisionState == .refused, !lastLines.isEmpty {
            payload["last_lines"] = .array(lastLines.map { .string($0) })
        }
        let type = revisionState.eventType
        do {
            _ = try revisions.record(
                revision, RevisionLog.State(rawValue: revisionState.rawValue) ?? .refused, reason: reason,
                current: pointers.current, lastGood: pointers.lastGood, previousGood: pointers.previousGood,
                event: (type: type, payload: payload, parentID: processEventID))
        } catch {
            logger.error("cannot record a revision change", metadata: ["revision": "\(revision)", "error": "\(error)"])
        }
        do {
            try store.setPointer(.current, to: pointers.current)
            try store.setPointer(.lastGood, to: pointers.lastGood)
            try store.setPointer(.previousGood, to: pointers.previousGood)
        } catch {
            logger.error(
                "cannot flip the revision pointers; the next start reconciles them from the revisions table",
                metadata: ["error": "\(error)"])
        }
        revisionChanges.notify()
        var metadata: Logger.Metadata = [
            "revision": "\(revision)", "revision.state": "\(revisionState.rawValue)", "reason": "\(reason)",
        ]
        if let check { metadata["revision.check"] = "\(check)" }
        switch revisionState {
        case .reverted, .refused: logger.warning("\(type)", metadata: metadata)
        default: logger.notice("\(type)", metadata: metadata)
        }
        if revisionState == .promoted { prune(protecting: pointers) }
    }

    /// Keeps the newest `AUTONOUS_KEEP_REVISIONS` artifacts besides those the pointers name; records each removal.
    private func prune(protecting pointers: WorkerMonitor.Pointers) {
        let protected = Set([pointers.current, pointers.lastGood, pointers.previousGood].compactMap { $0 })
        do {
            for removed in try store.prune(keep: configuration.keepRevisions, protecting: protected) {
                _ = try revisions.record(
                    removed, .retired, reason: "pruned: beyond the newest \(configuration.keepRevisions) revisions",
                    current: pointers.current, lastGood: pointers.lastGood, previousGood: pointers.previousGood,
                    event: (
                        type: .revisionRetired, payload: ["revision": .string(removed)], parentID: processEventID
                    ))
            }
        } catch {
            logger.error("cannot prune old revisions", metadata: ["error": "\(error)"])
        }
    }

    /// Verifies and self-checks `revision` off the lock; the result comes back as an input.
    private func runSelfCheck(_ revision: String) {
        let store = store
        let selfCheck = selfCheck
        let events = events
        let parent = processEventID
        Task { [weak self] in
            let result: SelfCheckRunner.Result
            switch store.verify(revision) {
            case .verified(let binary):
                result = await selfCheck.run(revision: revision, binary: binary)
            case .missing(let why):
                result = .init(passed: false, message: "its file is missing: \(why)", report: nil)
            case .changed(let actual):
                result = .init(passed: false, message: "its file changed (sha256 now \(actual))", report: nil)
            }
            var payload: [String: JSONValue] = [
                "revision": .string(revision), "passed": .bool(result.passed), "message": .string(result.message),
            ]
            if let report = result.report { payload["report"] = report }
            _ = try? events.append(.revisionSelfCheck, EventContext(parentID: parent), payload: payload)
            self?.deliver(.selfCheckFinished(revision: revision, passed: result.passed, message: result.message))
        }
    }

    private func logLifecycle(_ type: EventType, _ payload: [String: JSONValue]) {
        var metadata: Logger.Metadata = ["event.type": "\(type)"]
        for (key, value) in payload where key != "last_lines" {
            metadata["worker.\(key)"] = "\(value.stringValue ?? value.jsonText)"
        }
        switch type {
        case .workerUnhealthy, .workerSpawnFailed, .workerKill, .workerSandboxFailed, .serviceDegraded,
            .revisionRefused:
            logger.warning("\(type)", metadata: metadata)
        case .workerExited: logger.notice("\(type)", metadata: metadata)
        default: logger.info("\(type)", metadata: metadata)
        }
    }

    private func spawn(_ revision: String, state: inout State) -> WorkerMonitor.Input {
        // Never run a file that was not verified just now.
        let binary: String
        switch store.verify(revision) {
        case .verified(let path): binary = path
        case .missing(let why): return .spawnRefused(revision: revision, reason: "its file is missing: \(why)")
        case .changed(let actual):
            return .spawnRefused(
                revision: revision, reason: "its file changed since it was imported (sha256 now \(actual))")
        }
        let environment = launch.environment(from: parentEnvironment, configuration: configuration, revision: revision)
        // The spawn event exists before the process, so the worker's first events already have their parent.
        let attempt = state.monitor.restarts + (state.child == nil && state.spawnEventID == nil ? 0 : 1)
        let spawnEventID: Int64
        do {
            spawnEventID = try events.append(
                .workerSpawning, EventContext(parentID: processEventID),
                payload: [
                    "revision": .string(revision), "binary": .string(binary), "attempt": .int(Int64(attempt)),
                ])
        } catch {
            return .spawnFailed("cannot record the spawn: \(error)")
        }
        do {
            let sandbox = WorkerSandbox(configuration: configuration, sandboxBinary: launch.sandboxBinary)
            let (arguments, launcherEnvironment) = sandbox.command(
                workerBinary: binary, workerEnvironment: environment)
            WorkerSandbox.grantState(to: configuration.workerUID, configuration: configuration)
            let tail = LineTail()
            let report = try LauncherReport()
            defer { report.closeWriteEnd() }
            let child = try ChildProcess.spawn(
                executable: launch.sandboxBinary, arguments: ["--status-fd", "3"] + arguments,
                environment: launcherEnvironment, output: .passThrough(tail, logger: logger), passing: report.writeEnd,
                onExit: { [weak self] status in self?.childExited(status) })
            state.report = report
            state.child = child
            state.tail = tail
            state.revision = revision
            state.spawnEventID = spawnEventID
            state.spawnedAt = .now
            state.lastHeartbeat = nil
            state.helloSeen = false
            _ = try? events.append(
                .workerSpawned, EventContext(parentID: spawnEventID),
                payload: ["pid": .int(Int64(child.pid)), "revision": .string(revision)])
            logger.info("worker spawned", metadata: ["worker.pid": "\(child.pid)", "revision": "\(revision)"])
            return .spawned(pid: child.pid)
        } catch {
            return .spawnFailed("\(error)")
        }
    }

    private func childExited(_ status: ExitStatus) {
        // The reaper runs on its own thread; which child it was is read under the lock.
        let (pid, helloSeen, tail, report) = state.withLock { ($0.child?.pid, $0.helloSeen, $0.tail, $0.report) }
        guard let pid else { return }
        // The launcher exits 125 when it could not set the sandbox up: the worker never ran, and the launcher
        // reported nothing. A worker that ran and exited 125 itself is the revision's failure like any other exit.
        let ran = report?.commandRan() ?? false
        if status == .exited(125) && !helloSeen && !ran {
            let lines = tail.snapshot
            let message = lines.last(where: { $0.contains("autonous-sandbox") }) ?? lines.last ?? "exit status 125"
            deliver(.sandboxFailed(pid: pid, message: message))
            return
        }
        deliver(.exited(pid: pid, status))
    }

    /// The worker `pid` said Hello naming `claimed`: true when that is the revision it was started from; otherwise
    /// it is stopped as unhealthy.
    func hello(pid: Int32, claimed: String) -> Bool {
        let expected = state.withLock { state -> String? in
            guard state.monitor.pid == pid else { return nil }
            state.helloSeen = true
            return state.revision
        }
        guard let expected, expected != claimed else {
            deliver(.hello(pid: pid))
            return true
        }
        deliver(.wrongRevision(pid: pid, claimed: claimed))
        return false
    }

    /// Whether `peer` is the worker this supervisor spawned (the only process worker.sock admits): the launcher
    /// it started, or a process inside that launcher's sandbox.
    func isCurrentWorker(_ peer: PeerCredentials) -> Bool {
        workerPID(for: peer) != nil
    }

    /// The pid the monitor knows the worker by (its launcher's) when `peer` is the current worker, else nil.
    func workerPID(for peer: PeerCredentials) -> Int32? {
        guard let launcher = state.withLock({ $0.monitor.pid == $0.child?.pid ? $0.child?.pid : nil }) else {
            return nil
        }
        return ProcessTree.isDescendant(peer.pid, of: launcher) ? launcher : nil
    }

    /// The pid of the current worker's launcher while it runs (even before it said hello), else nil.
    func launcherPID() -> Int32? {
        state.withLock { state in
            guard let child = state.child, !child.hasExited else { return nil }
            return child.pid
        }
    }

    /// The spawn event id of the current worker, the parent of everything it records.
    func currentSpawnEventID() -> Int64? {
        state.withLock { $0.spawnEventID }
    }

    func snapshot() -> Snapshot {
        state.withLock { state in
            let monitor = state.monitor
            let now = ContinuousClock.now
            var status = ControlInterface.WorkerStatus(
                state: "starting", pid: monitor.pid.map(Int.init), revision: state.revision,
                restarts: monitor.restarts, consecutiveFailures: monitor.consecutiveFailures,
                lastError: monitor.lastError, lastExit: monitor.lastExit)
            switch monitor.phase {
            case .idle, .spawning, .starting: status.state = "starting"
            case .ready: status.state = "ready"
            case .stopping: status.state = "stopping"
            case .backoff(let until):
                status.state = "backoff"
                status.nextRestartInMs = Int(max(0, (until - now).wholeMilliseconds))
            case .stopped: status.state = "stopped"
            }
            if monitor.pid != nil, let since = state.spawnedAt {
                status.uptimeSeconds = Int((now - since).components.seconds)
            }
            if monitor.pid != nil, let heartbeat = state.lastHeartbeat {
                status.heartbeatAgeMs = Int((now - heartbeat.at).wholeMilliseconds)
                status.progress = heartbeat.counters
            }
            let nowMs = AppDatabase.nowMilliseconds()
            let probation = monitor.probation.map { probation in
                var passed: [String] = []
                if probation.selfChecked { passed.append("self-check") }
                if probation.readyAt != nil { passed.append("ready") }
                return ControlInterface.Probation(
                    revision: probation.revision,
                    startedMs: nowMs - (now - probation.startedAt).wholeMilliseconds,
                    remainingMs: probation.readyAt.map {
                        max(0, (monitor.settings.probation - (now - $0)).wholeMilliseconds)
                    },
                    checksPassed: passed)
            }
            let window = monitor.settings.crashLoopWindow
            let revisions = ControlInterface.RevisionsStatus(
                current: monitor.pointers.current, lastGood: monitor.pointers.lastGood,
                previousGood: monitor.pointers.previousGood, probation: probation,
                restartsInWindow: monitor.recentRestarts.filter { now - $0 < window }.count,
                degraded: monitor.degraded)
            return Snapshot(status: status, isReady: monitor.isReady, revisions: revisions)
        }
    }

    // MARK: - Deploys and rollbacks

    /// Imports `path` as an operator revision and deploys it through probation; returns its manifest once the
    /// deploy started.
    func deploy(path: String, note: String?, requestedBy: String) throws -> ArtifactStore.Manifest {
        let current = try currentIfDeployable()
        let manifest: ArtifactStore.Manifest
        do {
            manifest = try store.importFile(at: path, source: .operator, note: note, baseRevision: current)
        } catch {
            throw RevisionRefusal("cannot import \(path): \(error)")
        }
        guard manifest.sha256 != current else {
            throw RevisionRefusal("\(path) is revision \(manifest.sha256.prefix(12)), which already runs")
        }
        var reason = "deployed by \(requestedBy)"
        if let note, !note.isEmpty { reason += ": \(note)" }
        try deploy(revision: manifest.sha256, reason: reason)
        return manifest
    }

    /// Deploys the artifact `revision`, already in the store, through probation: it must verify, differ from the
    /// current revision, and no other may be on probation. `waitForDeploy` then tells how it ended.
    func deploy(revision: String, reason: String) throws {
        let current = try currentIfDeployable()
        guard revision != current else {
            throw RevisionRefusal("revision \(revision.prefix(12)) already runs")
        }
        guard case .verified = store.verify(revision) else {
            throw RevisionRefusal("revision \(revision.prefix(12)) does not verify")
        }
        deployOutcomes.register(revision)
        deliver(.deploy(revision: revision, reason: reason))
    }

    /// The current revision, when a deploy may start now: not while stopping or while another is on probation.
    private func currentIfDeployable() throws -> String {
        let (current, probation, stopping) = state.withLock {
            ($0.monitor.pointers.current, $0.monitor.probation, $0.monitor.shuttingDown)
        }
        guard !stopping else { throw RevisionRefusal("the supervisor is stopping") }
        if let probation {
            throw RevisionRefusal(
                "revision \(probation.revision.prefix(12)) is still on probation; wait until it is promoted or "
                    + "reverted, or roll it back")
        }
        return current
    }

    /// Sends `text` to every Telegram admin: through the running worker when it is ready and current, else
    /// through the next one that says Ready.
    func tellAdmins(_ text: String) {
        state.withLock { state in _ = perform(.tellAdmins(text), state: &state) }
    }

    /// Sends `text` to the Telegram user `user` (a notice of kind "tell", `conversation` telegram:<id>): through the
    /// running worker when it is ready, else the next one that says Ready. `id` lets the worker store it once.
    func tell(user: Int64, text: String, id: String) {
        let notice = WorkerInterface.Notice(kind: "tell", id: id, text: text, conversation: "telegram:\(user)")
        state.withLock { state in
            if state.monitor.isReady {
                relay.notices.push(notice)
            } else {
                state.pendingNotices.append(notice)
            }
        }
    }

    /// Has the worker end every admin's copy of the staged self-update `tx`'s message with `closing` and take its
    /// Approve and Reject buttons away, once it was decided from the shell, expired or was superseded (a decision
    /// by button closes them itself). Through the running worker when it is ready, else the next one: the edit
    /// decides nothing, so any revision may make it.
    func closeUpdateMessages(tx: String, sha256: String, closing: String) {
        let notice = WorkerInterface.Notice(
            kind: WorkerInterface.Notice.updateClosedKind, id: "update-closed-" + tx, text: closing, updateTx: tx,
            updateSha256: sha256)
        state.withLock { state in
            if state.monitor.isReady {
                relay.notices.push(notice)
            } else {
                state.pendingNotices.append(notice)
            }
        }
    }

    /// Sends every Telegram admin the staged self-update `tx` with Approve and Reject buttons naming `sha256`:
    /// through the running worker when it is the promoted last-good one (a revision on probation is never trusted
    /// to relay a decision), else through the next last-good worker that says Ready.
    func announceStagedUpdate(_ text: String, tx: String, sha256: String) {
        let notice = WorkerInterface.Notice(
            kind: "admins", id: "update-staged-" + tx, text: text, updateTx: tx, updateSha256: sha256)
        state.withLock { state in
            let monitor = state.monitor
            if monitor.isReady && monitor.runningRevision == monitor.pointers.current
                && monitor.pointers.current == monitor.pointers.lastGood && monitor.probation == nil
            {
                relay.notices.push(notice)
            } else {
                state.pendingNotices.append(notice)
            }
        }
    }

    /// Waits (bounded) for a deploy started with `deploy` to be promoted or reverted.
    func waitForDeploy(_ revision: String) async -> DeployOutcome? {
        let settings = state.withLock { $0.monitor.settings }
        let bound =
            settings.probation + settings.readyTimeout + settings.stopTimeout * 2 + SelfCheckRunner.timeout
            + .seconds(60)
        return await deployOutcomes.wait(revision, timeout: bound)
    }

    /// Starts an earlier revision as current and last-good: `target` is a sha256 prefix, or nil for the previous
    /// last-good. The target must exist and verify.
    func rollback(to target: String?, requestedBy: String) throws -> String {
        let (pointers, probation, stopping) = state.withLock {
            ($0.monitor.pointers, $0.monitor.probation, $0.monitor.shuttingDown)
        }
        guard !stopping else { throw RevisionRefusal("the supervisor is stopping") }
        let revision: String
        if let target {
            revision = try store.resolve(target)
        } else if let probation {
            revision = probation.revertTo
        } else if let previous = pointers.previousGood {
            revision = previous
        } else {
            throw RevisionRefusal(
                "there is no previous last-good revision to roll back to; name one with --to (see revisions)")
        }
        guard revision != pointers.current || probation != nil else {
            throw RevisionRefusal("revision \(revision.prefix(12)) is already the current revision")
        }
        switch store.verify(revision) {
        case .verified: break
        case .missing(let why): throw RevisionRefusal("revision \(revision.prefix(12)) is missing: \(why)")
        case .changed(let actual):
            throw RevisionRefusal(
                "revision \(revision.prefix(12)) does not verify: its file changed (sha256 now \(actual))")
        }
        deliver(.rollback(to: revision, reason: "rolled back by \(requestedBy)"))
        return revision
    }

    /// What the three pointers name now.
    func pointers() -> WorkerMonitor.Pointers {
        state.withLock { $0.monitor.pointers }
    }
}

/// A deploy or rollback the supervisor will not carry out, with the reason for the operator.
struct RevisionRefusal: Error, CustomStringConvertible {
    let message: String

    init(_ message: String) {
        self.message = message
    }

    var description: String { message }
}

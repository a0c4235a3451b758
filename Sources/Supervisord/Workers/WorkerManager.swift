import AutonousCore
import Foundation
import Logging
import ServiceLifecycle
import Synchronization

#if canImport(Glibc)
import Glibc
#endif

/// Runs the worker: spawns it, feeds the `WorkerMonitor` with what happens, carries out its actions (spawn,
/// SIGTERM, SIGKILL, events), and on graceful shutdown stops the worker before returning.
final class WorkerManager: Service, Sendable {
    /// What status reports about the worker.
    struct Snapshot: Sendable {
        var status: ControlInterface.WorkerStatus
        var isReady: Bool
    }

    private struct State: Sendable {
        var monitor: WorkerMonitor
        var child: ChildProcess?
        var revision: String?
        var spawnEventID: Int64?
        var spawnedAt: ContinuousClock.Instant?
        /// The current worker's last heartbeat: what it reported and when it arrived.
        var lastHeartbeat: (counters: WorkerInterface.Counters, at: ContinuousClock.Instant)?
        var finished = false
    }

    private let configuration: Configuration
    private let launch: WorkerLaunch
    private let events: EventLog
    private let processEventID: Int64
    private let relay: ChatRelay
    private let logger: Logger
    private let notifier: SystemdNotifier
    private let parentEnvironment: [String: String]
    private let state: Mutex<State>
    /// Wakes `run` when an input arrived, so it recomputes the monitor's next deadline.
    private let inputs = KeyedWakeUps<Void>()
    private static let inputKey = "input"

    init(
        configuration: Configuration, launch: WorkerLaunch, events: EventLog, processEventID: Int64,
        relay: ChatRelay, notifier: SystemdNotifier, environment: [String: String], logger: Logger
    ) {
        self.configuration = configuration
        self.launch = launch
        self.events = events
        self.processEventID = processEventID
        self.relay = relay
        self.notifier = notifier
        self.parentEnvironment = environment
        self.logger = logger
        self.state = Mutex(State(monitor: WorkerMonitor(settings: .init(configuration: configuration))))
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
                // Without a deadline only an input changes anything; the hour is a safety net, not a tick.
                let timeout = deadline.map { max(.zero, $0 - .now) } ?? .seconds(3600)
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
            // A heartbeat only moves the deadline later: the wait may end at the old one and find nothing to do.
            switch input {
            case .tick, .heartbeat: break
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
                if case .exited = next, state.monitor.pid == nil { state.child = nil }
            }
        }
    }

    /// A heartbeat from the worker `pid`: keeps what it reports (for status) and tells the monitor.
    func heartbeat(pid: Int32, counters: WorkerInterface.Counters) {
        state.withLock { state in
            if state.monitor.pid == pid { state.lastHeartbeat = (counters, .now) }
        }
        deliver(.heartbeat(pid: pid))
    }

    private func perform(_ action: WorkerMonitor.Action, state: inout State) -> WorkerMonitor.Input? {
        switch action {
        case .spawn:
            return spawn(state: &state)
        case .terminate(let pid):
            logger.notice("stopping worker", metadata: ["worker.pid": "\(pid)"])
            state.child?.signalGroup(SIGTERM)
            return nil
        case .kill(let pid):
            logger.warning("killing worker", metadata: ["worker.pid": "\(pid)"])
            state.child?.signalGroup(SIGKILL)
            return nil
        case .record(let type, var payload):
            if let revision = state.revision { payload["revision"] = .string(revision) }
            let parent = state.spawnEventID ?? processEventID
            let parentForType =
                type == "worker.restart_scheduled" || type == "worker.spawn_failed" ? processEventID : parent
            do {
                try events.append(type, EventContext(parentID: parentForType), payload: payload)
            } catch {
                logger.error("cannot record event", metadata: ["event.type": "\(type)", "error": "\(error)"])
            }
            logLifecycle(type, payload)
            if type == "worker.ready" {
                notifier.status(
                    "worker ready (pid \(state.monitor.pid.map(String.init) ?? "?"), \(state.revision ?? "?"))")
            }
            return nil
        case .finished:
            state.finished = true
            return nil
        }
    }

    private func logLifecycle(_ type: String, _ payload: [String: JSONValue]) {
        var metadata: Logger.Metadata = ["event.type": "\(type)"]
        for (key, value) in payload { metadata["worker.\(key)"] = "\(value.stringValue ?? value.jsonText)" }
        switch type {
        case "worker.unhealthy", "worker.spawn_failed", "worker.kill": logger.warning("\(type)", metadata: metadata)
        case "worker.exited": logger.notice("\(type)", metadata: metadata)
        default: logger.info("\(type)", metadata: metadata)
        }
    }

    private func spawn(state: inout State) -> WorkerMonitor.Input {
        let revision: String
        do {
            revision = try launch.revision()
        } catch {
            return .spawnFailed("\(error)")
        }
        let environment = launch.environment(from: parentEnvironment, configuration: configuration, revision: revision)
        // The spawn event exists before the process, so the worker's first events already have their parent.
        let attempt = state.monitor.restarts + (state.child == nil && state.spawnEventID == nil ? 0 : 1)
        let spawnEventID: Int64
        do {
            spawnEventID = try events.append(
                "worker.spawning", EventContext(parentID: processEventID),
                payload: [
                    "revision": .string(revision), "binary": .string(launch.binary), "attempt": .int(Int64(attempt)),
                ])
        } catch {
            return .spawnFailed("cannot record the spawn: \(error)")
        }
        do {
            let sandbox = WorkerSandbox(configuration: configuration, sandboxBinary: launch.sandboxBinary)
            let (arguments, launcherEnvironment) = sandbox.command(
                workerBinary: launch.binary, workerEnvironment: environment)
            WorkerSandbox.grantState(to: configuration.workerUID, configuration: configuration)
            let child = try ChildProcess.spawn(
                executable: launch.sandboxBinary, arguments: arguments, environment: launcherEnvironment,
                onExit: { [weak self] status in self?.childExited(status) })
            state.child = child
            state.revision = revision
            state.spawnEventID = spawnEventID
            state.spawnedAt = .now
            state.lastHeartbeat = nil
            _ = try? events.append(
                "worker.spawned", EventContext(parentID: spawnEventID),
                payload: ["pid": .int(Int64(child.pid)), "revision": .string(revision)])
            logger.info("worker spawned", metadata: ["worker.pid": "\(child.pid)", "revision": "\(revision)"])
            return .spawned(pid: child.pid)
        } catch {
            return .spawnFailed("\(error)")
        }
    }

    private func childExited(_ status: ExitStatus) {
        // The reaper runs on its own thread; which child it was is read under the lock.
        let pid = state.withLock { $0.child?.pid }
        guard let pid else { return }
        deliver(.exited(pid: pid, status))
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
            return Snapshot(status: status, isReady: monitor.isReady)
        }
    }
}

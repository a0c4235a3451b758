import AutonousCore
import Foundation
import Logging
import Sandbox
import ServiceLifecycle

#if canImport(Glibc)
import Glibc
#endif

/// The supervisor process: its state directory, database, sockets and the worker manager.
struct Supervisor {
    let configuration: Configuration
    let environment: [String: String]
    let logger: Logger

    func run() async throws {
        let startedAt = ContinuousClock.now
        // Before any child: under systemd with Delegate=yes the service's cgroup must hold no process of its own
        // for the sandboxes' memory and pids limits (cgroup v2), so the supervisor moves into <service>/supervisor.
        switch ServiceCgroupLeaf.enter(environment: environment) {
        case .moved(let leaf):
            logger.info("moved into the service's supervisor cgroup", metadata: ["cgroup": "\(leaf)"])
        case .failed(let why): logger.warning("cannot use the delegated cgroup", metadata: ["cgroup.error": "\(why)"])
        case .alreadyInside, .notMoved: break
        }
        try Self.prepareDirectories(configuration)
        let database = try AppDatabase(path: configuration.databasePath, role: .supervisor)
        // The supervisor's database is for the supervisor (and root) alone; SQLite gives -wal and -shm its mode.
        _ = chmod(configuration.databasePath, 0o600)
        let events = EventLog(database: database)
        // Before the first append, so a follower started at any time is woken by every later one.
        let appends = EventAppendObserver.observe(database)
        let processEventID = try events.append(
            .processStarted,
            payload: [
                "pid": .int(Int64(getpid())), "version": .string(AutonousVersion.current),
                "uid": .int(Int64(geteuid())), "state_dir": .string(configuration.stateDirectory),
                "telegram_enabled": .bool(configuration.telegramEnabled),
                "model_configured": .bool(configuration.modelConfigured),
            ])
        switch try LegacyStateSplit.run(
            supervisor: database, workerDatabasePath: configuration.workerDatabasePath, parentEventID: processEventID)
        {
        case .split(let rows):
            logger.notice(
                "moved the worker's tables out of autonous.db into worker/worker.db",
                metadata: ["state.rows": "\(rows.sorted { $0.key < $1.key })"])
        case .notNeeded:
            break
        }
        let workerState = WorkerStateReader(path: configuration.workerDatabasePath)
        let notifier = SystemdNotifier(environment: environment)
        let relay = ChatRelay()
        let launch = WorkerLaunch(configuration: configuration, supervisorExecutable: Self.executablePath())
        let store = try ArtifactStore(directory: configuration.artifactsDirectory)
        let revisions = RevisionLog(database: database)
        let sourceCommit = await UpdatePipeline.seedSource(configuration: configuration, logger: logger)
        let start = try RevisionStartup.prepare(
            store: store, log: revisions, bootstrapBinary: launch.binary, processEventID: processEventID,
            sourceCommit: sourceCommit, logger: logger)
        let manager = WorkerManager(
            configuration: configuration, launch: launch, store: store, revisions: revisions, start: start,
            events: events, processEventID: processEventID, relay: relay, notifier: notifier,
            environment: environment, logger: logger)
        if let revision = start.deploy {
            manager.deliver(.deploy(revision: revision, reason: "a new AUTONOUS_WORKER_BIN (\(launch.binary))"))
        }
        let pipeline = UpdatePipeline(
            configuration: configuration, database: database, artifacts: store, revisions: revisions,
            manager: manager,
            selfCheck: SelfCheckRunner(
                configuration: configuration, sandboxBinary: launch.sandboxBinary, environment: environment,
                logger: logger),
            sandboxBinary: launch.sandboxBinary, environment: environment, logger: logger)
        let info = VarlinkServiceInfo(
            vendor: "autonous", product: "autonous-supervisord", version: AutonousVersion.current,
            url: "https://github.com/autonous/autonous")

        let workerServer = VarlinkServer(
            path: configuration.workerSocketPath, mode: 0o600, info: info,
            interfaces: [
                WorkerService(
                    manager: manager, relay: relay, pipeline: pipeline,
                    heartbeatInterval: configuration.workerHeartbeatInterval,
                    admins: configuration.telegramAdmins, logger: logger)
            ],
            logger: logger,
            authorize: { peer in
                manager.isCurrentWorker(peer) ? nil : "pid \(peer.pid) is not the worker this supervisor spawned"
            })
        let sandboxReport = await SandboxReport.make(
            launcher: launch.sandboxBinary, bestEffort: configuration.sandboxLimitsBestEffort)
        for problem in sandboxReport.status.problems {
            logger.warning("sandbox limitation", metadata: ["sandbox.problem": "\(problem)"])
        }
        let authorizer = AdminAuthorizer(groupName: configuration.adminGroup, workerLauncher: { manager.launcherPID() })
        let controlServer = VarlinkServer(
            path: configuration.controlSocketPath, mode: 0o660, info: info,
            interfaces: [
                ControlService(
                    configuration: configuration, manager: manager, relay: relay, workerState: workerState,
                    events: EventFeed(
                        supervisor: database, appends: appends.signal, workerState: workerState,
                        workerDirectory: configuration.workerDirectory),
                    store: store, revisions: revisions, pipeline: pipeline,
                    startedAt: startedAt, sandbox: sandboxReport.status, logger: logger)
            ],
            logger: logger,
            authorize: { authorizer.reasonToRefuse($0) })
        try workerServer.bind()
        try controlServer.bind()
        if let group = getgrnam(configuration.adminGroup) {
            _ = chown(configuration.controlSocketPath, uid_t.max, group.pointee.gr_gid)
        }
        logger.info(
            "supervisor started",
            metadata: [
                "supervisor.pid": "\(getpid())", "control.socket": "\(configuration.controlSocketPath)",
                "worker.binary": "\(launch.binary)",
            ])
        notifier.ready(status: "supervising; starting the worker")

        // Graceful shutdown runs in reverse order: the manager stops the worker (which may still talk to both
        // sockets meanwhile), then control.sock and worker.sock hang up and remove their files. The manager's loop
        // also pings systemd's watchdog, so a stalled supervisor is what the watchdog catches.
        let services: [ServiceGroupConfiguration.ServiceConfiguration] = [
            .init(service: workerServer), .init(service: controlServer), .init(service: manager),
            .init(service: pipeline),
        ]
        var lifecycleLogger = logger
        lifecycleLogger.logLevel = max(logger.logLevel, .info)
        var groupConfiguration = ServiceGroupConfiguration(services: services, logger: lifecycleLogger)
        groupConfiguration.gracefulShutdownSignals = [.sigterm, .sigint]
        groupConfiguration.cancellationSignals = [.sigquit]
        groupConfiguration.maximumGracefulShutdownDuration = configuration.workerStopTimeout + .seconds(5)
        let group = ServiceGroup(configuration: groupConfiguration)
        do {
            try await group.run()
        } catch {
            logger.error("service group ended with an error", metadata: ["error": "\(error)"])
        }
        _ = try? events.append(
            .processStopped, EventContext(parentID: processEventID),
            payload: ["uptime_ms": .int((ContinuousClock.now - startedAt).wholeMilliseconds)])
        logger.info("supervisor stopped")
    }

    /// The directories the supervisor creates at start, with their modes (for new ones). systemd/autonous.tmpfiles.conf
    /// and the unit's StateDirectoryMode=/RuntimeDirectoryMode= say the same, which SystemdUnitTests check.
    static func directoryModes(_ configuration: Configuration) -> [(path: String, mode: Int)] {
        [
            (configuration.stateDirectory, 0o750), (configuration.workerDirectory, 0o700),
            (configuration.artifactsDirectory, 0o711),
            (configuration.workspaceDirectory, 0o750), (configuration.runtimeDirectory, 0o755),
        ]
    }

    /// Creates the state, worker, workspace and runtime directories; the state directory stays private to the
    /// service user, and the worker's sandbox sees only `worker/` and `workspace/` of it.
    static func prepareDirectories(_ configuration: Configuration) throws {
        let manager = FileManager.default
        for (path, mode) in directoryModes(configuration) {
            do {
                try manager.createDirectory(
                    atPath: path, withIntermediateDirectories: true, attributes: [.posixPermissions: mode])
            } catch {
                throw AutonousError(.io, "cannot create the directory \(path)", cause: error)
            }
        }
        // As root, the sandboxed worker is another host uid (AUTONOUS_WORKER_UID): the launcher, running as that
        // uid, must pass through the state directory to bind worker/ and workspace/. Search permission only: it
        // can neither list the directory nor see anything of it but those two binds.
        var info = stat()
        if geteuid() == 0, stat(configuration.stateDirectory, &info) == 0, info.st_mode & 0o001 == 0 {
            _ = chmod(configuration.stateDirectory, (info.st_mode & 0o7777) | 0o001)
        }
    }

    static func executablePath() -> String {
        (try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/exe")) ?? CommandLine.arguments[0]
    }
}

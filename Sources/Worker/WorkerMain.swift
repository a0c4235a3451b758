import AutonousCore
import Foundation
import Logging
import Sandbox
import ServiceLifecycle

#if canImport(Glibc)
import Glibc
#endif

/// `autonous-worker`: the agent. Started by the supervisor, which it greets over worker.sock.
@main
enum WorkerMain {
    static func main() async {
        if CommandLine.arguments.dropFirst().first == "--version" {
            print("autonous-worker \(AutonousVersion.current)")
            return
        }
        if CommandLine.arguments.dropFirst().first == "--bench-grep" {
            benchGrep(Array(CommandLine.arguments.dropFirst(2)))
            return
        }
        if CommandLine.arguments.dropFirst().first == "--self-check" {
            // Before DaemonStartup: the check reads the configuration itself (without secrets) and reports a bad
            // one as a failed check rather than exiting 78. Log lines, if any, go to stderr: stdout is the report.
            LoggingSetup.bootstrap(identifier: "autonous-worker", target: .stderr, level: .warning)
            exit(
                await SelfCheck.commandLine(
                    Array(CommandLine.arguments.dropFirst(2)), environment: ProcessInfo.processInfo.environment))
        }
        let environment = ProcessInfo.processInfo.environment
        let configuration = DaemonStartup.begin(identifier: "autonous-worker", environment: environment)
        let revision = environment["AUTONOUS_REVISION"] ?? "unversioned"
        var logger = Logger(label: "autonous.worker")
        logger[metadataKey: "revision"] = "\(revision)"
        do {
            try await run(configuration: configuration, environment: environment, revision: revision, logger: logger)
        } catch let error as WrongRevision {
            logger.critical(
                "the supervisor started another revision than this worker (AUTONOUS_REVISION); exiting, not retrying",
                metadata: ["revision.expected": "\(error.expected)", "revision.claimed": "\(error.claimed)"])
            exit(1)
        } catch let error as SupervisorLost {
            logger.critical("lost the supervisor; exiting", metadata: ["reason": "\(error.reason)"])
            exit(70)
        } catch {
            logger.critical("worker failed", metadata: ["error": "\(error)"])
            exit(1)
        }
    }

    static func run(configuration: Configuration, environment: [String: String], revision: String, logger: Logger)
        async throws
    {
        let database = try AppDatabase(path: configuration.workerDatabasePath, role: .worker)
        let socketPath = environment["AUTONOUS_WORKER_SOCKET"] ?? configuration.workerSocketPath
        let link = try await SupervisorLink.connect(path: socketPath, revision: revision, logger: logger)
        let events = EventLog(database: database)
        let inbox = Inbox(database: database)
        let requeued = try inbox.requeueInterrupted()
        if requeued > 0 {
            try events.append(
                .inboxRequeued, EventContext(parentID: link.parentEventID), payload: ["count": .int(Int64(requeued))])
            logger.notice(
                "requeued updates a previous worker left in progress", metadata: ["inbox.requeued": "\(requeued)"])
        }
        let interrupted = try await database.pool.write { db in try RunLog.interruptAbandoned(db) }
        if interrupted > 0 {
            logger.notice(
                "marked runs a previous worker left unfinished as interrupted", metadata: ["runs": "\(interrupted)"])
        }
        let counters = WorkerCounters()
        let transport = HTTPTransport()
        let policy = RetryPolicy(
            attempts: configuration.retryAttempts, baseDelay: configuration.retryBaseDelay,
            maxDelay: configuration.retryMaxDelay)
        let model = ModelProviders.make(configuration, transport: transport).map(ChatCompletionsClient.init(provider:))
        let control = AgentControl(
            settings: AgentControl.Settings(configuration), ledger: SpendLedger(database: database), logger: logger)
        let abandonedReservations = try await control.recoverLedger()
        if abandonedReservations > 0 {
            logger.notice(
                "closed model-call reservations a previous worker left open, at their worst case",
                metadata: ["ledger.abandoned": "\(abandonedReservations)"])
        }
        var agent = Agent(
            database: database, model: model,
            context: ContextPipeline.make(
                configuration.context, database: database, systemPromptPath: configuration.systemPromptPath),
            parentEventID: link.parentEventID, control: control,
            counters: counters, logger: logger)
        agent.tools = try ToolRegistry(
            workspace: configuration.workspaceDirectory, extraRoots: configuration.toolRoots,
            allowlist: configuration.tools,
            launcher: configuration.sandboxBinary, outputLimit: configuration.toolOutputLimit,
            timeout: configuration.toolTimeout, timeoutMax: configuration.toolTimeoutMax, updates: link,
            updateMaxPatch: configuration.updateMaxPatch
        ).validated()
        let client = configuration.telegramToken.map {
            TelegramClient(apiURL: configuration.telegramAPIURL, token: $0, transport: transport)
        }
        let announcer = client.flatMap { client -> TelegramApprovalAnnouncer? in
            guard configuration.telegramEnabled, !configuration.telegramAdmins.isEmpty else { return nil }
            return TelegramApprovalAnnouncer(client: client, admins: configuration.telegramAdmins, logger: logger)
        }
        let abandoned = try Approvals(database: database).expireAbandoned()
        if !abandoned.isEmpty {
            logger.notice(
                "expired approvals a previous worker was waiting for", metadata: ["approvals": "\(abandoned.count)"])
            if let announcer {
                // The admins' messages say so; in the background, so that a slow Telegram does not delay readiness.
                Task {
                    for approval in abandoned {
                        let notices = (try? Approvals(database: database).notices(approval.id)) ?? []
                        if !notices.isEmpty { await announcer.close(approval, notices: notices) }
                    }
                }
            }
        }
        let waiters = ApprovalWaiters()
        agent.gate = ToolGate(
            policy: configuration.toolPolicy, approvals: Approvals(database: database),
            timeout: configuration.approvalTimeout, announcer: announcer, waiters: waiters, logger: logger)
        let decisions = AutonousctlDecisions(
            approvals: Approvals(database: database), waiters: waiters, link: link, logger: logger)

        let broadcastDoorbell = Doorbell()
        let adminNotices = AdminNotices(
            database: database, admins: configuration.telegramAdmins,
            telegramEnabled: configuration.telegramEnabled && client != nil, parentEventID: link.parentEventID,
            doorbell: broadcastDoorbell, logger: logger)
        agent.fatalReporter = ModelFatalReporter(database: database, notices: adminNotices, logger: logger)

        let (notices, noticeSink) = AsyncStream.makeStream(of: WorkerInterface.Notice.self)
        // The link's services come first so that a graceful shutdown stops them last: the supervisor keeps hearing
        // from a worker that is finishing its work.
        var services: [ServiceGroupConfiguration.ServiceConfiguration] = [
            .init(
                service: HeartbeatService(
                    link: link, counters: counters, inbox: inbox, outbox: Outbox(database: database))),
            .init(
                service: SupervisorNoticeService(link: link) { notice in
                    // Decisions are recorded and admin messages queued at once; chats queue for the local commander.
                    switch notice.kind {
                    case "decide": await decisions.handle(notice)
                    case "admins": adminNotices.handle(notice)
                    case "tell": adminNotices.tell(notice, allowedUsers: configuration.telegramAllowedUsers)
                    case WorkerInterface.Notice.updateClosedKind:
                        if let client, configuration.telegramEnabled {
                            await UpdateMessages(client: client, outbox: Outbox(database: database), logger: logger)
                                .handle(notice)
                        }
                    default: noticeSink.yield(notice)
                    }
                }),
            .init(
                service: LocalCommander(
                    agent: agent, link: link, notices: notices, counters: counters, logger: logger)),
        ]
        if configuration.telegramEnabled, let client {
            let doorbell = Doorbell()
            let callbackDoorbell = Doorbell()
            services.append(
                .init(
                    service: TelegramPoller(
                        client: client, inbox: inbox, events: events, parentEventID: link.parentEventID,
                        pollTimeout: configuration.telegramPollTimeout, retryPolicy: policy, counters: counters,
                        doorbells: [doorbell, callbackDoorbell],
                        logger: logger)))
            services.append(
                .init(
                    service: BroadcastCourier(
                        outbox: Outbox(database: database), events: events, parentEventID: link.parentEventID,
                        doorbell: broadcastDoorbell, retryPolicy: policy,
                        send: { chatID, text, replyMarkup throws(TelegramError) in
                            var parameters: [String: JSONValue] = ["chat_id": .int(chatID), "text": .string(text)]
                            if let replyMarkup { parameters["reply_markup"] = replyMarkup }
                            let sent = try await client.call("sendMessage", parameters, timeout: .seconds(30))
                            return sent["message_id"]?.intValue
                        },
                        logger: logger)))
            let activeRuns = ActiveRuns()
            let status = ChatStatus(
                revision: revision, model: agent.model.map { "\($0.name) \($0.model)" }, counters: counters,
                runs: activeRuns, database: database, budget: configuration.dailyBudget)
            services.append(
                .init(
                    service: CallbackDesk(
                        client: client, inbox: inbox, approvals: Approvals(database: database), events: events,
                        admins: Set(configuration.telegramAdmins), parentEventID: link.parentEventID,
                        doorbell: callbackDoorbell, waiters: waiters,
                        updates: UpdateDecisionRelay(decider: link, logger: logger),
                        outbox: Outbox(database: database), logger: logger,
                        interrupts: InterruptHandling(
                            allowedUsers: Set(configuration.telegramAllowedUsers), runs: activeRuns,
                            status: { status.text() }))))
            services.append(
                .init(
                    service: TelegramCommander(
                        client: client, database: database, agent: agent,
                        allowedUsers: Set(configuration.telegramAllowedUsers),
                        parentEventID: link.parentEventID, sendPolicy: policy, counters: counters, doorbell: doorbell,
                        maxConcurrentRuns: configuration.maxConcurrentRuns, logger: logger,
                        admins: Set(configuration.telegramAdmins), rollback: link, activeRuns: activeRuns,
                        streaming: configuration.telegramStreaming)))
        }
        try await link.ready()
        // What the start alone needed (migrations, configuration, the first connections) is given back shortly.
        IdleTrim.shared.enable()
        logger.info(
            "worker ready",
            metadata: [
                "worker.pid": "\(getpid())", "telegram.enabled": "\(configuration.telegramEnabled)",
                "model.configured": "\(configuration.modelConfigured)", "model.name": "\(configuration.model)",
                "model.provider": "\(model?.name ?? "none")",
            ])
        // The service group's own debug lines describe each service with all its properties: keep them out.
        var lifecycleLogger = logger
        lifecycleLogger.logLevel = max(logger.logLevel, .info)
        var groupConfiguration = ServiceGroupConfiguration(services: services, logger: lifecycleLogger)
        groupConfiguration.gracefulShutdownSignals = [.sigterm, .sigint]
        groupConfiguration.maximumGracefulShutdownDuration = .seconds(5)
        try await ServiceGroup(configuration: groupConfiguration).run()
        logger.info("worker stopped")
    }

    /// `autonous-worker --bench-grep DIR PATTERN RUNS`: times the native grep tool over DIR (for `make bench`) and
    /// prints the median milliseconds (to the microsecond) and the match count.
    static func benchGrep(_ arguments: [String]) {
        guard arguments.count == 3, let runs = Int(arguments[2]), runs > 0,
            let root = try? ConfinedRoot(path: arguments[0], writable: false)
        else {
            FileHandle.standardError.write(Data("usage: autonous-worker --bench-grep DIR PATTERN RUNS\n".utf8))
            exit(64)
        }
        let tool = GrepTool(root: root, outputLimit: 64 << 20)
        var samples: [Duration] = []
        var matches = 0
        for _ in 0 ..< runs {
            let started = ContinuousClock.now
            let result = tool.run(
                .init(
                    pattern: arguments[1], path: nil, glob: nil, fixedString: nil, ignoreCase: nil, context: nil,
                    offset: nil, limit: 2000))
            samples.append(ContinuousClock.now - started)
            matches = result.stdout.filter { $0 == "\n" }.count
        }
        samples.sort()
        // Microseconds: a search takes a few milliseconds, so whole milliseconds would hide a 10 % difference.
        let median = samples[samples.count / 2]
        let microseconds = median.components.seconds * 1_000_000 + median.components.attoseconds / 1_000_000_000_000
        print("{\"median_ms\": \(Double(microseconds) / 1000), \"matches\": \(matches)}")
    }
}

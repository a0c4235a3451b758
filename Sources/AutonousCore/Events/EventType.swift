/// The type of an event in the `events` tables: one case per type autonous writes, with its recorded string.
///
/// The raw values are stable: databases hold them and operators filter on them (`autonousctl events --type`), so a
/// case is never renamed; a type that is no longer written stays listed. The cases are grouped by the process that
/// writes them, which is also the database that holds them; no type is written by both processes. README.md,
/// "Event types", lists every type with its owner, and a test keeps the two the same.
///
/// Reading stays by string (`EventRecord.type`): an older database may hold a type this enum does not list.
public enum EventType: String, Sendable, CaseIterable, Codable {
    // MARK: Written by the supervisor (autonous.db)

    /// The supervisor started: the root of its event tree (pid, version, uid, state directory).
    case processStarted = "process.started"
    /// The supervisor stopped its services and exits: its last event (uptime).
    case processStopped = "process.stopped"
    /// The first start over an earlier version's state directory moved the worker's tables into `worker/worker.db`.
    case stateSplit = "state.split"
    /// The worker manager is about to start a worker (revision, binary, attempt); the worker's events hang under it.
    case workerSpawning = "worker.spawning"
    /// The worker manager started the sandboxed worker process (pid, revision).
    case workerSpawned = "worker.spawned"
    /// The worker manager could not start the worker process, or could not record the spawn.
    case workerSpawnFailed = "worker.spawn_failed"
    /// The worker said Ready to the supervisor (pid, startup time).
    case workerReady = "worker.ready"
    /// The worker monitor found the worker late to say Ready, silent (heartbeats) or stuck polling: it gets SIGTERM.
    case workerUnhealthy = "worker.unhealthy"
    /// The worker monitor sends SIGKILL: the worker did not stop within the grace period after SIGTERM.
    case workerKill = "worker.kill"
    /// The launcher could not set up the worker's sandbox (exit 125): the worker never ran.
    case workerSandboxFailed = "worker.sandbox_failed"
    /// The worker process exited (status, its last output lines).
    case workerExited = "worker.exited"
    /// The worker monitor scheduled a restart after a failure (backoff delay, consecutive failures).
    case workerRestartScheduled = "worker.restart_scheduled"
    /// The last-good revision keeps failing and there is nothing older to run: restarts go on with backoff.
    case serviceDegraded = "service.degraded"
    /// A worker said Ready again after `service.degraded`.
    case serviceRecovered = "service.recovered"
    /// The worker manager ran a revision's `--self-check` (passed, message, report).
    case revisionSelfCheck = "revision.self_check"
    /// The worker monitor accepted the probation revision's self-check and replaces the running worker with it.
    case revisionSelfCheckPassed = "revision.self_check_passed"
    /// The worker manager made a revision current under probation (a deploy).
    case revisionProbation = "revision.probation"
    /// A revision passed probation, or the first start imported the bootstrap worker: it is last-good.
    case revisionPromoted = "revision.promoted"
    /// A revision failed probation or crash-looped: the worker manager runs the last-good again.
    case revisionReverted = "revision.reverted"
    /// A revision's file did not verify or it could not be deployed: the worker manager runs an older one.
    case revisionRefused = "revision.refused"
    /// An operator or an admin rolled back past a revision, to an earlier one.
    case revisionRolledBack = "revision.rolled_back"
    /// The worker manager pruned an old revision from the artifact store.
    case revisionRetired = "revision.retired"
    /// The update pipeline stored a proposed self-update (transaction state `created`).
    case updateCreated = "update.created"
    /// The update pipeline applied the patch and runs the build (`building`).
    case updateBuilding = "update.building"
    /// The update pipeline runs the tests (`testing`).
    case updateTesting = "update.testing"
    /// The update pipeline runs the new binary's `--self-check` (`self_checking`).
    case updateSelfChecking = "update.self_checking"
    /// The update pipeline imported the artifact: it waits for an admin's decision (`staged`).
    case updateStaged = "update.staged"
    /// An admin approved the self-update (`approved`).
    case updateApproved = "update.approved"
    /// The deployer stops the old worker and makes the artifact current (`deploying`).
    case updateDeploying = "update.deploying"
    /// The self-update's revision runs under watch (`probation`).
    case updateProbation = "update.probation"
    /// The self-update's revision passed probation (`promoted`).
    case updatePromoted = "update.promoted"
    /// The patch did not apply or the build failed (`build_failed`).
    case updateBuildFailed = "update.build_failed"
    /// The tests failed (`test_failed`).
    case updateTestFailed = "update.test_failed"
    /// The new binary's self-check failed (`self_check_failed`).
    case updateSelfCheckFailed = "update.self_check_failed"
    /// An admin rejected the self-update (`rejected`).
    case updateRejected = "update.rejected"
    /// Nobody approved or deployed the self-update before its deadline (`expired`).
    case updateExpired = "update.expired"
    /// Another revision became current first (`superseded`).
    case updateSuperseded = "update.superseded"
    /// The artifact did not verify or could not be started (`deploy_failed`).
    case updateDeployFailed = "update.deploy_failed"
    /// The self-update's revision failed probation; the last-good runs again (`reverted`).
    case updateReverted = "update.reverted"
    /// An operator or an admin rolled back past the promoted self-update (`rolled_back`).
    case updateRolledBack = "update.rolled_back"
    /// The supervisor refused an approve or reject of a self-update (who, how, why).
    case updateDecisionRefused = "update.decision_refused"
    /// The update pipeline recorded the last lines of a build or test log.
    case updateLogTail = "update.log_tail"

    // MARK: Written by the worker (worker/worker.db)

    /// The worker's event log was created: its first row, at id 2^40 - 1, so that the worker's event ids, which
    /// count up from the highest, stay apart from the supervisor's. Written by the worker database's migration.
    case eventLogCreated = "event_log.created"

    /// At start, the worker queued again the updates a previous worker left in progress.
    case inboxRequeued = "inbox.requeued"
    /// The commander could not process an inbox update: retried after a backoff, failed after 5 attempts.
    case inboxProcessingFailed = "inbox.processing_failed"
    /// The poller's `getUpdates` failed (recorded once per run of failures).
    case telegramPollFailed = "telegram.poll.failed"
    /// The poller's `getUpdates` works again after failures.
    case telegramPollRecovered = "telegram.poll.recovered"
    /// The poller stored an update in the inbox.
    case telegramUpdateStored = "telegram.update.stored"
    /// The poller dropped an update without `update_id`.
    case telegramUpdateInvalid = "telegram.update.invalid"
    /// The commander ignored an update from a sender who is not allowed (or a non-admin's /status).
    case telegramUpdateIgnored = "telegram.update.ignored"
    /// The commander could not send a reply chunk yet: it retries after a backoff.
    case telegramSendDeferred = "telegram.send.deferred"
    /// The commander or the broadcast courier gave up on a message chunk.
    case telegramSendFailed = "telegram.send.failed"
    /// Telegram could not parse a reply chunk's HTML: the commander sent it as plain text.
    case telegramSendPlainFallback = "telegram.send.plain_fallback"
    /// The commander showed an answer while it was written (a draft or an edited message).
    case telegramAnswerStreamed = "telegram.answer.streamed"
    /// The commander started a new conversation in a chat (/new).
    case conversationStarted = "conversation.started"
    /// The worker queued a supervisor's notice for the Telegram admins.
    case adminsNotice = "admins.notice"
    /// The worker queued a supervisor's notice for one Telegram user (such as who proposed a self-update).
    case tellNotice = "tell.notice"
    /// The agent started a run for a message.
    case agentStarted = "agent.started"
    /// The agent answered (or no model is configured).
    case agentCompleted = "agent.completed"
    /// The agent's run ended because a model call failed.
    case agentFailed = "agent.failed"
    /// The control plane (a limit, no progress) or a user (/cancel) stopped the agent's run.
    case agentStopped = "agent.stopped"
    /// A user asked to stop a run (/cancel, or the Stop button of a draft).
    case runCancelRequested = "run.cancel_requested"
    /// The agent starts a model call (a turn of its run).
    case turnStarted = "turn.started"
    /// A model call answered (latency, tokens, tool calls).
    case turnCompleted = "turn.completed"
    /// A model call failed (error, class, whether it was retryable).
    case turnFailed = "turn.failed"
    /// The agent retries a model call after a retryable error (attempt, delay).
    case modelCallRetry = "model.call.retry"
    /// The control plane refused a model call before it was made (budget, circuit breaker).
    case modelCallRefused = "model.call.refused"
    /// The control plane saw the run's tool calls repeat without progress: the run stops.
    case progressStalled = "progress.stalled"
    /// The context subsystem shortened the history sent to the model (sizes before and after, profile, level).
    case contextCompressed = "context.compressed"
    /// The model refused the worker in a way no retry fixes (401, 403, 404, quota): reported once to the admins.
    case modelFatal = "model.fatal"
    /// The agent starts a tool call (tool, call id, redacted arguments, tier).
    case toolCallStarted = "tool_call.started"
    /// A tool call succeeded.
    case toolCallCompleted = "tool_call.completed"
    /// A tool call failed, was refused or was not approved.
    case toolCallFailed = "tool_call.failed"
    /// A tool call waits for an admin's approval: the pending approval was recorded.
    case approvalRequested = "approval.requested"
    /// A tool approval was approved, rejected or expired.
    case approvalDecided = "approval.decided"
    /// Someone who is not an admin pressed a tool approval's button.
    case approvalDecisionRefused = "approval.decision_refused"
    /// The commander relayed an admin's /rollback to the supervisor (requested by, target).
    case rollbackRequested = "rollback.requested"
    /// The supervisor answered a relayed /rollback (the revision now starting, or an error).
    case rollbackAnswered = "rollback.answered"
    /// The commander refused a /rollback from someone who is not an admin; nothing was relayed.
    case rollbackRefused = "rollback.refused"

    // MARK: Written by both processes: none yet
}

extension EventType: CustomStringConvertible {
    /// The recorded string, so a type interpolated into a log message or an error reads as it is stored.
    public var description: String { rawValue }
}

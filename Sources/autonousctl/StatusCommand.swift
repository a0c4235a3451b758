import ArgumentParser
import AutonousCore
import Foundation

struct StatusCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "status", abstract: "Show the supervisor, the worker, the inbox and the model.")

    @OptionGroup var options: GlobalOptions

    func run() throws {
        try show(
            options, "io.autonous.Control.GetStatus", NoParameters(), as: ControlInterface.Status.self,
            render: Self.render)
    }

    static func render(_ status: ControlInterface.Status) -> String {
        let worker = status.worker
        var rows: [(String, String)] = [
            (
                "supervisor",
                "\(status.supervisor.state), pid \(status.supervisor.pid), up \(duration(status.supervisor.uptimeSeconds)), version \(status.supervisor.version)"
            ),
            (
                "worker",
                worker.state + (worker.pid.map { ", pid \($0)" } ?? "")
                    + (worker.uptimeSeconds.map { ", up \(duration($0))" } ?? "")
            ),
        ]
        rows += revisionRows(status.revisions, running: worker.revision)
        rows.append(("restarts", "\(worker.restarts) (failures in a row: \(worker.consecutiveFailures))"))
        if let next = worker.nextRestartInMs { rows.append(("next restart", "in \(Double(next) / 1000) s")) }
        rows.append(("last exit", worker.lastExit ?? "-"))
        rows.append(("last error", worker.lastError ?? "-"))
        rows += progressRows(
            worker, telegram: status.telegram.enabled, nowMs: Int64(Date().timeIntervalSince1970 * 1000))
        rows.append(
            (
                "inbox",
                "\(status.inbox.queued) queued, \(status.inbox.inProgress) in progress, \(status.inbox.failed) failed, \(status.inbox.done) done"
            ))
        rows += modelRows(status.model, nowMs: Int64(Date().timeIntervalSince1970 * 1000))
        rows.append(
            (
                "telegram",
                status.telegram.enabled
                    ? "on, \(status.telegram.allowedUsers) allowed user(s)" : "off (no AUTONOUS_TELEGRAM_TOKEN)"
            ))
        rows.append(("sandbox", "\(status.sandbox.launcher); limits: \(status.sandbox.limits)"))
        for problem in status.sandbox.problems { rows.append(("", problem)) }
        let width = rows.map(\.0.count).max() ?? 0
        return rows.map { $0.0.padding(toLength: width, withPad: " ", startingAt: 0) + "  " + $0.1 }.joined(
            separator: "\n")
    }

    /// The model, its provider, a setup hint and the latest call's fatal error.
    static func modelRows(_ model: ControlInterface.ModelStatus, nowMs: Int64) -> [(String, String)] {
        let provider = model.provider.map { " (provider \($0))" } ?? ""
        var rows = [("model", model.configured ? "\(model.model) at \(model.baseURL)\(provider)" : "not configured")]
        if let hint = model.hint { rows.append(("", hint)) }
        if let error = model.lastFatalError {
            let when = model.lastFatalErrorMs.map { " (\(ago($0, nowMs: nowMs)))" }
            rows.append(("model error", "last call failed fatally\(when ?? ""): \(error)"))
        }
        return rows
    }

    /// The current, last-good and previous revisions, a probation's progress and a degraded service.
    static func revisionRows(_ revisions: ControlInterface.RevisionsStatus?, running: String?) -> [(String, String)] {
        guard let revisions else { return [("revision", running.map { String($0.prefix(12)) } ?? "-")] }
        func short(_ sha: String?) -> String { sha.map { String($0.prefix(12)) } ?? "-" }
        var rows: [(String, String)] = [
            (
                "revision",
                short(revisions.current)
                    + (running.map { $0 != revisions.current ? " (running \(short($0)))" : "" } ?? "")
            ),
            (
                "last-good",
                short(revisions.lastGood) + (revisions.previousGood.map { " (before it: \(short($0)))" } ?? "")
            ),
        ]
        if let probation = revisions.probation {
            let passed =
                probation.checksPassed.isEmpty
                ? "no checks passed yet" : "passed: " + probation.checksPassed.joined(separator: ", ")
            let left = probation.remainingMs.map { "\(Double($0) / 1000) s left" } ?? "waiting for Ready"
            rows.append(("probation", "\(short(probation.revision)): \(left); \(passed)"))
        }
        rows.append(("crash window", "\(revisions.restartsInWindow) restart(s)"))
        if let degraded = revisions.degraded { rows.append(("DEGRADED", degraded)) }
        return rows
    }

    /// What the worker's last heartbeat said: when it came, its counters, its Telegram polling and its backlogs.
    static func progressRows(_ worker: ControlInterface.WorkerStatus, telegram: Bool, nowMs: Int64)
        -> [(String, String)]
    {
        guard let age = worker.heartbeatAgeMs, let progress = worker.progress else {
            return [("heartbeat", worker.pid == nil ? "-" : "none yet")]
        }
        func ago(_ unixMs: Int64) -> String { "\(duration(Int(max(0, nowMs - unixMs) / 1000))) ago" }
        var rows: [(String, String)] = [
            ("heartbeat", "\(String(format: "%.1f", Double(age) / 1000)) s ago"),
            (
                "progress",
                "\(progress.updatesReceived) update(s) received, \(progress.messagesAnswered) answered, "
                    + "\(progress.modelFailures) model failure(s), \(progress.runsInFlight ?? 0) run(s) in flight"
            ),
            (
                "telegram poll",
                !telegram ? "-" : progress.lastPollCompletedMs.map { "last completed \(ago($0))" } ?? "none completed"
            ),
            ("outbox", progress.outboxBacklog.map { "\($0) chunk(s) waiting to be sent" } ?? "-"),
            ("oldest waiting", progress.oldestUnansweredMs.map { "message since \(ago($0))" } ?? "none"),
        ]
        if let error = progress.lastError { rows.append(("worker error", error)) }
        return rows
    }

    static func duration(_ seconds: Int) -> String {
        if seconds < 60 { return "\(seconds)s" }
        if seconds < 3600 { return "\(seconds / 60)m\(seconds % 60)s" }
        if seconds < 86400 { return "\(seconds / 3600)h\(seconds % 3600 / 60)m" }
        return "\(seconds / 86400)d\(seconds % 86400 / 3600)h"
    }
}

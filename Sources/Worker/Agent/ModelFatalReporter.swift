import AutonousCore
import Foundation
import Logging
import Synchronization

/// Tells the admins about a model error only an operator can fix (a refused key, 401 or 403; an unknown model or
/// URL, 404; a used-up quota), once per distinct error until a model call succeeds again: one Telegram notice to
/// the admins, through the outbox like the supervisor's notices (`AdminNotices`), and one `model.fatal` event.
/// Shared by every conversation lane.
final class ModelFatalReporter: Sendable {
    /// Queues the text for the admins under a notice id; `AdminNotices.handle` in the worker.
    typealias Notify = @Sendable (_ id: String, _ text: String) -> Void

    private let database: AppDatabase
    private let notify: Notify
    private let logger: Logger
    /// The errors reported since the last model call that succeeded.
    private let reported = Mutex<Set<String>>([])

    init(database: AppDatabase, logger: Logger, notify: @escaping Notify) {
        self.database = database
        self.logger = logger
        self.notify = notify
    }

    /// The admins' notices through `notices` (Telegram when it is on and has admins, else the log).
    convenience init(database: AppDatabase, notices: AdminNotices, logger: Logger) {
        self.init(database: database, logger: logger) { id, text in
            notices.handle(WorkerInterface.Notice(kind: "admins", id: id, text: text))
        }
    }

    /// Whether the admins hear of `error`: 401, 403 or 404 from the API, or a used-up quota.
    static func isReported(_ error: ModelError) -> Bool {
        guard error.errorClass == .fatal, case .api(let status, _, let code, _) = error else { return false }
        return [401, 403, 404].contains(status) || code == "insufficient_quota"
    }

    /// Reports `error` of `provider`'s `model` unless the same error was reported since the last success; the
    /// event goes under `context`. Returns true when it reported.
    @discardableResult
    func failed(_ error: ModelError, provider: String, model: String, context: EventContext) -> Bool {
        guard Self.isReported(error), case .api(let status, let message, let code, _) = error else { return false }
        let apiMessage = Redactor.shared.redact(message)
        let key = [provider, model, String(status), code ?? "", apiMessage].joined(separator: "\u{1F}")
        guard reported.withLock({ $0.insert(key).inserted }) else { return false }
        let text =
            "The model cannot answer anyone until an operator acts: \(provider) model \(model) "
            + "answered HTTP \(status)" + (code.map { " (\($0))" } ?? "") + ": \(apiMessage)\n"
            + "\(error.shortReason.prefix(1).uppercased() + error.shortReason.dropFirst()). Check OPENAI_API_KEY, "
            + "AUTONOUS_MODEL and AUTONOUS_OPENAI_BASE_URL; this is said once until a model call succeeds again."
        do {
            try EventLog(database: database).append(
                .modelFatal, context,
                payload: [
                    "provider": .string(provider), "model": .string(model), "status": .int(Int64(status)),
                    "code": code.map { .string($0) } ?? .null, "message": .string(apiMessage),
                    "error_class": .string(error.errorClass.rawValue),
                ])
        } catch {
            logger.error("cannot record model.fatal", metadata: ["error": "\(error)"])
        }
        logger.critical(
            "the model refused the request; the admins are told",
            metadata: ["model.provider": "\(provider)", "model.name": "\(model)", "http.status": "\(status)"])
        notify("model-fatal-" + UUID().uuidString.lowercased(), text)
        return true
    }

    /// A model call succeeded: an error reported before is reported again if it comes back.
    func succeeded() {
        reported.withLock { $0.removeAll() }
    }
}

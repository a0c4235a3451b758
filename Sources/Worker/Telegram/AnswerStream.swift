import AutonousCore
import Logging
import Synchronization

/// Where an answer shows while the model writes it.
enum AnswerPreview: Sendable, Equatable {
    /// A draft in a private chat (`sendMessageDraft`) with a Stop button; the answer is then sent as a message,
    /// which replaces the draft.
    case draft(id: Int64)
    /// A message sent with the first text (as a reply to `replyTo`) and edited as more arrives; the answer's first
    /// chunk then replaces its text.
    case edit(replyTo: Int64?)
}

/// Remembers, for the life of the worker, that Telegram does not know `sendMessageDraft` (a Bot API server older
/// than 9.3), so later answers go straight to edits.
final class DraftSupport: Sendable {
    private let missing = Atomic<Bool>(false)

    init() {}

    var isMissing: Bool { missing.load(ordering: .relaxed) }

    func markMissing() { missing.store(true, ordering: .relaxed) }
}

/// Shows one answer growing in its chat while the model writes it, without slowing the model's stream.
///
/// `receive` only stores the text. One task sends the newest text at most once per interval: drafts every
/// `draftInterval`, edits once a second (Telegram's limit for a bot editing in one chat). Text that arrives while a
/// send is under way is coalesced into the next one. A failed preview never fails the run: a 429 pauses previews
/// for its `retry_after`, refused markup switches to plain text, a draft Telegram does not support falls back to
/// edits, and an edit it refuses ends the previews; the answer itself is always delivered through the outbox.
///
/// `finish` ends it before the answer is delivered, and waits for a send under way, so no preview lands after the
/// answer.
final class AnswerStream: Sendable {
    /// What the commander records about a finished stream.
    struct Summary: Sendable, Equatable {
        /// `draft`, `edit`, or `none` when nothing was shown.
        var mode: String
        /// Previews Telegram accepted.
        var previews: Int
        /// From the stream's start to the first preview Telegram accepted.
        var firstPreview: Duration?
        /// The message that shows the answer so far (edit mode), for the answer's first chunk to replace.
        var messageID: Int64?
        /// Why previews stopped early or changed mode, when they did.
        var note: String?
        /// When the preview message may be edited again (a second after the last edit), for the answer's first
        /// chunk to keep Telegram's pace.
        var nextEdit: ContinuousClock.Instant?
    }

    static let draftInterval = Duration.milliseconds(250)
    static let editInterval = Duration.seconds(1)

    private enum Target: Sendable, Equatable {
        case draft(Int64)
        case edit(replyTo: Int64?)
        case stopped
    }

    private struct State: Sendable {
        var target: Target
        var text = ""
        var version = 0
        var shownVersion = 0
        var finished = false
        var sending = false
        var messageID: Int64?
        var plain = false
        var pausedUntil: ContinuousClock.Instant?
        var previews = 0
        var firstPreview: Duration?
        var note: String?
        var lastSend: ContinuousClock.Instant?
    }

    /// The state and the means to send, shared by the stream and its task (which must not keep the stream alive).
    private final class Core: Sendable {
        let client: TelegramClient
        let chatID: Int64
        let drafts: DraftSupport
        let logger: Logger
        let started = ContinuousClock.now
        let state: Mutex<State>
        let wakeups: AsyncStream<Void>.Continuation

        init(
            client: TelegramClient, chatID: Int64, target: Target, drafts: DraftSupport, logger: Logger,
            wakeups: AsyncStream<Void>.Continuation
        ) {
            self.client = client
            self.chatID = chatID
            self.drafts = drafts
            self.logger = logger
            self.wakeups = wakeups
            state = Mutex(State(target: target))
        }
    }

    private let core: Core
    private let task: Task<Void, Never>
    /// The draft the answer shows in, which a Stop names; nil when it shows in a message.
    let draftID: Int64?

    init(client: TelegramClient, chatID: Int64, preview: AnswerPreview, drafts: DraftSupport, logger: Logger) {
        let target: Target =
            switch preview {
            case .draft(let id) where !drafts.isMissing: .draft(id)
            case .draft: .edit(replyTo: nil)
            case .edit(let replyTo): .edit(replyTo: replyTo)
            }
        let (wakes, continuation) = AsyncStream<Void>.makeStream(bufferingPolicy: .bufferingNewest(1))
        let core = Core(
            client: client, chatID: chatID, target: target, drafts: drafts, logger: logger, wakeups: continuation)
        self.core = core
        if case .draft(let id) = target { draftID = id } else { draftID = nil }
        task = Task { await Self.run(core, wakes) }
    }

    deinit {
        core.wakeups.finish()
        task.cancel()
    }

    /// Takes one event of the run's answer stream.
    func receive(_ event: AnswerStreamEvent) {
        let changed = core.state.withLock { state -> Bool in
            guard !state.finished else { return false }
            switch event {
            case .callStarted:
                guard !state.text.isEmpty else { return false }
                // Keep what is shown until the new call writes something.
                state.text = ""
                return false
            case .text(let piece):
                guard !piece.isEmpty else { return false }
                state.text += piece
                state.version += 1
                return true
            }
        }
        if changed { core.wakeups.yield() }
    }

    /// Stops the previews, waiting for one under way, and says what was shown.
    func finish() async -> Summary {
        let sending = core.state.withLock { state -> Bool in
            state.finished = true
            return state.sending
        }
        core.wakeups.finish()
        // No send starts once `finished` is set; a task not sending is at most waiting out its interval.
        if !sending { task.cancel() }
        await task.value
        return core.state.withLock { state in
            let mode =
                switch (state.previews, state.target, state.messageID) {
                case (0, _, _): "none"
                case (_, .draft, _): "draft"
                default: "edit"
                }
            return Summary(
                mode: mode, previews: state.previews, firstPreview: state.firstPreview, messageID: state.messageID,
                note: state.note, nextEdit: state.messageID == nil ? nil : state.lastSend.map { $0 + Self.editInterval }
            )
        }
    }

    private static func run(_ core: Core, _ wakes: AsyncStream<Void>) async {
        let clock = ContinuousClock()
        for await _ in wakes {
            let due = core.state.withLock { state -> ContinuousClock.Instant? in
                let interval = if case .draft = state.target { draftInterval } else { editInterval }
                return [state.lastSend.map { $0 + interval }, state.pausedUntil].compactMap { $0 }.max()
            }
            if let due, due > clock.now {
                // Waits out Telegram's pace; `finish` cancels it when the answer is ready.
                do { try await Task.sleep(until: due, clock: clock) } catch { return }
            }
            let next = core.state.withLock { state -> (Target, String, Bool)? in
                guard !state.finished, state.version != state.shownVersion, state.target != .stopped else {
                    return nil
                }
                state.sending = true
                state.shownVersion = state.version
                state.lastSend = clock.now
                return (state.target, state.text, state.plain)
            }
            guard let (target, text, plain) = next else { continue }
            await show(text, on: target, plain: plain, core)
            let (finished, behind) = core.state.withLock { state -> (Bool, Bool) in
                state.sending = false
                return (state.finished, state.version != state.shownVersion)
            }
            if finished { return }
            // Newer text, or the same text again after a fallback (plain text, edits instead of drafts).
            if behind { core.wakeups.yield() }
        }
    }

    /// Sends one preview and records what became of it.
    private static func show(_ text: String, on target: Target, plain: Bool, _ core: Core) async {
        let (chunks, parseMode) = TelegramCommander.replyChunks(text)
        guard let chunk = chunks.first, !chunk.isEmpty else { return }
        let useHTML = parseMode == .html && !plain
        var parameters: [String: JSONValue] = [
            "chat_id": .int(core.chatID), "text": .string(useHTML ? chunk : TelegramHTML.visibleText(chunk)),
        ]
        if useHTML { parameters["parse_mode"] = .string(OutboxParseMode.html.rawValue) }
        let method: String
        switch target {
        case .draft(let id):
            method = "sendMessageDraft"
            parameters["draft_id"] = .int(id)
            parameters["can_stop"] = .bool(true)
        case .edit(let replyTo):
            if let messageID = core.state.withLock({ $0.messageID }) {
                method = "editMessageText"
                parameters["message_id"] = .int(messageID)
            } else {
                method = "sendMessage"
                if let replyTo {
                    parameters["reply_parameters"] = .object([
                        "message_id": .int(replyTo), "allow_sending_without_reply": .bool(true),
                    ])
                }
            }
        case .stopped:
            return
        }
        do {
            let result = try await core.client.call(method, parameters, timeout: .seconds(10))
            let elapsed = ContinuousClock.now - core.started
            core.state.withLock { state in
                state.previews += 1
                if state.firstPreview == nil { state.firstPreview = elapsed }
                if method == "sendMessage" { state.messageID = result["message_id"]?.intValue }
            }
        } catch {
            handle(error, method: method, text: text, core)
        }
    }

    /// Decides what a refused or failed preview changes; the next text tries again unless previews stopped.
    private static func handle(_ error: TelegramError, method: String, text: String, _ core: Core) {
        let description = Redactor.shared.redact(error.description)
        if error.isNotModified { return }
        core.state.withLock { state in
            if let retryAfter = error.retryAfter {
                state.pausedUntil = ContinuousClock.now + retryAfter
            } else if error.isEntityParseError, !state.plain {
                // The same text goes again as plain text at the next wake-up.
                state.plain = true
                state.shownVersion = 0
            } else if !error.isRetryable {
                switch state.target {
                case .draft:
                    state.target = .edit(replyTo: nil)
                    state.shownVersion = 0
                    state.note = "drafts refused (\(description)); edited a message instead"
                case .edit:
                    state.target = .stopped
                    state.note = "previews stopped: \(description)"
                case .stopped:
                    break
                }
            }
        }
        if case .api(404, _, _) = error, method == "sendMessageDraft" { core.drafts.markMissing() }
        core.logger.notice(
            "an answer preview was not shown",
            metadata: ["telegram.method": "\(method)", "error": "\(description)"])
    }
}

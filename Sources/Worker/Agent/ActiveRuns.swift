import Synchronization

/// Why a run was asked to stop before it finished on its own.
struct StopRequest: Sendable, Equatable {
    /// `cancelled` for the user's /cancel or Stop, else a control-plane reason.
    var reason: StopReason
    /// Who asked: `telegram:<user id>`, `local`, `autonous`.
    var by: String
    /// The one sentence the user is told.
    var sentence: String
}

/// The runs going on now, one per chat at most (the lanes see to that), so that /cancel can stop one from outside
/// its lane. A run registers itself with the closure that cancels its task; `stop` records why and cancels it.
final class ActiveRuns: Sendable {
    private struct Entry {
        var runID: String
        /// The draft that shows its answer, which the user's Stop button names.
        var draftID: Int64?
        var cancel: @Sendable () -> Void
        var stop: StopRequest?
    }

    private let entries = Mutex<[String: Entry]>([:])

    init() {}

    /// Registers `runID` as the run of `chat` until `finish` is called; `draftID` is the draft that shows its answer.
    func begin(chat: String, runID: String, draftID: Int64? = nil, cancel: @escaping @Sendable () -> Void) {
        entries.withLock { $0[chat] = Entry(runID: runID, draftID: draftID, cancel: cancel, stop: nil) }
    }

    /// Removes the run of `chat` and returns why it was stopped, if it was.
    @discardableResult
    func finish(chat: String, runID: String) -> StopRequest? {
        entries.withLock { entries in
            guard entries[chat]?.runID == runID else { return nil }
            return entries.removeValue(forKey: chat)?.stop
        }
    }

    /// Why the run of `chat` was stopped, if it was.
    func stopRequest(chat: String, runID: String) -> StopRequest? {
        entries.withLock { entries in entries[chat]?.runID == runID ? entries[chat]?.stop : nil }
    }

    /// Stops the run of `chat`: records `request` (the first request wins) and cancels the run's task. Returns the
    /// run's id, or nil when the chat has no run going, or (with `draftID`) none that shows that draft.
    @discardableResult
    func stop(chat: String, draftID: Int64? = nil, _ request: StopRequest) -> String? {
        let found = entries.withLock { entries -> (String, @Sendable () -> Void)? in
            guard var entry = entries[chat], draftID == nil || entry.draftID == draftID else { return nil }
            if entry.stop == nil { entry.stop = request }
            entries[chat] = entry
            return (entry.runID, entry.cancel)
        }
        guard let (runID, cancel) = found else { return nil }
        cancel()
        return runID
    }

    /// The chats with a run going now.
    var chats: [String] { entries.withLock { Array($0.keys) } }
}

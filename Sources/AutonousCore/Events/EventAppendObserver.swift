import GRDB
import Synchronization

/// Counts the commits that appended to a database's `events` table, on a `ChangeSignal`: the wake-up for readers
/// that follow the log of the process that writes it (the supervisor's `events --follow`).
///
/// A GRDB transaction observer, so every append through the database's pool counts, whether by
/// `EventLog.append` or inside another write transaction; only a commit counts, never a rollback.
public final class EventAppendObserver: TransactionObserver, Sendable {
    /// Counted once per commit that inserted at least one event.
    public let signal = ChangeSignal()
    private let pending = Mutex(false)

    /// Starts observing `database`'s writes; the observer lives as long as the pool.
    public static func observe(_ database: AppDatabase) -> EventAppendObserver {
        let observer = EventAppendObserver()
        database.pool.add(transactionObserver: observer, extent: .databaseLifetime)
        return observer
    }

    public func observes(eventsOfKind eventKind: DatabaseEventKind) -> Bool {
        if case .insert(let table) = eventKind { return table == "events" }
        return false
    }

    public func databaseDidChange(with event: DatabaseEvent) {
        pending.withLock { $0 = true }
    }

    public func databaseDidCommit(_ db: Database) {
        let appended = pending.withLock { pending in
            defer { pending = false }
            return pending
        }
        if appended { signal.notify() }
    }

    public func databaseDidRollback(_ db: Database) {
        pending.withLock { $0 = false }
    }
}

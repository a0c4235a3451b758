import AutonousCore
import Synchronization

/// The supervisor's read-only view of the worker's database, for `status`, `approvals` and `events`.
///
/// The worker owns and migrates `worker/worker.db`; the supervisor opens it only with SQLite's read-only open plus
/// `query_only`, once it exists (the first worker creates it), and never writes it.
final class WorkerStateReader: Sendable {
    let path: String
    private let opened = Mutex<AppDatabase?>(nil)

    init(path: String) {
        self.path = path
    }

    /// The read-only database.
    ///
    /// - Throws: `AutonousError(.notFound)` while no worker has created it yet.
    func database() throws -> AppDatabase {
        if let database = opened.withLock({ $0 }) { return database }
        let database = try AppDatabase.readOnly(path: path, role: .worker)
        return opened.withLock { current in
            if let current { return current }
            current = database
            return database
        }
    }

    /// The inbox, read-only.
    func inbox() throws -> Inbox { Inbox(database: try database()) }

    /// The tool approvals, read-only.
    func approvals() throws -> Approvals { Approvals(database: try database()) }
}

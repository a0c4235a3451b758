import AutonousCore
import Synchronization

#if canImport(Glibc)
import Glibc
#endif

/// The supervisor's read-only view of the worker's database, for `status`, `approvals` and `events`.
///
/// The worker owns and migrates `worker/worker.db`; the supervisor opens it only with SQLite's read-only open plus
/// `query_only`, and never writes it. It opens it only once the worker has it open in WAL mode, that is once
/// `worker.db`, `worker.db-wal` and `worker.db-shm` all exist, so that the supervisor never creates a file in the
/// worker's directory. A read-only connection creates `-wal` and `-shm` when they are missing, and as root SQLite
/// creates them owned by root and gives them to the database's owner only a moment later (`fchown`): a worker
/// opening its database in that moment gets EACCES on them, falls back to a read-only connection, and dies at its
/// first write ("attempt to write a readonly database"). That was a first start's race, seen under load.
final class WorkerStateReader: Sendable {
    let path: String
    private let opened = Mutex<AppDatabase?>(nil)

    init(path: String) {
        self.path = path
    }

    /// The read-only database.
    ///
    /// - Throws: `AutonousError(.notFound)` while no worker has opened it yet.
    func database() throws -> AppDatabase {
        if let database = opened.withLock({ $0 }) { return database }
        for suffix in ["", "-wal", "-shm"] where access(path + suffix, F_OK) != 0 {
            throw AutonousError(.notFound, "no worker has opened its database \(path) yet (no \(path + suffix))")
        }
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

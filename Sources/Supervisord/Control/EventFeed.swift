import AutonousCore
import Logging

/// Both event logs for `GetEvents`: pages read from the merged log, and the wake-ups that tell a follower when
/// either log grew.
///
/// The supervisor knows when its own log grows: its pool's `EventAppendObserver` counts every commit that
/// appended. The worker's log is another process's database, so its growth comes from an inotify watch on the
/// worker's directory (`worker.db`, `worker.db-wal`). Neither is polled.
struct EventFeed: Sendable {
    let log: MergedEventLog
    /// Counted once per commit that appended to autonous.db's events.
    let supervisorAppends: ChangeSignal
    /// The directory holding worker.db.
    let workerDirectory: String

    /// The largest page a follower is sent at once; a longer burst goes out as several replies.
    static let followPageSize = 1000

    init(supervisor: AppDatabase, appends: ChangeSignal, workerState: WorkerStateReader, workerDirectory: String) {
        log = MergedEventLog(supervisor: supervisor) {
            do {
                return try workerState.database()
            } catch let error as AutonousError where error.code == .notFound {
                // No worker has created its database yet: its log is empty.
                return nil
            }
        }
        supervisorAppends = appends
        self.workerDirectory = workerDirectory
    }

    /// Sends the most recent `limit` matching events (or those after `after`), then every matching event as it is
    /// recorded, until cancelled (the caller hung up, or the server stops).
    ///
    /// The worker's watch and the supervisor's count are taken before each read, so an event committed during a
    /// read wakes the next one: nothing is missed, and at worst a read finds nothing new.
    func follow(
        _ query: EventQuery, limit: Int, after: EventCursor?, logger: Logger,
        send: @Sendable (EventPage) async throws -> Void
    ) async throws -> Never {
        let watch: FileChangeWatch?
        do {
            watch = try FileChangeWatch(directory: workerDirectory, names: ["worker.db", "worker.db-wal"])
        } catch {
            // Out of inotify instances or watches (fs.inotify.max_user_*): follow anyway, re-checking the
            // worker's log every second, since without the watch no wake-up for it exists.
            logger.warning(
                "cannot watch the worker's database; following it by re-checking every second",
                metadata: ["events.directory": "\(workerDirectory)", "error": "\(error)"])
            watch = nil
        }
        defer { watch?.close() }
        var seen = supervisorAppends.generation
        let first = try after.map { try log.after($0, query, limit: limit) } ?? log.latest(query, limit: limit)
        try await send(first)
        var cursor = first.cursor
        while true {
            // Reads first: a full first page after a cursor has more behind it already.
            var page: EventPage
            repeat {
                page = try log.after(cursor, query, limit: Self.followPageSize)
                cursor = page.cursor
                if !page.events.isEmpty { try await send(page) }
            } while page.events.count == Self.followPageSize
            try await changed(since: seen, watch: watch)
            seen = supervisorAppends.generation
        }
    }

    /// Returns when the supervisor appended since `seen` or a worker database file changed, whichever is first
    /// (without a watch: at the latest after a second).
    private func changed(since seen: UInt64, watch: FileChangeWatch?) async throws {
        let appends = supervisorAppends
        try await withThrowingTaskGroup(of: Void.self) { group in
            group.addTask { try await appends.wait(past: seen) }
            group.addTask {
                if let watch { try await watch.next() } else { try await Task.sleep(for: .seconds(1)) }
            }
            defer { group.cancelAll() }
            try await group.next()
        }
    }
}

import AutonousCore
import Foundation
import Testing

@testable import Supervisord

/// The supervisor reads the worker's database without ever creating a file in the worker's directory: a `-wal` or
/// `-shm` it created as root would be root's for a moment, and a worker opening its database then would be stuck
/// with a read-only connection.
@Suite struct WorkerStateReaderTests {
    /// A directory of its own, removed at the end.
    final class TemporaryDirectory {
        let path: String

        init(prefix: String) throws {
            path = FileManager.default.temporaryDirectory.appendingPathComponent(prefix + UUID().uuidString).path
            try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
        }

        deinit { try? FileManager.default.removeItem(atPath: path) }
    }

    private func listing(_ directory: String) throws -> [String] {
        try FileManager.default.contentsOfDirectory(atPath: directory).sorted()
    }

    @Test func aDatabaseTheWorkerHasNotOpenedIsNotOpenedAndNothingIsCreated() throws {
        let directory = try TemporaryDirectory(prefix: "state-reader-")
        let path = directory.path + "/worker.db"
        let reader = WorkerStateReader(path: path)
        #expect(throws: AutonousError.self) { try reader.database() }
        #expect(try listing(directory.path) == [])

        // A worker that created and closed its database: the file is there, its -wal and -shm are not.
        do {
            let owner = try AppDatabase(path: path, role: .worker)
            try owner.pool.write { db in
                try db.execute(sql: "INSERT INTO events (ts_ms, type, payload) VALUES (1, 'x', '{}')")
            }
            try owner.pool.close()
        }
        let closed = try listing(directory.path)
        #expect(closed.contains("worker.db") && !closed.contains("worker.db-shm"), "\(closed)")
        do {
            _ = try reader.database()
            Issue.record("opened a database no worker has open")
        } catch let error as AutonousError {
            #expect(error.code == .notFound)
            #expect(error.message.contains("no worker has opened its database"), "\(error.message)")
        }
        #expect(try listing(directory.path) == closed, "the reader created files")
    }

    @Test func aDatabaseTheWorkerHasOpenIsReadWithoutCreatingAFile() throws {
        let directory = try TemporaryDirectory(prefix: "state-reader-")
        let path = directory.path + "/worker.db"
        let owner = try AppDatabase(path: path, role: .worker)
        try owner.pool.write { db in
            try db.execute(sql: "INSERT INTO events (ts_ms, type, payload) VALUES (1, 'x', '{}')")
        }
        let before = try listing(directory.path)
        #expect(before.contains("worker.db-wal") && before.contains("worker.db-shm"), "\(before)")
        let reader = WorkerStateReader(path: path)
        let database = try reader.database()
        #expect(database.isReadOnly)
        #expect(
            try database.pool.read { db in try Int.fetchOne(db, sql: "SELECT count(*) FROM events WHERE type = 'x'") }
                == 1)
        #expect(try listing(directory.path) == before)
        #expect(try reader.database() === database, "opened once")
    }
}

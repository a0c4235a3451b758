import AutonousCore
import Foundation
import GRDB
import Synchronization

@testable import Supervisord

/// A supervisor database in a temporary directory, a transaction store on it, and a clock the test sets; removed
/// afterwards.
final class TransactionFixture: Sendable {
    let root: String
    let database: AppDatabase
    let store: TransactionStore
    let clock: ManualMilliseconds

    static let base = String(repeating: "b", count: 64)
    static let artifact = String(repeating: "a", count: 64)
    static let commit = String(repeating: "c", count: 40)

    init(newID: @escaping @Sendable () -> String = Transaction.newID) throws {
        root = FileManager.default.temporaryDirectory.appendingPathComponent("tx-" + UUID().uuidString).path
        try FileManager.default.createDirectory(atPath: root, withIntermediateDirectories: true)
        database = try AppDatabase(path: root + "/autonous.db", role: .supervisor)
        let clock = ManualMilliseconds(1_700_000_000_000)
        self.clock = clock
        store = TransactionStore(database: database, now: { clock.now() }, newID: newID)
    }

    deinit {
        try? FileManager.default.removeItem(atPath: root)
    }

    /// A valid proposal whose title is `title`.
    static func proposal(_ title: String = "add /version", runID: String? = "run-1") -> Transaction.Proposal {
        Transaction.Proposal(
            title: title, summary: "Answer /version with the revision.", requestedBy: "telegram:111", runID: runID,
            baseRevision: base, baseCommit: String(repeating: "0", count: 40),
            patchSHA256: String(repeating: "9", count: 64), patchBytes: 1234)
    }

    /// The fields the pipeline sets when it stages a transaction, with a deadline one day from now.
    var stagingFields: Transaction.Update {
        Transaction.Update(
            commit: Self.commit, artifactSHA256: Self.artifact, diffstat: "1 file changed, 3 insertions(+)",
            testsPassed: 12, testsFailed: 0, expiresMs: clock.now() + 86_400_000)
    }

    /// A new transaction moved along the pipeline to `staged`.
    func staged(_ title: String = "add /version") throws -> Transaction {
        let created = try store.create(Self.proposal(title))
        try store.transition(created.id, to: .building, reason: nil)
        try store.transition(created.id, to: .testing, reason: nil)
        try store.transition(created.id, to: .selfChecking, reason: nil)
        return try store.transition(created.id, to: .staged, reason: nil, fields: stagingFields)
    }

    /// A decision from the shell on the fixture's artifact.
    static func shell(_ id: String, _ decision: UpdateDecisionRequest.Decision = .approve) -> UpdateDecisionRequest {
        UpdateDecisionRequest(
            transactionID: id, artifactSHA256: artifact, decision: decision, via: .shell(user: "root"))
    }

    /// Records `request` with Telegram admin 111, Telegram mode and a last-good relay.
    @discardableResult
    func decide(_ request: UpdateDecisionRequest) throws -> Transaction {
        try store.recordDecision(
            request, admins: [111], mode: .telegram,
            relay: RelayTrust(relayingRevision: Self.base, lastGood: Self.base))
    }

    func count(_ table: String) throws -> Int {
        try database.pool.read { db in try Int.fetchOne(db, sql: "SELECT count(*) FROM \(table)") ?? 0 }
    }

    func events(_ prefix: String = "update.") throws -> [EventRecord] {
        try EventLog(database: database).events(typePrefix: prefix)
    }
}

/// Milliseconds since the epoch that move only when the test says so.
final class ManualMilliseconds: Sendable {
    private let value: Mutex<Int64>

    init(_ start: Int64) { value = Mutex(start) }

    func now() -> Int64 { value.withLock { $0 } }

    func advance(by milliseconds: Int64) {
        value.withLock { $0 += milliseconds }
    }
}

import Foundation
import GRDB

#if canImport(Glibc)
import Glibc
#endif

/// A consistent copy of a state directory, taken while the service runs (`autonousctl backup PATH`).
///
/// Layout of a backup: `PATH/backup.json` (this report) and `PATH/state/`, the state directory with its mode and
/// owner. The two databases are copied with SQLite's online backup API from a read-only open
/// (`AppDatabase.readOnly`): each copy is one read snapshot of its database, taken while the owners go on writing
/// (WAL readers block no writer), so it holds every transaction committed before its snapshot began. The two
/// snapshots are taken one after the other, not at one instant; each owner resolves what was in flight at its next
/// start, as after a crash. Everything else a restore needs is copied file by file: `artifacts/` (revisions, their
/// manifests and the pointer symlinks), `workspace/`, `src/` (the seeded source repository), `builds/` (logs and
/// patches of the update transactions) and whatever else lies there, with modes, owners and symlinks kept.
///
/// Left out (see `skipReason`): the databases' `-wal`, `-shm` and `-journal` files (their committed content is in
/// the copies), `*.migrate-lock` files, `build-cache/` and `.build/` directories (rebuilt by the next build),
/// `self-check/` (scratch), crash leftovers of artifact imports and pointer flips, and sockets, FIFOs and devices.
///
/// Everything is written into `PATH.partial` and renamed to `PATH` at the end, after `PRAGMA integrity_check` passed
/// on each copied database, so an interrupted backup never looks like a whole one.
public enum StateBackup {
    /// The report written into every backup, and returned by `run`.
    public struct Report: Codable, Sendable, Equatable {
        /// The autonous version that took the backup.
        public var version: String
        public var createdMs: Int64
        /// The state directory it was taken from.
        public var stateDirectory: String
        public var databases: [DatabaseCopy]
        /// Files copied besides the databases, and their bytes.
        public var files: Int
        public var bytes: Int64
        /// Paths (relative to the state directory) left out, each with the reason.
        public var skipped: [String]
        public var durationMs: Int64
    }

    /// One database copied with the backup API.
    public struct DatabaseCopy: Codable, Sendable, Equatable {
        /// Relative to the state directory: `autonous.db` or `worker/worker.db`.
        public var path: String
        public var bytes: Int64
        /// What `PRAGMA integrity_check` said of the copy: `ok`.
        public var integrity: String
    }

    /// The report's file name inside a backup.
    public static let reportName = "backup.json"
    /// The state directory's copy inside a backup.
    public static let stateName = "state"
    /// The databases, relative to the state directory, and their owners.
    static let databases: [(path: String, role: DatabaseRole)] = [
        ("autonous.db", .supervisor), ("worker/worker.db", .worker),
    ]

    /// Backs up `stateDirectory` into the new directory `destination`.
    ///
    /// - Throws: `AutonousError` with a sentence naming the path: `.notFound` for a missing state directory or
    ///   one without `autonous.db`, `.invalidArgument` for a destination that exists and is not an empty directory
    ///   or whose `.partial` exists, `.database` when a copy fails its integrity check; `.io` otherwise. On a
    ///   failure after it started, what it wrote is removed.
    public static func run(stateDirectory: String, destination: String) throws -> Report {
        let started = ContinuousClock.now
        let state = absolute(stateDirectory)
        let target = absolute(destination)
        try checkStateDirectory(state)
        guard !(target + "/").hasPrefix(state + "/") else {
            throw AutonousError(
                .invalidArgument, "\(target) is inside the state directory \(state): name a directory outside it")
        }
        try checkDestination(target)
        let partial = target + ".partial"
        if access(partial, F_OK) == 0 {
            throw AutonousError(
                .invalidArgument,
                "\(partial) exists: an earlier backup was interrupted; remove it and run the backup again")
        }
        guard mkdir(partial, 0o700) == 0 else {
            throw AutonousError(.io, "cannot create \(partial)", cause: Errno(errno, "mkdir"))
        }
        do {
            var report = try copy(state: state, into: partial)
            report.durationMs = (ContinuousClock.now - started).wholeMilliseconds
            let data = try encodedReport(report)
            guard FileManager.default.createFile(atPath: partial + "/" + reportName, contents: data) else {
                throw AutonousError(.io, "cannot write \(partial)/\(reportName)")
            }
            guard rename(partial, target) == 0 else {
                throw AutonousError(.io, "cannot rename \(partial) to \(target)", cause: Errno(errno, "rename"))
            }
            syncDirectory(URL(fileURLWithPath: target).deletingLastPathComponent().path)
            return report
        } catch {
            try? FileManager.default.removeItem(atPath: partial)
            throw error
        }
    }

    /// Why the entry at `path` (relative to the state directory) is left out of a backup, or nil to copy it.
    static func skipReason(_ path: String, isDirectory: Bool) -> String? {
        let name = (path as NSString).lastPathComponent
        for database in databases.map(\.path) {
            for suffix in ["-wal", "-shm", "-journal"] where path == database + suffix {
                return "SQLite's \(suffix.dropFirst()) file: the backup API's copy holds what was committed"
            }
        }
        if name.hasSuffix(".migrate-lock") { return "a lock file" }
        if path == "worker/worker.db.partial" { return "an unfinished state split, redone at the next start" }
        if path == "build-cache" { return "the update builds' cache, rebuilt by the next build" }
        if path == "self-check" { return "self-check scratch directories" }
        if isDirectory && name == ".build" { return "a SwiftPM build directory, rebuilt by the next build" }
        if path.hasPrefix("artifacts/.") && (name.hasPrefix(".import-") || name.contains(".tmp-")) {
            return "an unfinished artifact import or pointer flip"
        }
        return nil
    }

    private static func copy(state: String, into partial: String) throws -> Report {
        var info = stat()
        guard stat(state, &info) == 0 else {
            throw AutonousError(.io, "cannot read \(state)", cause: Errno(errno, "stat"))
        }
        let copyRoot = partial + "/" + stateName
        guard mkdir(copyRoot, 0o700) == 0 else {
            throw AutonousError(.io, "cannot create \(copyRoot)", cause: Errno(errno, "mkdir"))
        }
        let copier = TreeCopier { path, entry in
            if databases.contains(where: { $0.path == path }) { return .omit }
            return skipReason(path, isDirectory: entry.st_mode & S_IFMT == S_IFDIR).map { .skip($0) } ?? .copy
        }
        var totals = try copier.copy(from: state, to: copyRoot)
        var copies: [DatabaseCopy] = []
        for database in databases {
            let source = state + "/" + database.path
            guard access(source, F_OK) == 0 else {
                totals.skipped.append("\(database.path) (does not exist yet)")
                continue
            }
            let destination = copyRoot + "/" + database.path
            // worker/ may have been left out or not exist (a state directory of an earlier version).
            try FileManager.default.createDirectory(
                atPath: (destination as NSString).deletingLastPathComponent, withIntermediateDirectories: true)
            copies.append(try backUp(source, role: database.role, to: destination, name: database.path))
        }
        try TreeCopier.applyAttributes(of: info, to: copyRoot)
        return Report(
            version: AutonousVersion.current, createdMs: AppDatabase.nowMilliseconds(), stateDirectory: state,
            databases: copies, files: totals.files, bytes: totals.bytes, skipped: totals.skipped, durationMs: 0)
    }

    /// Copies one database with the backup API (one step: one read snapshot), checks the copy's integrity and
    /// gives it the source's mode and owner.
    private static func backUp(_ source: String, role: DatabaseRole, to destination: String, name: String) throws
        -> DatabaseCopy
    {
        var info = stat()
        guard stat(source, &info) == 0 else {
            throw AutonousError(.io, "cannot read \(source)", cause: Errno(errno, "stat"))
        }
        let reader = try AppDatabase.readOnly(path: source, role: role)
        do {
            let copy = try DatabaseQueue(path: destination)
            try reader.pool.backup(to: copy)
            try copy.close()
            try reader.pool.close()
        } catch let error as AutonousError {
            throw error
        } catch {
            throw AutonousError(.database, "cannot back up \(source) to \(destination)", cause: error)
        }
        let integrity = try integrityCheck(destination)
        guard integrity == "ok" else {
            throw AutonousError(.database, "the copy of \(name) failed PRAGMA integrity_check: \(integrity)")
        }
        try TreeCopier.applyAttributes(of: info, to: destination)
        var copied = stat()
        _ = stat(destination, &copied)
        return DatabaseCopy(path: name, bytes: Int64(copied.st_size), integrity: integrity)
    }

    /// `PRAGMA integrity_check` of the database at `path`, its rows joined: `ok` when it is sound. The connection
    /// is closed before it returns, which checkpoints and removes the copy's `-wal` and `-shm`.
    static func integrityCheck(_ path: String) throws -> String {
        do {
            let queue = try DatabaseQueue(path: path)
            let rows = try queue.read { db in try String.fetchAll(db, sql: "PRAGMA integrity_check") }
            try queue.close()
            return rows.joined(separator: "; ")
        } catch {
            throw AutonousError(.database, "cannot check the integrity of \(path)", cause: error)
        }
    }

    private static func checkStateDirectory(_ state: String) throws {
        var info = stat()
        guard stat(state, &info) == 0 else {
            if errno == EACCES {
                throw AutonousError(.permissionDenied, "permission denied on the state directory \(state): run as root")
            }
            throw AutonousError(
                .notFound,
                "the state directory \(state) does not exist (name it with --state-dir or AUTONOUS_STATE_DIR)")
        }
        guard info.st_mode & S_IFMT == S_IFDIR else {
            throw AutonousError(.invalidArgument, "the state directory \(state) is not a directory")
        }
        guard access(state + "/autonous.db", F_OK) == 0 else {
            throw AutonousError(
                .notFound, "\(state) holds no autonous.db: it is not autonous's state directory, or autonous never ran")
        }
    }

    private static func checkDestination(_ target: String) throws {
        var info = stat()
        if lstat(target, &info) == 0 {
            guard info.st_mode & S_IFMT == S_IFDIR else {
                throw AutonousError(.invalidArgument, "\(target) exists and is not a directory: name a new directory")
            }
            guard try TreeCopier.entries(target).isEmpty else {
                throw AutonousError(.invalidArgument, "\(target) exists and is not empty: name a new directory")
            }
        }
        let parent = URL(fileURLWithPath: target).deletingLastPathComponent().path
        guard access(parent, W_OK) == 0 else {
            throw AutonousError(.notFound, "cannot write into \(parent): it does not exist or is not writable")
        }
    }

    static func encodedReport(_ report: Report) throws -> Data {
        let encoder = JSONCoding.encoder
        encoder.outputFormatting.insert(.prettyPrinted)
        return try encoder.encode(report)
    }

    /// `path` made absolute against the working directory, without `.`, `..` or a trailing slash.
    static func absolute(_ path: String) -> String {
        URL(fileURLWithPath: path).standardizedFileURL.path
    }

    /// fsync of a directory, so a rename in it is on disk; best effort.
    static func syncDirectory(_ path: String) {
        let fd = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC)
        guard fd >= 0 else { return }
        _ = fsync(fd)
        close(fd)
    }
}

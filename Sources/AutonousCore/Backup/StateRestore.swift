import Foundation

#if canImport(Glibc)
import Glibc
#endif

/// Puts a backup made by `StateBackup` back as the state directory (`autonousctl restore PATH`), with the service
/// stopped: the caller checks that no supervisor answers on the control socket first.
///
/// The backup's `state/` is copied into `<state>.restoring` with its modes, owners and symlinks (so `worker/` and
/// `workspace/` stay the worker's uid), then renamed into place. A state directory that is there already and not
/// empty is never deleted: it is renamed to `<state>.before-restore-<UTC time>` first, and the result says where.
public enum StateRestore {
    /// What `run` did.
    public struct Outcome: Sendable, Equatable {
        /// The report of the backup that was restored.
        public var backup: StateBackup.Report
        /// Where the state directory that was there went, if there was one with something in it.
        public var movedAside: String?
        public var files: Int
        public var bytes: Int64
    }

    /// Restores the backup at `backup` as `stateDirectory`.
    ///
    /// - Throws: `AutonousError` naming the path: `.notFound` when `backup` is no backup (no `backup.json` or
    ///   `state/`), `.invalidArgument` when `<state>.restoring` exists (an interrupted restore), `.io` otherwise.
    ///   A failure before the final rename leaves the state directory as it was and removes `<state>.restoring`.
    public static func run(backup: String, stateDirectory: String, now: Date = Date()) throws -> Outcome {
        let root = StateBackup.absolute(backup)
        let state = StateBackup.absolute(stateDirectory)
        let reportPath = root + "/" + StateBackup.reportName
        guard let data = FileManager.default.contents(atPath: reportPath) else {
            throw AutonousError(.notFound, "\(root) is not an autonous backup: it has no \(StateBackup.reportName)")
        }
        let report: StateBackup.Report
        do {
            report = try JSONCoding.decoder.decode(StateBackup.Report.self, from: data)
        } catch {
            throw AutonousError(.invalidArgument, "\(reportPath) is not readable: \(JSONCoding.describe(error))")
        }
        let source = root + "/" + StateBackup.stateName
        var info = stat()
        guard stat(source, &info) == 0, info.st_mode & S_IFMT == S_IFDIR else {
            throw AutonousError(.notFound, "\(root) is not a whole backup: it has no \(StateBackup.stateName)/")
        }
        let staging = state + ".restoring"
        if access(staging, F_OK) == 0 {
            throw AutonousError(
                .invalidArgument, "\(staging) exists: an earlier restore was interrupted; remove it and restore again")
        }
        guard mkdir(staging, 0o700) == 0 else {
            throw AutonousError(.io, "cannot create \(staging)", cause: Errno(errno, "mkdir"))
        }
        let totals: TreeCopier.Totals
        do {
            totals = try TreeCopier { _, _ in .copy }.copy(from: source, to: staging)
            try TreeCopier.applyAttributes(of: info, to: staging)
        } catch {
            try? FileManager.default.removeItem(atPath: staging)
            throw error
        }
        let movedAside: String?
        do {
            movedAside = try moveAside(state, now: now)
        } catch {
            try? FileManager.default.removeItem(atPath: staging)
            throw error
        }
        guard rename(staging, state) == 0 else {
            throw AutonousError(.io, "cannot rename \(staging) to \(state)", cause: Errno(errno, "rename"))
        }
        StateBackup.syncDirectory(URL(fileURLWithPath: state).deletingLastPathComponent().path)
        return Outcome(backup: report, movedAside: movedAside, files: totals.files, bytes: totals.bytes)
    }

    /// Renames a state directory with content to `<state>.before-restore-<UTC time>`; removes an empty one.
    private static func moveAside(_ state: String, now: Date) throws -> String? {
        var info = stat()
        guard lstat(state, &info) == 0 else { return nil }
        if info.st_mode & S_IFMT == S_IFDIR, try TreeCopier.entries(state).isEmpty {
            guard rmdir(state) == 0 else {
                throw AutonousError(.io, "cannot remove the empty \(state)", cause: Errno(errno, "rmdir"))
            }
            return nil
        }
        let formatter = DateFormatter()
        formatter.locale = Locale(identifier: "en_US_POSIX")
        formatter.timeZone = TimeZone(identifier: "UTC")
        formatter.dateFormat = "yyyyMMdd'T'HHmmss'Z'"
        let aside = state + ".before-restore-" + formatter.string(from: now)
        guard rename(state, aside) == 0 else {
            throw AutonousError(.io, "cannot move \(state) aside to \(aside)", cause: Errno(errno, "rename"))
        }
        return aside
    }
}

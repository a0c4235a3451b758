import ArgumentParser
import AutonousCore
import Foundation

/// `autonousctl backup PATH`: a consistent copy of the state directory, taken while the service runs.
///
/// It runs here, in the operator's process, not in the supervisor: the service may write only its own directories
/// (`ProtectSystem=strict`, `User=autonous`) and so could not write PATH, while the operator (usually root) can read
/// the state directory and opens both databases read-only. It needs no running supervisor.
struct BackupCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "backup",
        abstract: "Copy the state directory consistently into a new directory, while autonous runs.",
        discussion: """
            Both databases are copied with SQLite's online backup API from a read-only open, each one read snapshot \
            that holds every transaction committed before it began; the copies must pass PRAGMA integrity_check. \
            The revisions, the workspace, the source repository and the update logs are copied with their modes \
            and owners; SQLite's -wal/-shm files, locks, sockets, build-cache/, .build/ and self-check/ are left \
            out. The backup is written into PATH.partial and renamed to PATH when it is whole. Run it as root.
            """)

    @Argument(help: "A new directory for the backup (an existing one must be empty).") var path: String
    @OptionGroup var state: StateDirectoryOptions
    @Flag(name: .long, help: "Print the backup's report as JSON.") var json = false

    func run() throws {
        let report: StateBackup.Report
        do {
            report = try StateBackup.run(stateDirectory: state.resolved, destination: path)
        } catch let error as AutonousError {
            printError("autonousctl: backup: \(error)")
            throw ExitCode(1)
        }
        if json {
            print(prettyJSON(report))
            return
        }
        let target = URL(fileURLWithPath: path).standardizedFileURL.path
        print("backed up \(report.stateDirectory) to \(target) in \(seconds(report.durationMs))")
        for database in report.databases {
            print("  \(database.path): \(byteCount(database.bytes)), integrity \(database.integrity)")
        }
        print("  \(report.files) other files: \(byteCount(report.bytes))")
        for skipped in report.skipped { print("  left out: \(skipped)") }
    }
}

/// `autonousctl restore PATH`: puts a backup back as the state directory, with the service stopped.
struct RestoreCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "restore",
        abstract: "Restore a backup as the state directory (stop autonous first).",
        discussion: """
            Refuses while a supervisor answers on the control socket. The backup is copied with its owners and \
            modes into STATE.restoring and renamed into place; a state directory that is there already is renamed \
            to STATE.before-restore-<time>, never deleted. Run it as root, then start autonous again.
            """)

    @Argument(help: "A directory made by 'autonousctl backup'.") var path: String
    @OptionGroup var state: StateDirectoryOptions
    @Option(name: .customLong("socket"), help: "The control socket (default: $AUTONOUS_RUNTIME_DIR/control.sock).")
    var socketPath: String?

    func run() throws {
        let socket = GlobalOptions.socketPath(socketPath)
        if let live = liveSupervisor(socket) {
            printError("autonousctl: restore: \(live)")
            throw ExitCode(1)
        }
        do {
            let outcome = try StateRestore.run(backup: path, stateDirectory: state.resolved)
            if let aside = outcome.movedAside { print("the state directory that was there is now \(aside)") }
            let taken = Date(timeIntervalSince1970: Double(outcome.backup.createdMs) / 1000)
            print(
                "restored \(state.resolved) from the backup of \(taken.formatted(.iso8601)): "
                    + "\(outcome.files) files, \(byteCount(outcome.bytes)); start autonous again")
        } catch let error as AutonousError {
            printError("autonousctl: restore: \(error)")
            throw ExitCode(1)
        }
    }

    /// Why a restore must not run now, or nil when no supervisor answers on `socket`.
    func liveSupervisor(_ socket: String) -> String? {
        do {
            let client = try VarlinkClient(path: socket)
            client.close()
            return "a supervisor is running (\(socket) answers): stop it first (systemctl stop autonous)"
        } catch let error as Errno where error.code == ENOENT || error.code == ECONNREFUSED {
            return nil
        } catch {
            return "cannot tell whether a supervisor is running (\(socket): \(error)): run as root"
        }
    }
}

/// Where the state directory is: `--state-dir`, else `AUTONOUS_STATE_DIR` from the environment, else from the
/// service's environment file (`$AUTONOUS_CONFIG_DIR/autonous.env`, default /etc/autonous), else /var/lib/autonous.
struct StateDirectoryOptions: ParsableArguments {
    @Option(
        name: .customLong("state-dir"),
        help:
            "The state directory (default: $AUTONOUS_STATE_DIR, else the one in autonous.env, else /var/lib/autonous).")
    var stateDirectory: String?

    var resolved: String {
        let environment = ProcessInfo.processInfo.environment
        if let stateDirectory { return URL(fileURLWithPath: stateDirectory).standardizedFileURL.path }
        if let value = environment["AUTONOUS_STATE_DIR"], !value.isEmpty { return value }
        let config = environment["AUTONOUS_CONFIG_DIR"].flatMap { $0.isEmpty ? nil : $0 } ?? "/etc/autonous"
        if let text = try? String(contentsOfFile: config + "/autonous.env", encoding: .utf8),
            let value = Self.value(of: "AUTONOUS_STATE_DIR", in: text)
        {
            return value
        }
        return "/var/lib/autonous"
    }

    /// The last value of `key` in an environment file as systemd reads one (`KEY=VALUE`, `#` comments, quotes).
    static func value(of key: String, in text: String) -> String? {
        var found: String?
        for line in text.split(separator: "\n") {
            let trimmed = line.trimmingCharacters(in: .whitespaces)
            guard trimmed.hasPrefix(key + "=") else { continue }
            var value = String(trimmed.dropFirst(key.count + 1)).trimmingCharacters(in: .whitespaces)
            if value.count >= 2, let first = value.first, first == "\"" || first == "'", value.last == first {
                value = String(value.dropFirst().dropLast())
            }
            found = value.isEmpty ? nil : value
        }
        return found
    }
}

/// `1.2 s`, `350 ms`.
private func seconds(_ milliseconds: Int64) -> String {
    milliseconds < 1000 ? "\(milliseconds) ms" : String(format: "%.1f s", Double(milliseconds) / 1000)
}

/// `812 B`, `3.4 MiB`.
private func byteCount(_ bytes: Int64) -> String {
    let units = ["B", "KiB", "MiB", "GiB", "TiB"]
    var value = Double(bytes)
    var unit = 0
    while value >= 1024 && unit < units.count - 1 {
        value /= 1024
        unit += 1
    }
    return unit == 0 ? "\(bytes) B" : String(format: "%.1f", value) + " " + units[unit]
}

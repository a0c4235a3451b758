import Foundation
import Logging

#if canImport(Glibc)
import Glibc
#endif

/// Bootstraps swift-log once per process: journald when started by systemd, else standard error.
public enum LoggingSetup {
    /// Chooses the destination and installs the handlers.
    ///
    /// `auto` uses journald when `$JOURNAL_STREAM` names this process's standard error (systemd connected it to the
    /// journal) and the native socket exists; otherwise standard error. A developer's terminal therefore keeps its
    /// log lines even on a host that runs journald.
    ///
    /// - Returns: the target actually used.
    @discardableResult
    public static func bootstrap(
        identifier: String, target: Configuration.LogTarget, level: Configuration.LogLevel,
        environment: [String: String] = ProcessInfo.processInfo.environment
    ) -> Configuration.LogTarget {
        let swiftLevel = Logger.Level(rawValue: level == .notice ? "notice" : level.rawValue) ?? .info
        let socketPath = environment["AUTONOUS_JOURNAL_SOCKET"] ?? JournaldLogHandler.defaultSocketPath
        if resolve(target, environment: environment) == .journal, let sink = JournaldSink(socketPath: socketPath) {
            LoggingSystem.bootstrap { label in
                JournaldLogHandler(label: label, identifier: identifier, level: swiftLevel, sink: sink)
            }
            return .journal
        }
        LoggingSystem.bootstrap { label in StderrLogHandler(label: label, level: swiftLevel) }
        return .stderr
    }

    /// What `target` means for this process: `auto` becomes `journal` when systemd connected standard error to the
    /// journal (`$JOURNAL_STREAM`) and the native socket exists, else `stderr`.
    public static func resolve(_ target: Configuration.LogTarget, environment: [String: String])
        -> Configuration.LogTarget
    {
        guard target == .auto else { return target }
        let socketPath = environment["AUTONOUS_JOURNAL_SOCKET"] ?? JournaldLogHandler.defaultSocketPath
        return stderrIsJournalStream(environment) && JournaldSink.isAvailable(socketPath) ? .journal : .stderr
    }

    /// True when `$JOURNAL_STREAM` (`device:inode`) matches standard error.
    static func stderrIsJournalStream(_ environment: [String: String]) -> Bool {
        guard let value = environment["JOURNAL_STREAM"] else { return false }
        let parts = value.split(separator: ":")
        guard parts.count == 2, let device = UInt64(parts[0]), let inode = UInt64(parts[1]) else { return false }
        var info = stat()
        guard fstat(2, &info) == 0 else { return false }
        return UInt64(info.st_dev) == device && UInt64(info.st_ino) == inode
    }
}

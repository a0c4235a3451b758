import CLinux
import Foundation

#if canImport(Glibc)
import Glibc
#endif

/// What every autonous daemon does first, in this order: reset the signal state it inherited, read and validate
/// the configuration (exit 78 naming the variable when it is wrong), start logging, register the secrets with the
/// redactor.
public enum DaemonStartup {
    /// Returns the validated configuration, or exits the process with EX_CONFIG.
    ///
    /// - Parameter identifier: the program name, used as SYSLOG_IDENTIFIER and in the error line.
    public static func begin(identifier: String, environment: [String: String]) -> Configuration {
        // Signals may arrive blocked from whoever started us (a thread that spawned us hands down its mask);
        // systemd resets them, other parents may not.
        cl_reset_signals()
        let configuration: Configuration
        do {
            configuration = try Configuration(environment: environment)
        } catch {
            FileHandle.standardError.write(Data("<3>\(identifier): \(error)\n".utf8))
            exit(ConfigurationError.exitCode)
        }
        LoggingSetup.bootstrap(identifier: identifier, target: configuration.logTarget, level: configuration.logLevel)
        Redactor.shared.register(configuration.telegramToken)
        Redactor.shared.register(configuration.openAIKey)
        return configuration
    }
}

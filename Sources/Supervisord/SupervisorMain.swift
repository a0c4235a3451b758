import AutonousCore
import CLinux
import Foundation
import Logging
import ServiceLifecycle

#if canImport(Glibc)
import Glibc
#endif

/// `autonous-supervisord`: validates the configuration, opens the database, binds control.sock and worker.sock,
/// runs the worker under watch, and tells systemd how it is doing.
@main
enum SupervisorMain {
    static func main() async {
        // Signals may arrive blocked from whoever started us; systemd resets them, other parents may not.
        cl_reset_signals()
        let arguments = CommandLine.arguments.dropFirst()
        if arguments.contains("--version") {
            print("autonous-supervisord \(AutonousVersion.current)")
            return
        }
        if let unknown = arguments.first {
            FileHandle.standardError.write(
                Data(
                    "autonous-supervisord: unknown argument '\(unknown)' (it takes only --version; configure it with AUTONOUS_* variables)\n"
                        .utf8))
            exit(64)
        }
        let environment = ProcessInfo.processInfo.environment
        let configuration: Configuration
        do {
            configuration = try Configuration(environment: environment)
        } catch let error as ConfigurationError {
            FileHandle.standardError.write(Data("<3>autonous-supervisord: \(error)\n".utf8))
            exit(ConfigurationError.exitCode)
        } catch {
            FileHandle.standardError.write(Data("<3>autonous-supervisord: \(error)\n".utf8))
            exit(ConfigurationError.exitCode)
        }
        LoggingSetup.bootstrap(
            identifier: "autonous-supervisord", target: configuration.logTarget, level: configuration.logLevel)
        Redactor.shared.register(configuration.telegramToken)
        Redactor.shared.register(configuration.openAIKey)
        let logger = Logger(label: "autonous.supervisord")
        do {
            try await Supervisor(configuration: configuration, environment: environment, logger: logger).run()
        } catch {
            logger.critical("supervisor failed", metadata: ["error": "\(error)"])
            exit(1)
        }
    }
}

import AutonousCore
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
        let arguments = CommandLine.arguments.dropFirst()
        if arguments.contains("--version") {
            print("autonous-supervisord \(AutonousVersion.current)")
            return
        }
        // The environment file's template, from the daemon that reads it: no configuration, socket or state needed.
        if arguments.contains("--print-env-example") {
            print(ConfigurationCatalog.environmentFileExample, terminator: "")
            return
        }
        if let unknown = arguments.first {
            FileHandle.standardError.write(
                Data(
                    "autonous-supervisord: unknown argument '\(unknown)' (it takes only --version and --print-env-example; configure it with AUTONOUS_* variables)\n"
                        .utf8))
            exit(64)
        }
        let environment = ProcessInfo.processInfo.environment
        let configuration = DaemonStartup.begin(identifier: "autonous-supervisord", environment: environment)
        let logger = Logger(label: "autonous.supervisord")
        do {
            try await Supervisor(configuration: configuration, environment: environment, logger: logger).run()
        } catch let error as ConfigurationError {
            // Found only once the state was opened (AUTONOUS_WORKER_BIN on the first start); said like any other.
            logger.critical("\(error)")
            exit(ConfigurationError.exitCode)
        } catch {
            logger.critical("supervisor failed", metadata: ["error": "\(error)"])
            exit(1)
        }
    }
}

import ArgumentParser
import AutonousCore
import Foundation

/// `autonousctl doctor`: what the sandbox needs from this host, what works, and what to do about the rest.
struct DoctorCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "doctor",
        abstract: "Check the kernel features the sandbox needs (user namespaces, seccomp, Landlock, cgroups).",
        discussion: "Runs 'autonous-sandbox --check' as this user. Exit status 1 when a required feature is missing.")

    @Option(help: "The launcher (default: $AUTONOUS_SANDBOX_BIN, else autonous-sandbox beside autonousctl).")
    var sandbox: String?

    @Flag(name: .long, help: "Print JSON instead of a table.")
    var json = false

    /// One line of `autonous-sandbox --check --json`.
    struct Finding: Codable, Equatable {
        var feature: String
        var available: Bool
        var required: Bool
        var detail: String
        var advice: String
    }

    func run() throws {
        let launcher =
            sandbox ?? ProcessInfo.processInfo.environment["AUTONOUS_SANDBOX_BIN"]
            ?? URL(fileURLWithPath: CommandLine.arguments[0]).resolvingSymlinksInPath().deletingLastPathComponent()
            .appendingPathComponent("autonous-sandbox").path
        guard FileManager.default.isExecutableFile(atPath: launcher) else {
            throw ValidationError("cannot find the sandbox launcher at \(launcher) (use --sandbox PATH)")
        }
        let process = Process()
        process.executableURL = URL(fileURLWithPath: launcher)
        process.arguments = ["--check", "--json"]
        let output = Pipe()
        process.standardOutput = output
        try process.run()
        let data = output.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        let findings: [Finding]
        do {
            findings = try JSONDecoder().decode([Finding].self, from: data)
        } catch {
            throw ValidationError("\(launcher) --check gave no readable answer: \(JSONCoding.describe(error))")
        }
        if json {
            let encoder = JSONCoding.encoder
            encoder.outputFormatting.insert(.prettyPrinted)
            print(String(decoding: try encoder.encode(findings), as: UTF8.self))
        } else {
            print("sandbox launcher: \(launcher)")
            for finding in findings {
                let mark = finding.available ? "ok     " : finding.required ? "MISSING" : "limited"
                print("\(mark)  \(finding.feature): \(finding.detail)")
                if !finding.advice.isEmpty { print("         -> \(finding.advice)") }
            }
        }
        if findings.contains(where: { !$0.available && $0.required }) {
            if !json { printError("autonousctl: the sandbox cannot run here; autonous will not start a worker") }
            throw ExitCode(1)
        }
    }
}

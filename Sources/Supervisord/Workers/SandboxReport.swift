import AutonousCore
import Foundation

/// What `autonous-sandbox --check --json` says about this host, read once at start for status and the log.
struct SandboxReport: Sendable {
    struct Finding: Codable, Sendable {
        var feature: String
        var available: Bool
        var required: Bool
        var detail: String
        var advice: String
    }

    let status: ControlInterface.SandboxStatus

    /// Runs the launcher's check; a launcher that cannot run is reported, never hidden.
    init(launcher: String, bestEffort: Bool) {
        let findings = Self.check(launcher)
        var problems: [String] = []
        guard let findings else {
            status = .init(
                launcher: launcher, limits: "unknown", problems: ["\(launcher) --check did not run; see the log"])
            return
        }
        for finding in findings where !finding.available {
            problems.append(
                "\(finding.feature): \(finding.detail)" + (finding.advice.isEmpty ? "" : "; \(finding.advice)"))
        }
        let cgroups = findings.first { $0.feature == "cgroups" }
        let limits: String
        if let cgroups, cgroups.available {
            limits = "cgroup (\(cgroups.detail.split(separator: ";").first ?? ""))"
        } else if bestEffort {
            limits = "rlimits only (AUTONOUS_SANDBOX_LIMITS=best-effort: no pids limit)"
        } else {
            limits = "none enforceable: the worker will not start until a cgroup is delegated"
        }
        status = .init(launcher: launcher, limits: limits, problems: problems)
    }

    private static func check(_ launcher: String) -> [Finding]? {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: launcher)
        process.arguments = ["--check", "--json"]
        process.environment = ["PATH": "/usr/bin:/bin"]
        let output = Pipe()
        process.standardOutput = output
        process.standardError = FileHandle.nullDevice
        do {
            try process.run()
        } catch {
            return nil
        }
        let data = output.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        return try? JSONDecoder().decode([Finding].self, from: data)
    }
}

import AutonousCore
import Foundation
import Subprocess
import SystemPackage

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

    /// Runs the launcher's check and reads its findings; a launcher that cannot run is reported, never hidden.
    ///
    /// The check runs with swift-subprocess: its exit is awaited (a pidfd), no thread of the pool blocks on it.
    static func make(launcher: String, bestEffort: Bool) async -> SandboxReport {
        SandboxReport(launcher: launcher, findings: await check(launcher), bestEffort: bestEffort)
    }

    /// The report of `findings` (nil: the check did not run).
    init(launcher: String, findings: [Finding]?, bestEffort: Bool) {
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

    /// The most the check may print; its JSON is a few kilobytes.
    static let outputLimit = 1 << 20

    /// `launcher --check --json`, decoded; nil when it cannot run or prints no findings.
    private static func check(_ launcher: String) async -> [Finding]? {
        do {
            let result = try await Subprocess.run(
                .path(FilePath(launcher)), arguments: ["--check", "--json"],
                environment: .custom(["PATH": "/usr/bin:/bin"]), input: .none, output: .data(limit: outputLimit),
                error: .discarded)
            return try JSONDecoder().decode([Finding].self, from: result.standardOutput)
        } catch {
            return nil
        }
    }
}

#if canImport(Glibc)
import Glibc
#endif

/// The kernel features the launcher requires, checked before any namespace is created: it refuses to run a
/// command rather than run it with less confinement than asked.
public enum FeatureCheck {
    /// One feature and whether it works.
    public struct Finding: Sendable, Equatable {
        public var feature: String
        public var available: Bool
        public var detail: String
    }

    /// What works here, for `--check` and `autonousctl doctor`.
    public static func findings(simulateMissing: String? = nil, includeCgroups: Bool = true) -> [Finding] {
        var findings: [Finding] = []
        let maxNamespaces = Posix.readFile("/proc/sys/user/max_user_namespaces").flatMap {
            Int($0.filter { !$0.isWhitespace })
        }
        let unprivilegedClone = Posix.readFile("/proc/sys/kernel/unprivileged_userns_clone").flatMap {
            Int($0.filter { !$0.isWhitespace })
        }
        let apparmor = Posix.readFile("/proc/sys/kernel/apparmor_restrict_unprivileged_userns").flatMap {
            Int($0.filter { !$0.isWhitespace })
        }
        var userNamespaces = (maxNamespaces ?? 1) > 0
        var detail = "user.max_user_namespaces=\(maxNamespaces.map(String.init) ?? "?")"
        if getuid() != 0 {
            if unprivilegedClone == 0 {
                userNamespaces = false
                detail += "; kernel.unprivileged_userns_clone=0 (set it to 1)"
            }
            if apparmor == 1 {
                detail += "; kernel.apparmor_restrict_unprivileged_userns=1 (needs an AppArmor profile allowing userns)"
            }
        }
        if simulateMissing == "user-namespaces" {
            userNamespaces = false
            detail = "simulated as missing"
        }
        findings.append(Finding(feature: "user namespaces", available: userNamespaces, detail: detail))
        var seccomp = SeccompFilter.isAvailable()
        var seccompDetail = seccomp ? "seccomp filters available" : "the kernel has no seccomp filter support"
        if simulateMissing == "seccomp" {
            seccomp = false
            seccompDetail = "simulated as missing"
        }
        findings.append(Finding(feature: "seccomp", available: seccomp, detail: seccompDetail))
        guard includeCgroups else { return findings }
        let cgroups = Cgroups.detect()
        findings.append(
            Finding(
                feature: "cgroups", available: cgroups.driver != "none",
                detail: "\(cgroups.driver): memory \(cgroups.memory), pids \(cgroups.pids), cpu \(cgroups.cpu); "
                    + cgroups.detail))
        return findings
    }

    /// Throws `SandboxError(.missingKernelFeature)` naming the first required feature that is missing.
    public static func requireAll(simulateMissing: String?) throws(SandboxError) {
        // Cgroups are checked by Cgroups.create against the limits actually asked for.
        for finding in findings(simulateMissing: simulateMissing, includeCgroups: false) where !finding.available {
            throw SandboxError(
                .missingKernelFeature,
                "\(finding.feature) are not available (\(finding.detail)); refusing to run the command unsandboxed")
        }
    }
}

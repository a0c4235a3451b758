import CLinux

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
        /// False for features the launcher can do without (it says what it falls back to).
        public var required = true
        /// What an operator can do about a missing feature.
        public var advice = ""

        /// One JSON object.
        public var json: String {
            "{\"feature\":\(SandboxProfile.quote(feature)),\"available\":\(available),\"required\":\(required),"
                + "\"detail\":\(SandboxProfile.quote(detail)),\"advice\":\(SandboxProfile.quote(advice))}"
        }
    }

    /// What works here, for `--check` and `autonousctl doctor`.
    public static func findings(simulateMissing: String? = nil) -> [Finding] {
        var findings = [userNamespaces(simulateMissing: simulateMissing), seccomp(simulateMissing: simulateMissing)]
        let userNotification = SeccompFilter.hasUserNotification()
        findings.append(
            Finding(
                feature: "seccomp user notification", available: userNotification,
                detail: userNotification ? "available (the network tier checks destinations)" : "unavailable",
                required: false,
                advice: userNotification
                    ? "" : "Linux 5.9 or later: without it the network tier refuses to run (other tiers are unaffected)"
            ))
        let landlock = cl_landlock_abi_version()
        findings.append(
            Finding(
                feature: "landlock", available: landlock > 0,
                detail: landlock > 0 ? "ABI \(landlock)" : "unavailable (errno \(-landlock))", required: false,
                advice: landlock > 0 ? "" : "optional: boot with lsm=...,landlock for an extra filesystem layer"))
        let cgroups = Cgroups.detect()
        let allControllers = cgroups.memory && cgroups.pids
        findings.append(
            Finding(
                feature: "cgroups", available: allControllers,
                detail: "\(cgroups.driver): memory \(cgroups.memory), pids \(cgroups.pids), cpu \(cgroups.cpu); "
                    + cgroups.detail,
                required: false,
                advice: allControllers
                    ? ""
                    : "memory and pids limits need a cgroup: run the service with systemd Delegate=yes (cgroup v2) "
                        + "or as root with cgroup v1; otherwise set AUTONOUS_SANDBOX_LIMITS=best-effort and accept "
                        + "rlimits (no pids limit)"))
        return findings
    }

    /// Whether this user may create user namespaces, and what stands in the way when not.
    static func userNamespaces(simulateMissing: String?) -> Finding {
        func sysctl(_ name: String) -> Int? {
            Posix.readFile("/proc/sys/" + name).flatMap { Int($0.filter { !$0.isWhitespace }) }
        }
        let maxNamespaces = sysctl("user/max_user_namespaces")
        var available = (maxNamespaces ?? 1) > 0
        var detail = "user.max_user_namespaces=\(maxNamespaces.map(String.init) ?? "?")"
        if getuid() != 0 {  // root is not subject to the distributions' unprivileged switches
            if sysctl("kernel/unprivileged_userns_clone") == 0 {
                available = false
                detail += "; kernel.unprivileged_userns_clone=0 (set it to 1)"
            }
            if sysctl("kernel/apparmor_restrict_unprivileged_userns") == 1 {
                detail += "; kernel.apparmor_restrict_unprivileged_userns=1 (needs an AppArmor profile allowing userns)"
            }
        }
        if simulateMissing == "user-namespaces" {
            available = false
            detail = "simulated as missing"
        }
        return Finding(
            feature: "user namespaces", available: available, detail: detail,
            advice: available
                ? ""
                : "enable them: sysctl -w user.max_user_namespaces=15000 kernel.unprivileged_userns_clone=1; on "
                    + "Ubuntu 24.04 also allow autonous-sandbox in AppArmor (an abi/4.0 profile with 'userns,')")
    }

    /// Whether seccomp filters with the actions the policies use work here.
    static func seccomp(simulateMissing: String?) -> Finding {
        var available = SeccompFilter.isAvailable()
        var detail = available ? "seccomp filters available" : "the kernel has no seccomp filter support"
        if simulateMissing == "seccomp" {
            available = false
            detail = "simulated as missing"
        }
        return Finding(
            feature: "seccomp", available: available, detail: detail,
            advice: available ? "" : "use a kernel built with CONFIG_SECCOMP_FILTER (every distribution kernel is)")
    }

    /// Throws `SandboxError(.missingKernelFeature)` naming the first required feature that is missing.
    ///
    /// Only the required features are looked at (every launch runs this before its clone); cgroups are checked by
    /// Cgroups.create against the limits actually asked for.
    public static func requireAll(simulateMissing: String?) throws(SandboxError) {
        for finding in [userNamespaces(simulateMissing: simulateMissing), seccomp(simulateMissing: simulateMissing)]
        where !finding.available {
            throw SandboxError(
                .missingKernelFeature,
                "\(finding.feature) are not available (\(finding.detail)); refusing to run the command unsandboxed")
        }
    }
}

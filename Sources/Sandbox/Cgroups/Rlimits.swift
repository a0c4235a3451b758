#if canImport(Glibc)
import Glibc
#endif

/// The setrlimit part of a sandbox's limits, and the fallbacks for what a cgroup could not enforce.
///
/// Not a pids fallback: RLIMIT_NPROC counts every process of the *host* uid (in all sandboxes and outside them, since
/// a user namespace maps the sandbox to one host uid), not the processes of this sandbox. Set low it breaks unrelated
/// sandboxes of the same uid; set high it stops nothing. So a pids limit without a cgroup is reported as not enforced
/// instead of being approximated with RLIMIT_NPROC.
public enum Rlimits {
    /// Applies the rlimit parts of `limits` (and RLIMIT_CORE 0 always) to the calling process; the launcher calls it
    /// in the target just before exec (rlimits survive execve and are inherited by the target's children).
    ///
    /// - RLIMIT_CORE 0: no core dumps (they could leak the sandbox's memory to the host's core pattern).
    /// - `cpuSeconds`: RLIMIT_CPU soft = value (SIGXCPU), hard = value + 1 (SIGKILL).
    /// - `openFiles`: RLIMIT_NOFILE soft = hard = value. `fileSizeBytes`: RLIMIT_FSIZE soft = hard = value.
    /// - `memoryFallback`: when the cgroup could not enforce memory and bestEffort is set, also RLIMIT_AS =
    ///   `memoryBytes` (see `ResourceLimits.needsMemoryFallback`). This bounds address space, not resident memory:
    ///   allocations fail with ENOMEM instead of an OOM kill, and large reservations (some runtimes map gigabytes
    ///   up front) fail too, so it is a best effort only.
    ///
    /// A value above the current hard limit is clamped to it: an unprivileged process cannot raise a hard limit,
    /// and a lower limit is still a bound. Throws `.invalidProfile` for out-of-range values and `.setupFailed` naming
    /// the resource when setrlimit fails.
    public static func apply(_ limits: ResourceLimits, memoryFallback: Bool) throws(SandboxError) {
        try limits.validate()
        try set(RLIMIT_CORE, "RLIMIT_CORE", soft: 0, hard: 0)
        if let seconds = limits.cpuSeconds {
            try set(RLIMIT_CPU, "RLIMIT_CPU", soft: rlim_t(seconds), hard: rlim_t(seconds) + 1)
        }
        if let files = limits.openFiles {
            try set(RLIMIT_NOFILE, "RLIMIT_NOFILE", soft: rlim_t(files), hard: rlim_t(files))
        }
        if let bytes = limits.fileSizeBytes {
            try set(RLIMIT_FSIZE, "RLIMIT_FSIZE", soft: rlim_t(bytes), hard: rlim_t(bytes))
        }
        if memoryFallback, let bytes = limits.memoryBytes {
            try set(RLIMIT_AS, "RLIMIT_AS", soft: rlim_t(bytes), hard: rlim_t(bytes))
        }
    }

    /// Reads the current limits, clamps the new ones to the current hard limit, and sets them.
    private static func set(
        _ resource: __rlimit_resource,
        _ name: String,
        soft: rlim_t,
        hard: rlim_t
    ) throws(SandboxError) {
        let id = __rlimit_resource_t(resource.rawValue)
        var current = rlimit()
        try sandboxCall("getrlimit(\(name))") { getrlimit(id, &current) }
        let newHard = min(hard, current.rlim_max)
        var wanted = rlimit(rlim_cur: min(soft, newHard), rlim_max: newHard)
        try sandboxCall("setrlimit(\(name), soft \(wanted.rlim_cur), hard \(wanted.rlim_max))") {
            setrlimit(id, &wanted)
        }
    }
}

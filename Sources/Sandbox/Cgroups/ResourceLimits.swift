#if canImport(Glibc)
import Glibc
#endif

/// The resource limits one sandbox profile asks for; `nil` means "no limit of that kind".
///
/// Memory, pids and the CPU quota need a cgroup (`Cgroups.create`); CPU seconds, open files and file size are
/// rlimits the launcher sets in the target just before exec (`Rlimits.apply`).
public struct ResourceLimits: Sendable, Equatable {
    /// Memory ceiling in bytes: cgroup v2 `memory.max` (swap off), v1 `memory.limit_in_bytes` (and
    /// `memory.memsw.limit_in_bytes` where swap accounting exists). Past it the kernel OOM-kills inside the sandbox.
    public var memoryBytes: UInt64?
    /// Maximum number of tasks in the sandbox: cgroup `pids.max`. Fork fails with EAGAIN past it.
    public var pids: Int?
    /// CPU bandwidth in percent of one core (100 = one core, 250 = two and a half): v2 `cpu.max`,
    /// v1 `cpu.cfs_quota_us` with a 100 ms period.
    public var cpuQuotaPercent: Int?
    /// CPU time in seconds: RLIMIT_CPU, soft = value (SIGXCPU), hard = value + 1 (SIGKILL).
    public var cpuSeconds: Int?
    /// Maximum number of open descriptors: RLIMIT_NOFILE (soft = hard = value).
    public var openFiles: Int?
    /// Largest file the target may write, in bytes: RLIMIT_FSIZE (writes past it fail with EFBIG and raise SIGXFSZ).
    public var fileSizeBytes: UInt64?
    /// When true, a limit no driver can enforce is applied as well as possible (rlimit fallback for memory, none for
    /// pids) and reported; when false, it is an error (`SandboxError(.limitUnavailable, …)`).
    public var bestEffort: Bool

    /// Creates a set of limits; every limit defaults to "none" and `bestEffort` to false (fail closed).
    public init(
        memoryBytes: UInt64? = nil,
        pids: Int? = nil,
        cpuQuotaPercent: Int? = nil,
        cpuSeconds: Int? = nil,
        openFiles: Int? = nil,
        fileSizeBytes: UInt64? = nil,
        bestEffort: Bool = false
    ) {
        self.memoryBytes = memoryBytes
        self.pids = pids
        self.cpuQuotaPercent = cpuQuotaPercent
        self.cpuSeconds = cpuSeconds
        self.openFiles = openFiles
        self.fileSizeBytes = fileSizeBytes
        self.bestEffort = bestEffort
    }

    /// True when at least one limit needs a cgroup (memory, pids or a CPU quota).
    public var needsCgroup: Bool {
        !cgroupControllers.isEmpty
    }

    /// Whether `Rlimits.apply` must also set RLIMIT_AS: memory was asked for, best effort is allowed, and `cgroup`
    /// (the result of `Cgroups.create`) does not enforce it. Without best effort `Cgroups.create` has already thrown.
    public func needsMemoryFallback(cgroup: SandboxCgroup?) -> Bool {
        guard memoryBytes != nil, bestEffort else { return false }
        return cgroup?.enforcesMemory != true
    }

    /// Checks every value is in range; throws `SandboxError(.invalidProfile)` naming the limit otherwise.
    public func validate() throws(SandboxError) {
        if let memoryBytes, memoryBytes < Self.minimumMemoryBytes {
            throw SandboxError(
                .invalidProfile,
                "memory limit \(memoryBytes) bytes is below the minimum of \(Self.minimumMemoryBytes) bytes (1 MiB)"
            )
        }
        if let pids, pids < 1 || pids > Self.maximumPids {
            throw SandboxError(.invalidProfile, "pids limit \(pids) is out of range 1...\(Self.maximumPids)")
        }
        if let cpuQuotaPercent, cpuQuotaPercent < 1 || cpuQuotaPercent > Self.maximumCPUPercent {
            throw SandboxError(
                .invalidProfile,
                "cpu quota \(cpuQuotaPercent)% is out of range 1...\(Self.maximumCPUPercent) (100 = one core)"
            )
        }
        if let cpuSeconds, cpuSeconds < 1 {
            throw SandboxError(.invalidProfile, "cpu time limit \(cpuSeconds) s must be at least 1 second")
        }
        if let openFiles, openFiles < 1 {
            throw SandboxError(.invalidProfile, "open files limit \(openFiles) must be at least 1")
        }
    }

    /// The cgroup controllers the requested limits need, in a fixed order (memory, pids, cpu).
    var cgroupControllers: [CgroupController] {
        var result: [CgroupController] = []
        if memoryBytes != nil { result.append(.memory) }
        if pids != nil { result.append(.pids) }
        if cpuQuotaPercent != nil { result.append(.cpu) }
        return result
    }

    /// A short human description of the value asked for `controller` ("32 MiB", "20 tasks", "50% of a core").
    func describe(_ controller: CgroupController) -> String {
        switch controller {
        case .memory:
            guard let memoryBytes else { return "none" }
            return memoryBytes % (1 << 20) == 0 ? "\(memoryBytes >> 20) MiB" : "\(memoryBytes) bytes"
        case .pids:
            return pids.map { "\($0) tasks" } ?? "none"
        case .cpu:
            return cpuQuotaPercent.map { "\($0)% of a core" } ?? "none"
        }
    }

    /// What happens to a limit that cannot be enforced under best effort (for summaries).
    func fallbackText(_ controller: CgroupController) -> String {
        switch controller {
        case .memory: "memory \(describe(.memory)) not enforced by a cgroup: RLIMIT_AS fallback (address space)"
        case .pids: "pids \(describe(.pids)) NOT enforced (RLIMIT_NPROC counts per host uid and is no substitute)"
        case .cpu: "cpu quota \(describe(.cpu)) NOT enforced (cpuSeconds bounds CPU time if set)"
        }
    }

    /// The `.limitUnavailable` error for `missing`: which limits, why (`caps.detail`), and what to do.
    func unavailableError(_ missing: [CgroupController], caps: CgroupCapabilities) -> SandboxError {
        let which = missing.map { "\($0.rawValue) limit (\(describe($0)))" }.joined(separator: " and ")
        return SandboxError(
            .limitUnavailable,
            "\(which) cannot be enforced: \(caps.detail). Run autonous-sandbox as root on a host with the cgroup "
                + "controller, give the service a delegated cgroup v2 subtree (systemd Delegate=yes, its processes in "
                + "<service>/\(CgroupV2Driver.supervisorLeaf)), or set bestEffort in the profile (memory then falls "
                + "back to RLIMIT_AS; pids and the cpu quota are then not enforced)"
        )
    }

    /// Lower bound for `memoryBytes`: below 1 MiB not even the dynamic loader of the target fits.
    static let minimumMemoryBytes: UInt64 = 1 << 20
    /// Upper bound for `pids` (the kernel's PID_MAX_LIMIT).
    static let maximumPids = 4 * 1024 * 1024
    /// Upper bound for `cpuQuotaPercent` (1024 cores).
    static let maximumCPUPercent = 100 * 1024
}

/// What this host can enforce with cgroups for a process running as the current user.
public struct CgroupCapabilities: Sendable, Equatable {
    /// The driver that would be used: "v2", "v1" or "none".
    public var driver: String
    /// Whether a memory limit can be enforced.
    public var memory: Bool
    /// Whether a pids limit can be enforced.
    public var pids: Bool
    /// Whether a CPU quota can be enforced.
    public var cpu: Bool
    /// One human sentence saying what is available where, or why not (for `autonousctl doctor`).
    public var detail: String

    /// Creates a capability report.
    public init(driver: String, memory: Bool, pids: Bool, cpu: Bool, detail: String) {
        self.driver = driver
        self.memory = memory
        self.pids = pids
        self.cpu = cpu
        self.detail = detail
    }

    /// Whether `controller` can be enforced.
    func has(_ controller: CgroupController) -> Bool {
        switch controller {
        case .memory: memory
        case .pids: pids
        case .cpu: cpu
        }
    }

    /// How many of the three controllers are usable.
    var count: Int { CgroupController.allCases.filter { has($0) }.count }
}

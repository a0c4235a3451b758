import CCap

#if canImport(Glibc)
import Glibc
#endif

/// The named profiles, defined in one place: the launcher's `--profile NAME`, the worker's tool runner and the
/// supervisor all build from here.
public enum NamedProfile: String, Sendable, CaseIterable {
    /// Read tier: the workspace read-only, no network.
    case read
    /// Write tier: the workspace read-write, no network.
    case write
    /// Exec tier (bash): the workspace read-write, no network.
    case exec
    /// Network tier: exec plus the host network for the allowed destinations.
    case network
    /// The update pipeline's build: the source tree read-write, no network, larger limits.
    case build
    /// A worker revision: network on, its state and workspace, the worker socket.
    case worker

    /// The default environment inside: nothing is inherited, so no secret can leak in.
    public static let baseEnvironment = ["PATH": "/usr/local/bin:/usr/bin:/bin", "HOME": "/tmp", "LANG": "C.UTF-8"]

    /// The profile with its defaults; options from the command line are applied on top by the caller.
    public func profile(
        callerUID: UInt32 = getuid(), callerGID: UInt32 = getgid(), mayMapOtherIDs: Bool = hasSetUIDCapability()
    ) -> SandboxProfile {
        // Sandbox root maps to an unprivileged host user: nobody when the caller is real root, else the caller
        // itself (a caller without CAP_SETUID, such as root inside another sandbox, may only map its own ids).
        let privileged = callerUID == 0 && mayMapOtherIDs
        let hostUID: UInt32 = privileged ? 65534 : callerUID
        let hostGID: UInt32 = privileged ? 65534 : callerGID
        // Mapping uid 0 into a new user namespace needs CAP_SETFCAP where the mapping is written (Linux 5.12+),
        // which a caller inside another sandbox (the worker starting a tool) lacks: it keeps its own ids inside,
        // as bubblewrap does by default. The worker itself runs as uid 1000 inside so its tools can do this.
        var profile = SandboxProfile(
            name: rawValue, workspace: nil, workspaceWritable: self != .read, binds: [], network: .none,
            hostUID: hostUID, hostGID: hostGID, environment: Self.baseEnvironment, workingDirectory: nil,
            limits: ResourceLimits(
                memoryBytes: 1 << 30, pids: 256, cpuQuotaPercent: nil, cpuSeconds: nil, openFiles: 1024,
                fileSizeBytes: nil, bestEffort: false),
            wallClockSeconds: nil, protectedPaths: [".git/config", ".git/hooks", ".autonous"],
            hostname: "autonous-sandbox", tmpSizeBytes: 256 << 20)
        if isNestedUserNamespace() && !hasCapability(bit: 31) {
            profile.insideUID = callerUID
            profile.insideGID = callerGID
        }
        switch self {
        case .read, .write, .exec:
            break
        case .network:
            profile.network = .host(allow: [])
        case .build:
            profile.limits.memoryBytes = 8 << 30
            profile.limits.pids = 2048
            profile.tmpSizeBytes = 2 << 30
        case .worker:
            profile.network = .unrestricted
            profile.delegatesCgroup = true
            profile.limits.memoryBytes = 2 << 30
            profile.limits.pids = 1024
            profile.protectedPaths = []
            profile.maskProc = false
            if profile.insideUID == 0 {
                profile.insideUID = 1000
                profile.insideGID = 1000
            }
        }
        return profile
    }
}

/// True when the calling process has CAP_SETUID (7) in its effective set.
public func hasSetUIDCapability() -> Bool {
    hasCapability(bit: 7)
}

/// True when the calling process runs in a user namespace other than the initial one (its uid_map is not the
/// identity map of all ids).
public func isNestedUserNamespace() -> Bool {
    guard let map = Posix.readFile("/proc/self/uid_map") else { return false }
    let fields = map.split(whereSeparator: { $0 == " " || $0 == "\n" })
    return fields != ["0", "0", "4294967295"]
}

/// True when the effective capability set has `bit` (CAP_SETFCAP is 31): capget through libcap, which is far cheaper
/// than reading /proc/self/status on every launch.
public func hasCapability(bit: Int) -> Bool {
    guard let caps = cap_get_proc() else { return false }
    defer { cap_free(UnsafeMutableRawPointer(caps)) }
    var value = CAP_CLEAR
    guard cap_get_flag(caps, cap_value_t(bit), CAP_EFFECTIVE, &value) == 0 else { return false }
    return value == CAP_SET
}

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
    public func profile(callerUID: UInt32 = getuid(), callerGID: UInt32 = getgid()) -> SandboxProfile {
        // Sandbox root maps to an unprivileged host user: the caller itself, or nobody when the caller is root.
        let hostUID: UInt32 = callerUID == 0 ? 65534 : callerUID
        let hostGID: UInt32 = callerUID == 0 ? 65534 : callerGID
        var profile = SandboxProfile(
            name: rawValue, workspace: nil, workspaceWritable: self != .read, binds: [], network: .none,
            hostUID: hostUID, hostGID: hostGID, environment: Self.baseEnvironment, workingDirectory: nil,
            limits: ResourceLimits(
                memoryBytes: 1 << 30, pids: 256, cpuQuotaPercent: nil, cpuSeconds: nil, openFiles: 1024,
                fileSizeBytes: nil, bestEffort: false),
            wallClockSeconds: nil, protectedPaths: [".git/config", ".git/hooks", ".autonous"],
            hostname: "autonous-sandbox", tmpSizeBytes: 256 << 20)
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
            profile.network = .host(allow: ["*:443", "*:80"])
            profile.limits.memoryBytes = 2 << 30
            profile.limits.pids = 1024
            profile.protectedPaths = []
        }
        return profile
    }
}

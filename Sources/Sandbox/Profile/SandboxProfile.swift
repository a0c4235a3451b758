#if canImport(Glibc)
import Glibc
#endif

/// Everything the launcher needs to confine one command: namespaces, filesystem, identity, environment, limits,
/// seccomp and process rules. Built from a named profile plus command-line options, then validated before any
/// namespace is created.
public struct SandboxProfile: Sendable, Equatable {
    /// A bind mount of a host path at the same path inside the sandbox.
    public struct Bind: Sendable, Equatable {
        public var path: String
        public var writable: Bool
        /// A missing source is skipped instead of failing (host files that only some distributions have).
        public var optional: Bool
        /// Where it appears inside; nil for the same path as on the host. Another path keeps the host's directory
        /// layout out of the sandbox (the worker's binary, without the artifacts directory it lives in).
        public var target: String?

        public init(path: String, writable: Bool, optional: Bool = false, target: String? = nil) {
            self.path = path
            self.writable = writable
            self.optional = optional
            self.target = target
        }
    }

    /// Network access.
    public enum Network: Sendable, Equatable {
        /// A new network namespace with only a loopback interface, and seccomp allows only AF_UNIX sockets.
        case none
        /// The host's network, limited to these `HOST:PORT` destinations (`NetworkAllowlist`): pid 1 checks every
        /// connect(2) of the command (seccomp user notification) and makes the allowed ones on its behalf; UDP and
        /// listening inet sockets are refused. An empty list means no network at all, as `.none`.
        case host(allow: [String])
        /// The host's network without a destination check: only the worker, whose own HTTP clients reach the
        /// configured Telegram and model endpoints. Its tools run in nested sandboxes with their own network rules.
        case unrestricted
    }

    /// A bind mount of a host path at another path inside (delegated cgroup directories).
    public struct Mount: Sendable, Equatable {
        public var source: String
        public var target: String

        public init(source: String, target: String) {
            self.source = source
            self.target = target
        }
    }

    public var name: String
    public var workspace: String?
    public var workspaceWritable: Bool
    public var binds: [Bind]
    public var network: Network
    /// Host uid and gid that uid 0 and gid 0 inside map to.
    public var hostUID: UInt32
    public var hostGID: UInt32
    /// The uid and gid the command has inside (0 unless the caller cannot map root: see `NamedProfile.profile`).
    public var insideUID: UInt32 = 0
    public var insideGID: UInt32 = 0
    /// Make /proc/sys and friends read-only and mask /proc/kcore and friends. Off only for the worker: the kernel
    /// refuses a fresh procfs in a nested sandbox while anything covers parts of the parent's /proc
    /// (mnt_too_revealing), and inside a user namespace those files are not writable anyway.
    public var maskProc = true
    public var environment: [String: String]
    public var workingDirectory: String?
    public var limits: ResourceLimits
    public var wallClockSeconds: Int?
    /// Paths under the workspace that stay read-only even when the workspace is writable.
    public var protectedPaths: [String]
    public var hostname: String
    /// Whether the sandbox gets its own cgroup to make sub-cgroups in (the worker, for its tools' sandboxes).
    public var delegatesCgroup = false
    /// Host directories bound at other paths inside; filled by the launcher (delegated cgroups), not by options.
    public var mounts: [Mount] = []
    /// Size of the writable /tmp inside, in bytes.
    public var tmpSizeBytes: UInt64

    /// The directories of the host's root filesystem the programs inside need (read-only).
    public static let systemDirectories = ["/usr", "/bin", "/sbin", "/lib", "/lib32", "/lib64", "/libx32"]

    /// Host files of /etc every profile sees (read-only); missing ones are skipped.
    public static let etcFiles = [
        "/etc/hosts", "/etc/host.conf", "/etc/nsswitch.conf", "/etc/ld.so.cache", "/etc/ld.so.conf",
        "/etc/ld.so.conf.d", "/etc/alternatives", "/etc/localtime", "/etc/mime.types", "/etc/python3.11",
    ]

    /// Host files of /etc only the network profiles see.
    public static let networkEtcFiles = ["/etc/resolv.conf", "/etc/ssl", "/etc/ca-certificates", "/etc/gai.conf"]

    /// Checks the profile before anything is created.
    ///
    /// - Throws: `SandboxError(.invalidProfile)` naming the first problem.
    public func validate() throws(SandboxError) {
        func absolute(_ path: String, _ what: String) throws(SandboxError) {
            guard path.hasPrefix("/") else {
                throw SandboxError(.invalidProfile, "\(what) must be an absolute path, got '\(path)'")
            }
            guard !path.split(separator: "/").contains(where: { $0 == ".." || $0 == "." }) else {
                throw SandboxError(.invalidProfile, "\(what) must not contain '.' or '..' components: '\(path)'")
            }
        }
        if let workspace {
            try absolute(workspace, "the workspace")
            var info = stat()
            guard stat(workspace, &info) == 0 else {
                throw SandboxError(.invalidProfile, "the workspace \(workspace) does not exist", errno: Glibc.errno)
            }
            guard info.st_mode & S_IFMT == S_IFDIR else {
                throw SandboxError(.invalidProfile, "the workspace \(workspace) is not a directory")
            }
            guard workspace != "/" else { throw SandboxError(.invalidProfile, "the workspace cannot be /") }
        } else if ["read", "write", "exec", "network"].contains(name) {
            throw SandboxError(.invalidProfile, "the \(name) profile needs a workspace (--workspace DIR)")
        }
        for bind in binds {
            try absolute(bind.path, "the bind")
            if let target = bind.target { try absolute(target, "the bind's target") }
        }
        if let workingDirectory { try absolute(workingDirectory, "the working directory") }
        for key in environment.keys where key.isEmpty || key.contains("=") {
            throw SandboxError(.invalidProfile, "environment variable name '\(key)' is invalid")
        }
        if let seconds = wallClockSeconds, seconds <= 0 {
            throw SandboxError(.invalidProfile, "the wall-clock limit must be positive")
        }
        _ = try allowlist
    }

    /// The parsed destinations of a `.host` network (nil for the others).
    ///
    /// - Throws: `SandboxError(.invalidProfile)` naming an entry that is not `HOST:PORT`.
    public var allowlist: NetworkAllowlist? {
        get throws(SandboxError) {
            guard case .host(let allow) = network, !allow.isEmpty else { return nil }
            return try NetworkAllowlist(parsing: allow)
        }
    }

    /// The seccomp policy for this profile's command.
    public var seccompPolicy: SeccompPolicy {
        if name == NamedProfile.worker.rawValue { return .worker }
        switch network {
        case .none: return .noNetwork
        case .host(let allow): return allow.isEmpty ? .noNetwork : .mediatedNetwork
        case .unrestricted: return .network
        }
    }

    /// True when the command gets the host's network.
    public var hasNetwork: Bool {
        switch network {
        case .none: false
        case .host(let allow): !allow.isEmpty
        case .unrestricted: true
        }
    }

    /// True when pid 1 checks the command's connections against the allowlist.
    public var mediatesNetwork: Bool {
        if case .host(let allow) = network { return !allow.isEmpty }
        return false
    }
}

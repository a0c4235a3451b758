import CLinux

#if canImport(Glibc)
import Glibc
#endif

/// Moves a systemd service's main process into `<service cgroup>/supervisor` when systemd delegated the service's
/// cgroup to it (`Delegate=yes`), before it starts any child.
///
/// The cgroup v2 "no internal processes" rule lets the service cgroup S enable memory and pids for the sandbox leaves
/// (`CgroupV2Driver`) only while S holds no process itself, and systemd starts the main process in S. systemd 254's
/// `DelegateSubgroup=supervisor` does this move before exec; older systemd (Debian 12 has 252) leaves it to the
/// service. Nothing moves unless systemd started the process (`$INVOCATION_ID`) in a `.service` cgroup of a cgroup2
/// hierarchy and the cgroup is delegated: writable by a non-root service user, or, for root (who may write any
/// cgroup), marked by systemd's `trusted.delegate`/`user.delegate` extended attribute.
public enum ServiceCgroupLeaf {
    /// What `enter` did.
    public enum Outcome: Equatable, Sendable {
        /// Moved into this cgroup directory.
        case moved(String)
        /// Already in the leaf (systemd's DelegateSubgroup=, or no need).
        case alreadyInside(String)
        /// Left where it was, and why.
        case notMoved(String)
        /// The move was due but failed, and why (the sandbox's limits will then say cgroups are unavailable).
        case failed(String)
    }

    /// Whether to move, decided from the facts `enter` gathers.
    enum Decision: Equatable {
        /// Move into this leaf directory.
        case move(String)
        /// Stay, with this outcome.
        case stay(Outcome)
    }

    /// The leaf to move into, or the outcome when there is none, from the facts `enter` gathers.
    ///
    /// - Parameters:
    ///   - ownCgroups: the text of /proc/self/cgroup.
    ///   - mounts: the cgroup mounts of this mount namespace.
    ///   - startedBySystemd: whether `$INVOCATION_ID` is set.
    ///   - isDelegated: whether a cgroup directory was delegated to this process.
    static func leaf(
        ownCgroups: String, mounts: [CgroupMount], startedBySystemd: Bool, isDelegated: (String) -> Bool
    ) -> Decision {
        guard startedBySystemd else { return .stay(.notMoved("not started by systemd ($INVOCATION_ID unset)")) }
        guard
            let mount = CgroupV2Driver.mountPoints.first(where: { point in
                mounts.contains { $0.type == "cgroup2" && $0.point == point }
            })
        else { return .stay(.notMoved("no cgroup2 hierarchy")) }
        guard let own = CgroupV2Driver.ownCgroupPath(in: ownCgroups) else {
            return .stay(.notMoved("/proc/self/cgroup has no 0:: line"))
        }
        let name = CgroupV2Driver.lastComponent(own)
        if name == CgroupV2Driver.supervisorLeaf { return .stay(.alreadyInside(mount + own)) }
        guard name.hasSuffix(".service") else { return .stay(.notMoved("\(own) is not a service's cgroup")) }
        let directory = mount + own
        guard isDelegated(directory) else {
            return .stay(.notMoved("\(directory) is not delegated to this process (Delegate=yes)"))
        }
        return .move(directory + "/" + CgroupV2Driver.supervisorLeaf)
    }

    /// Moves this process (every thread) into the supervisor leaf of its delegated service cgroup, when there is one.
    ///
    /// Call it first thing, before any child process exists: children stay where they were started.
    public static func enter(environment: [String: String]) -> Outcome {
        let target = leaf(
            ownCgroups: CgroupFile.ownCgroups(), mounts: CgroupFile.mounts(),
            startedBySystemd: environment["INVOCATION_ID"].map { !$0.isEmpty } ?? false,
            isDelegated: isDelegated)
        switch target {
        case .stay(let outcome): return outcome
        case .move(let leaf):
            let made = CgroupFile.makeDirectory(leaf)
            guard made == 0 || made == EEXIST else {
                return .failed("cannot create \(leaf): \(String(cString: strerror(made)))")
            }
            let moved = CgroupFile.write(leaf + "/cgroup.procs", "\(getpid())\n")
            guard moved == 0 else {
                return .failed("cannot move pid \(getpid()) into \(leaf): \(String(cString: strerror(moved)))")
            }
            return .moved(leaf)
        }
    }

    /// Whether systemd delegated `directory`: a service user can write it and its `cgroup.procs` and
    /// `cgroup.subtree_control` only then; root can write any, so for root systemd's delegate mark decides.
    static func isDelegated(_ directory: String) -> Bool {
        guard geteuid() == 0 else {
            return ["", "/cgroup.procs", "/cgroup.subtree_control"].allSatisfy {
                CgroupFile.writeAccessError(directory + $0) == 0
            }
        }
        return ["trusted.delegate", "user.delegate"].contains { attribute in
            var value = [UInt8](repeating: 0, count: 8)
            let count = cl_getxattr(directory, attribute, &value, value.count)
            return count > 0 && value[0] == UInt8(ascii: "1")
        }
    }
}

import CCap
import CLinux

#if canImport(Glibc)
import Glibc
#endif

/// Drops every capability and sets no_new_privs: the last identity steps before the seccomp filter and execve.
///
/// The target runs as uid 0 of the sandbox's user namespace. With empty bounding, ambient and inheritable sets an
/// execve cannot give it any capability back (root's "all file capabilities" are masked by the bounding set), and
/// no_new_privs stops setuid bits and file capabilities from raising anything either.
public enum Capabilities {
    /// Drops every capability set and verifies by reading them back.
    ///
    /// In this order: the bounding set (PR_CAPBSET_DROP for every capability the kernel knows that is still in
    /// it), which needs CAP_SETPCAP and so comes while the effective set still has it; the ambient set
    /// (PR_CAP_AMBIENT_CLEAR_ALL); then effective, permitted and inheritable together (libcap cap_init() +
    /// cap_set_proc). Call it as uid 0 of the sandbox's own user namespace, where the launcher holds CAP_SETPCAP; an
    /// unprivileged process outside one cannot shrink its bounding set.
    ///
    /// Only prctl and capget, no procfs: this runs on every launch's critical path, and generating
    /// /proc/self/status costs more than a hundred of these calls.
    ///
    /// - Throws: `SandboxError(.setupFailed)` naming the step that failed or the set that is still not empty.
    public static func dropAll() throws(SandboxError) {
        let lastCap = try dropBoundingSet()
        let ambient = cl_cap_ambient_clear_all()
        if ambient < 0 { throw SandboxError(.setupFailed, "PR_CAP_AMBIENT_CLEAR_ALL", errno: -ambient) }
        guard let empty = cap_init() else { throw SandboxError(.setupFailed, "cap_init", errno: errno) }
        defer { cap_free(UnsafeMutableRawPointer(empty)) }
        try sandboxCall("cap_set_proc (clearing effective, permitted and inheritable)") { cap_set_proc(empty) }
        try verifyDropped(lastCap: lastCap, empty: empty)
    }

    /// Empties the bounding set (PR_CAPBSET_DROP for every capability the kernel knows that is still in it) and
    /// returns the highest capability number. It limits only what an execve can grant, so the sandbox's pid 1,
    /// which never executes anything, empties it while it waits for its cgroup: its children inherit the empty
    /// set, and each drop (a credential commit) is then off the command's path. `dropAll` does it too, at the
    /// cost of one PR_CAPBSET_READ per capability when it is done already.
    ///
    /// - Throws: `SandboxError(.setupFailed)` naming the capability that could not be read or dropped.
    @discardableResult
    public static func dropBoundingSet() throws(SandboxError) -> Int32 {
        let lastCap = try lastCapability()
        for cap in 0 ... lastCap {
            let present = cl_capbset_read(cap)
            if present < 0 {
                throw SandboxError(.setupFailed, "PR_CAPBSET_READ of capability \(cap)", errno: -present)
            }
            // Skip what is already gone: dropping it again would still demand CAP_SETPCAP.
            guard present == 1 else { continue }
            let result = cl_capbset_drop(cap)
            if result < 0 {
                let hint = -result == EPERM ? " (needs CAP_SETPCAP: drop as uid 0 of the sandbox's user namespace)" : ""
                throw SandboxError(.setupFailed, "PR_CAPBSET_DROP of capability \(cap)\(hint)", errno: -result)
            }
        }
        return lastCap
    }

    /// Sets no_new_privs (prctl PR_SET_NO_NEW_PRIVS) and verifies it with PR_GET_NO_NEW_PRIVS.
    ///
    /// It is inherited by every child and survives execve; it cannot be unset.
    ///
    /// - Throws: `SandboxError(.setupFailed)` when the prctl fails or the flag does not read back as 1.
    public static func setNoNewPrivileges() throws(SandboxError) {
        let result = cl_set_no_new_privs()
        if result < 0 { throw SandboxError(.setupFailed, "PR_SET_NO_NEW_PRIVS", errno: -result) }
        let value = cl_get_no_new_privs()
        guard value == 1 else {
            throw SandboxError(
                .setupFailed, "no_new_privs reads back as \(value) after PR_SET_NO_NEW_PRIVS",
                errno: value < 0 ? -value : nil)
        }
    }

    /// The highest capability number the kernel knows: PR_CAPBSET_READ accepts every number up to it and refuses
    /// the next with EINVAL (what /proc/sys/kernel/cap_last_cap reports, without a procfs read).
    static func lastCapability() throws(SandboxError) -> Int32 {
        var last: Int32 = -1
        while last < 63 && cl_capbset_read(last + 1) >= 0 { last += 1 }
        guard last >= 0 else {
            throw SandboxError(.setupFailed, "PR_CAPBSET_READ refuses capability 0", errno: -cl_capbset_read(0))
        }
        return last
    }

    /// Reads every set back: capget through libcap (effective, permitted, inheritable all empty), then
    /// PR_CAP_AMBIENT_IS_SET and PR_CAPBSET_READ for each capability.
    private static func verifyDropped(lastCap: Int32, empty: cap_t) throws(SandboxError) {
        guard let current = cap_get_proc() else { throw SandboxError(.setupFailed, "cap_get_proc", errno: errno) }
        defer { cap_free(UnsafeMutableRawPointer(current)) }
        guard cap_compare(current, empty) == 0 else {
            throw SandboxError(.setupFailed, "capabilities remain after cap_set_proc: \(text(of: current))")
        }
        for cap in 0 ... lastCap {
            let ambient = cl_cap_ambient_is_set(cap)
            guard ambient == 0 else {
                throw SandboxError(
                    .setupFailed, "capability \(cap) is still in the ambient set", errno: ambient < 0 ? -ambient : nil)
            }
            let bounding = cl_capbset_read(cap)
            guard bounding == 0 else {
                throw SandboxError(
                    .setupFailed, "capability \(cap) is still in the bounding set",
                    errno: bounding < 0 ? -bounding : nil)
            }
        }
    }

    /// libcap's text form of `caps` ("=ep cap_x-e …"), for error messages.
    private static func text(of caps: cap_t) -> String {
        guard let cString = cap_to_text(caps, nil) else { return "?" }
        defer { cap_free(cString) }
        return String(cString: cString)
    }
}

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
    /// In this order: the bounding set (PR_CAPBSET_DROP for every capability up to
    /// /proc/sys/kernel/cap_last_cap), which needs CAP_SETPCAP and so comes while the effective set still has it;
    /// the ambient set (PR_CAP_AMBIENT_CLEAR_ALL); then effective, permitted and inheritable together (libcap
    /// cap_init() + cap_set_proc). Call it as uid 0 of the sandbox's own user namespace, where the launcher holds
    /// CAP_SETPCAP; an unprivileged process outside one cannot shrink its bounding set.
    ///
    /// - Throws: `SandboxError(.setupFailed)` naming the step that failed or the set that is still not empty.
    public static func dropAll() throws(SandboxError) {
        let lastCap = lastCapability()
        // Which capabilities are still in the bounding set: one read of /proc/self/status instead of a
        // PR_CAPBSET_READ per capability (the launch runs this on its critical path); the prctl when /proc is not
        // there.
        let bounding = statusSets()?["CapBnd"]
        for cap in 0 ... lastCap {
            let present: Int32
            if let bounding {
                present = cap < 64 && bounding & (1 << UInt64(cap)) != 0 ? 1 : 0
            } else {
                present = cl_capbset_read(cap)
            }
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
        let ambient = cl_cap_ambient_clear_all()
        if ambient < 0 { throw SandboxError(.setupFailed, "PR_CAP_AMBIENT_CLEAR_ALL", errno: -ambient) }
        guard let empty = cap_init() else { throw SandboxError(.setupFailed, "cap_init", errno: errno) }
        defer { cap_free(UnsafeMutableRawPointer(empty)) }
        try sandboxCall("cap_set_proc (clearing effective, permitted and inheritable)") { cap_set_proc(empty) }
        try verifyDropped(lastCap: lastCap, empty: empty)
    }

    /// The capability sets the kernel reports in /proc/self/status (CapInh, CapPrm, CapEff, CapBnd, CapAmb), or
    /// nil when it cannot be read or lacks one of them.
    static func statusSets() -> [String: UInt64]? {
        guard let text = Posix.readFile("/proc/self/status") else { return nil }
        var sets: [String: UInt64] = [:]
        for line in text.split(separator: "\n") where line.hasPrefix("Cap") {
            let parts = line.split(separator: ":", maxSplits: 1)
            guard parts.count == 2, let value = UInt64(parts[1].filter { !$0.isWhitespace }, radix: 16) else {
                continue
            }
            sets[String(parts[0])] = value
        }
        let names = ["CapInh", "CapPrm", "CapEff", "CapBnd", "CapAmb"]
        return names.allSatisfy { sets[$0] != nil } ? sets : nil
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

    /// The highest capability number the kernel knows: /proc/sys/kernel/cap_last_cap, raised while PR_CAPBSET_READ
    /// still accepts the next number (so a missing or stale /proc cannot leave a capability out).
    static func lastCapability() -> Int32 {
        var last: Int32 = 0
        if let text = Posix.readFile("/proc/sys/kernel/cap_last_cap"),
            let value = Int32(text.filter { !$0.isWhitespace }), (0 ..< 64).contains(value)
        {
            last = value
        }
        while last < 63 && cl_capbset_read(last + 1) >= 0 { last += 1 }
        return last
    }

    /// Reads every set back: the kernel's report in /proc/self/status (all five sets must be 0), or where that
    /// cannot be read, capget through libcap and PR_CAP_AMBIENT_IS_SET and PR_CAPBSET_READ for each capability.
    private static func verifyDropped(lastCap: Int32, empty: cap_t) throws(SandboxError) {
        if let sets = statusSets() {
            for (name, value) in sets.sorted(by: { $0.key < $1.key }) where value != 0 {
                throw SandboxError(
                    .setupFailed, "capabilities remain after dropping them: \(name) \(String(value, radix: 16))")
            }
            return
        }
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

import CLinux
import CSeccomp

#if canImport(Glibc)
import Glibc
#endif

/// Builds a `SeccompPolicy` into a BPF filter with libseccomp and loads it.
///
/// The filter is loaded last, just before execve of the target: after capabilities are dropped and no_new_privs is
/// set, so nothing the launcher still has to do is filtered. It covers x86_64 only; a syscall made through another
/// ABI (i386 `int 0x80`, x32) kills the process (SCMP_FLTATR_ACT_BADARCH), since its numbers would miss the rules.
public enum SeccompFilter {
    /// Builds the filter for `policy` and loads it into the calling thread. Returns the user-notification listener
    /// when the policy mediates the network (the caller hands it to the sandbox's pid 1), else nil.
    ///
    /// SECCOMP_FILTER_FLAG_TSYNC is not used: the launcher is single-threaded. Loading needs no_new_privs (or
    /// CAP_SYS_ADMIN); libseccomp also sets no_new_privs itself (SCMP_FLTATR_CTL_NNP, left at its default), so a
    /// launcher that forgot cannot end up with a filter that a setuid program could be confused by.
    ///
    /// - Throws: `SandboxError(.missingKernelFeature)` when the kernel has no seccomp; `.invalidProfile` for a socket
    ///   family outside 0..<64; `.setupFailed` naming the failing step (a core syscall libseccomp cannot resolve,
    ///   seccomp_rule_add_array, seccomp_load) otherwise.
    @discardableResult
    public static func load(_ policy: SeccompPolicy) throws(SandboxError) -> Int32? {
        let mode = cl_get_seccomp_mode()
        guard mode >= 0 else {
            throw SandboxError(
                .missingKernelFeature, "seccomp is not available (the kernel lacks CONFIG_SECCOMP)", errno: -mode)
        }
        var listener: Int32?
        try withFilter(policy) { (filter) throws(SandboxError) in
            let result = seccomp_load(filter)
            guard result == 0 else {
                let hint = -result == EACCES ? " (set no_new_privs first, or hold CAP_SYS_ADMIN)" : ""
                throw SandboxError(.setupFailed, "seccomp_load\(hint)", errno: -result)
            }
            if policy.mediatesNetwork {
                let fd = seccomp_notify_fd(filter)
                guard fd >= 0 else { throw SandboxError(.setupFailed, "seccomp_notify_fd", errno: -fd) }
                listener = fd
            }
        }
        return listener
    }

    /// True when the kernel supports seccomp filters with the actions the filter uses.
    ///
    /// Checks that prctl(PR_GET_SECCOMP) works and that /proc/sys/kernel/seccomp/actions_avail lists `errno` (every
    /// rule) and `kill_process` (other architectures). Used by the launcher's fail-closed check before any namespace
    /// is created, and by `autonousctl doctor`.
    public static func isAvailable() -> Bool {
        guard cl_get_seccomp_mode() >= 0 else { return false }
        guard let text = Posix.readFile("/proc/sys/kernel/seccomp/actions_avail") else { return false }
        let actions = text.split(whereSeparator: { $0 == " " || $0 == "\n" })
        return actions.contains("errno") && actions.contains("kill_process")
    }

    /// True when the kernel offers seccomp user notification (`user_notif` in actions_avail), which the network
    /// tier's destination check needs.
    public static func hasUserNotification() -> Bool {
        guard let text = Posix.readFile("/proc/sys/kernel/seccomp/actions_avail") else { return false }
        return text.split(whereSeparator: { $0 == " " || $0 == "\n" }).contains("user_notif")
    }

    /// Writes the filter of `policy` to `fd` as libseccomp's readable pseudo filter code, for review and debugging.
    static func exportPseudoCode(_ policy: SeccompPolicy, to fd: Int32) throws(SandboxError) {
        try withFilter(policy) { (filter) throws(SandboxError) in
            let result = seccomp_export_pfc(filter, fd)
            guard result == 0 else { throw SandboxError(.setupFailed, "seccomp_export_pfc", errno: -result) }
        }
    }

    /// Builds the filter context for `policy`, runs `body` with it and releases it on every path.
    private static func withFilter(
        _ policy: SeccompPolicy, _ body: (scmp_filter_ctx) throws(SandboxError) -> Void
    ) throws(SandboxError) {
        let rules = try policy.rules()
        guard let filter = seccomp_init(cs_act_allow()) else {
            throw SandboxError(.setupFailed, "seccomp_init", errno: ENOMEM)
        }
        defer { seccomp_release(filter) }

        try setAttribute(filter, SCMP_FLTATR_ACT_BADARCH, cs_act_kill_process(), "kill on a foreign architecture")
        // Report the kernel's errno from seccomp_load instead of libseccomp's generic ECANCELED.
        try setAttribute(filter, SCMP_FLTATR_API_SYSRAWRC, 1, "raw return codes")
        // A binary tree of syscall numbers instead of a linear list: every allowed call walks the filter. This only
        // changes speed, so a libseccomp without it is fine.
        _ = seccomp_attr_set(filter, SCMP_FLTATR_CTL_OPTIMIZE, 2)

        var numbers: [String: Int32] = [:]
        for rule in rules {
            let number: Int32
            if let known = numbers[rule.syscall] {
                number = known
            } else {
                number = seccomp_syscall_resolve_name(rule.syscall)
                numbers[rule.syscall] = number
            }
            guard number >= 0 else {
                // Unknown to libseccomp, or not a syscall on x86_64 (socketcall): nothing to deny.
                if SeccompPolicy.requiredSyscalls.contains(rule.syscall) {
                    throw SandboxError(.setupFailed, "libseccomp cannot resolve the syscall \(rule.syscall)")
                }
                continue
            }
            try add(rule, number: number, to: filter)
        }
        for name in SeccompPolicy.requiredSyscalls where numbers[name] == nil {
            // A policy for nested sandboxes deliberately has no rule for these.
            if policy.allowsNestedSandboxes && (SeccompPolicy.nestedSandboxSyscalls.contains(name) || name == "clone") {
                continue
            }
            throw SandboxError(.setupFailed, "the seccomp policy has no rule for the core syscall \(name)")
        }
        try body(filter)
    }

    /// Adds one rule for the resolved syscall `number`.
    private static func add(
        _ rule: SeccompPolicy.Rule, number: Int32, to filter: scmp_filter_ctx
    ) throws(SandboxError) {
        let comparisons = rule.comparisons.map { comparison in
            switch comparison.op {
            case .equal: cs_arg_cmp(comparison.argument, SCMP_CMP_EQ, comparison.value, 0)
            case .notEqual: cs_arg_cmp(comparison.argument, SCMP_CMP_NE, comparison.value, 0)
            case .lessThan: cs_arg_cmp(comparison.argument, SCMP_CMP_LT, comparison.value, 0)
            case .greaterThan: cs_arg_cmp(comparison.argument, SCMP_CMP_GT, comparison.value, 0)
            case .maskedEqual(let mask): cs_arg_cmp(comparison.argument, SCMP_CMP_MASKED_EQ, mask, comparison.value)
            }
        }
        let action = rule.notify ? cs_act_notify() : cs_act_errno(UInt16(rule.errno))
        let result = comparisons.withUnsafeBufferPointer { buffer in
            seccomp_rule_add_array(filter, action, number, UInt32(buffer.count), buffer.baseAddress)
        }
        guard result == 0 else {
            throw SandboxError(.setupFailed, "seccomp_rule_add_array for \(rule.syscall)", errno: -result)
        }
    }

    private static func setAttribute(
        _ filter: scmp_filter_ctx, _ attribute: scmp_filter_attr, _ value: UInt32, _ what: String
    ) throws(SandboxError) {
        let result = seccomp_attr_set(filter, attribute, value)
        guard result == 0 else {
            throw SandboxError(.setupFailed, "seccomp_attr_set (\(what))", errno: -result)
        }
    }
}

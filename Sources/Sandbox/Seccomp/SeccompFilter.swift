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
    /// The most instructions a BPF program may have (the kernel's BPF_MAXINSNS).
    static let maximumInstructions = 4096

    /// Builds the filter for `policy` and writes it to `fd` as a BPF program (8 bytes an instruction).
    ///
    /// The launcher does this while the sandbox's pid 1 builds the root filesystem, so generating the filter (a
    /// millisecond of libseccomp work) adds nothing to the launch; the command loads the program with
    /// `install(programFrom:listener:)` just before its exec.
    ///
    /// - Throws: `.invalidProfile` for a socket family outside 0..<64; `.setupFailed` naming the failing step (a
    ///   core syscall libseccomp cannot resolve, seccomp_rule_add_array, seccomp_export_bpf).
    public static func export(_ policy: SeccompPolicy, to fd: Int32) throws(SandboxError) {
        try withFilter(policy) { (filter) throws(SandboxError) in
            let result = seccomp_export_bpf(filter, fd)
            guard result == 0 else { throw SandboxError(.setupFailed, "seccomp_export_bpf", errno: -result) }
        }
    }

    /// Reads a BPF program from `fd` (to its end) and loads it into the calling thread; with `listener`, asks for
    /// a user-notification listener and returns it.
    ///
    /// SECCOMP_FILTER_FLAG_TSYNC is not used: the command is single-threaded. Loading needs no_new_privs (set just
    /// before), so a setuid program cannot be confused by the filter. An empty, ragged or oversized program fails:
    /// the command never runs without its filter.
    ///
    /// - Throws: `SandboxError(.missingKernelFeature)` when the kernel has no seccomp; `.setupFailed` otherwise.
    public static func install(programFrom fd: Int32, listener: Bool) throws(SandboxError) -> Int32? {
        let mode = cl_get_seccomp_mode()
        guard mode >= 0 else {
            throw SandboxError(
                .missingKernelFeature, "seccomp is not available (the kernel lacks CONFIG_SECCOMP)", errno: -mode)
        }
        let program = Posix.readAll(fd, limit: maximumInstructions * 8 + 1)
        guard !program.isEmpty, program.count % 8 == 0, program.count <= maximumInstructions * 8 else {
            throw SandboxError(.setupFailed, "the launcher sent no valid seccomp program (\(program.count) bytes)")
        }
        let result = program.withUnsafeBytes { raw in
            cl_seccomp_set_filter(
                raw.baseAddress, UInt16(program.count / 8), listener ? CL_SECCOMP_FILTER_FLAG_NEW_LISTENER : 0)
        }
        guard result >= 0 else {
            let hint = -result == EACCES ? " (set no_new_privs first)" : ""
            throw SandboxError(.setupFailed, "loading the seccomp filter\(hint)", errno: -result)
        }
        return listener ? result : nil
    }

    /// True when the kernel supports seccomp filters with the actions the filter uses.
    ///
    /// Checks that prctl(PR_GET_SECCOMP) works and that /proc/sys/kernel/seccomp/actions_avail lists `errno` (every
    /// rule) and `kill_process` (other architectures). Used by the launcher's fail-closed check before any namespace
    /// is created, and by `autonousctl doctor`.
    public static func isAvailable() -> Bool {
        guard cl_get_seccomp_mode() >= 0 else { return false }
        let actions = availableActions()
        return actions.contains("errno") && actions.contains("kill_process")
    }

    /// True when the kernel offers seccomp user notification (`user_notif` in actions_avail), which the network
    /// tier's destination check needs.
    public static func hasUserNotification() -> Bool {
        availableActions().contains("user_notif")
    }

    /// The actions /proc/sys/kernel/seccomp/actions_avail lists (none when it cannot be read).
    private static func availableActions() -> Set<Substring> {
        guard let text = Posix.readFile("/proc/sys/kernel/seccomp/actions_avail") else { return [] }
        return Set(text.split(whereSeparator: { $0 == " " || $0 == "\n" }))
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

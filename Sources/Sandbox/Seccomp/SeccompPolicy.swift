#if canImport(Glibc)
import Glibc
#endif

/// What the seccomp filter of a sandboxed process denies, as plain data; `SeccompFilter` turns it into BPF.
///
/// The filter allows by default and denies a fixed list (SANDBOX-TESTS.md cases 4, 12, 16, 17, 18, 23): every rule
/// fails the call with an errno instead of killing, so tools see an ordinary error. Only the socket families differ
/// between tiers. Calls for another architecture (i386 through `int 0x80`, x32) kill the process.
public struct SeccompPolicy: Sendable, Equatable {
    /// Socket families allowed for socket()/socketpair(); every other family fails with EPERM.
    ///
    /// Values must lie in 0..<64 (the kernel's AF_MAX is far below). When AF_NETLINK is included, only
    /// NETLINK_ROUTE sockets (protocol 0) are allowed; neither built-in policy includes it.
    public var allowedSocketFamilies: Set<Int32>

    /// Whether the process may build sandboxes of its own: create user, mount, pid … namespaces (unshare, clone
    /// with CLONE_NEW*) and mount, pivot_root and umount inside them. Only the worker gets this, because it starts
    /// `autonous-sandbox` for its tools; every namespace it creates is nested in its own, so the mounts it makes
    /// never reach the host. setns stays denied (it would join someone else's namespaces).
    public var allowsNestedSandboxes: Bool

    /// Whether connect(2) and listen(2) go to a user-notification listener (the sandbox's pid 1, `NetworkGate`),
    /// which checks the destination and makes the call on the command's behalf. The rest of the network is narrowed
    /// so that connect is the only way to a new peer: inet sockets must be SOCK_STREAM (no UDP, whose sendto names
    /// any destination), AF_UNIX datagram sockets are refused (they could reach the host's abstract sockets), and
    /// MSG_FASTOPEN (a connect hidden in sendto/sendmsg) fails.
    public var mediatesNetwork: Bool

    /// A policy allowing exactly `allowedSocketFamilies`.
    public init(allowedSocketFamilies: Set<Int32>, allowsNestedSandboxes: Bool = false, mediatesNetwork: Bool = false) {
        self.allowedSocketFamilies = allowedSocketFamilies
        self.allowsNestedSandboxes = allowsNestedSandboxes
        self.mediatesNetwork = mediatesNetwork
    }

    /// The baseline for tiers without network: only AF_UNIX sockets.
    public static let noNetwork = SeccompPolicy(allowedSocketFamilies: [AF_UNIX])

    /// The baseline plus AF_INET and AF_INET6, unchecked.
    public static let network = SeccompPolicy(allowedSocketFamilies: [AF_UNIX, AF_INET, AF_INET6])

    /// The network tier: AF_INET and AF_INET6 stream sockets whose connections pid 1 checks.
    public static let mediatedNetwork = SeccompPolicy(
        allowedSocketFamilies: [AF_UNIX, AF_INET, AF_INET6], mediatesNetwork: true)

    /// The worker: network, and nested sandboxes for its tools (whose own filters then deny all of this again).
    public static let worker = SeccompPolicy(
        allowedSocketFamilies: [AF_UNIX, AF_INET, AF_INET6], allowsNestedSandboxes: true)
}

// MARK: - Rules

extension SeccompPolicy {
    /// One comparison of a syscall argument, as libseccomp's `struct scmp_arg_cmp`. Comparisons are unsigned 64-bit.
    struct Comparison: Sendable, Equatable {
        enum Operator: Sendable, Equatable {
            case equal, notEqual, lessThan, greaterThan
            /// `(argument & mask) == value`.
            case maskedEqual(mask: UInt64)
        }

        var argument: UInt32
        var op: Operator
        var value: UInt64
    }

    /// Fail `syscall` with `errno` when every comparison holds (no comparison: always); with `notify`, hand the
    /// call to the user-notification listener instead.
    ///
    /// libseccomp accepts at most one comparison per argument in a rule, so an "or" becomes several rules.
    struct Rule: Sendable, Equatable {
        var syscall: String
        var errno: Int32
        var comparisons: [Comparison] = []
        var notify = false
    }

    /// The syscalls a mediating policy sends to the listener.
    static let mediatedSyscalls = ["connect", "listen"]

    /// MSG_FASTOPEN, and the flags argument of each call that takes it.
    static let fastOpenFlag: UInt64 = 0x2000_0000
    static let sendFlagArguments: [(String, UInt32)] = [("sendto", 3), ("sendmsg", 2), ("sendmmsg", 3)]

    /// Syscalls that always fail with EPERM: debugging other processes, mounts and namespaces, kernel objects
    /// (bpf, keyrings, modules, kexec, swap), io_uring (its requests bypass this filter), file handles (they open
    /// by inode, around the mount tree), clocks, logs and obsolete privileged calls.
    static let deniedSyscalls = [
        "ptrace", "process_vm_readv", "process_vm_writev", "process_madvise", "pidfd_getfd",
        "mount", "umount2", "pivot_root", "chroot", "move_mount", "open_tree", "fsopen", "fsconfig", "fsmount",
        "fspick", "mount_setattr", "unshare", "setns",
        "bpf", "keyctl", "add_key", "request_key", "userfaultfd", "perf_event_open",
        "kexec_load", "kexec_file_load", "init_module", "finit_module", "delete_module", "swapon", "swapoff", "reboot",
        "io_uring_setup", "io_uring_enter", "io_uring_register", "open_by_handle_at", "name_to_handle_at",
        "lookup_dcookie", "acct", "quotactl", "nfsservctl", "syslog", "vhangup", "iopl", "ioperm",
        "settimeofday", "clock_settime", "clock_adjtime", "adjtimex", "socketcall",
    ]

    /// Syscalls the filter must be able to name; a libseccomp that does not know one of them fails the load.
    static let requiredSyscalls: Set<String> = [
        "ptrace", "mount", "unshare", "setns", "clone", "clone3", "ioctl", "socket",
    ]

    /// CLONE_NEW* flags (kernel ABI, include/uapi/linux/sched.h): ns, cgroup, uts, ipc, user, pid, net, time.
    /// CLONE_NEWTIME (0x80) shares its bit with the exit signal in clone(2); no valid signal sets it.
    static let namespaceCloneFlags: [UInt64] = [
        0x0002_0000, 0x0200_0000, 0x0400_0000, 0x0800_0000, 0x1000_0000, 0x2000_0000, 0x4000_0000, 0x0000_0080,
    ]

    /// TIOCSTI (push bytes into a terminal's input) and TIOCLINUX (console selection, which can do the same).
    static let deniedIoctls: [UInt64] = [0x5412, 0x541C]

    /// The file type bits of a mode (S_IFMT) and the device types mknod must not create (S_IFCHR, S_IFBLK).
    static let fileTypeMask: UInt64 = 0o170000
    static let deviceFileTypes: [UInt64] = [0o020000, 0o060000]

    /// The largest socket family value a policy may name (exclusive).
    static let socketFamilyLimit: Int32 = 64

    /// Syscalls a nested launcher makes inside its own namespaces; allowed only with `allowsNestedSandboxes`.
    /// pidfd_getfd and process_vm_readv are among them: a nested launcher's pid 1 uses them to check its own
    /// command's connect(2) calls (ptrace stays denied).
    static let nestedSandboxSyscalls: Set<String> = [
        "mount", "umount2", "pivot_root", "unshare", "pidfd_getfd", "process_vm_readv",
    ]

    /// The rules of this policy, in the order they are added.
    ///
    /// - Throws: `SandboxError(.invalidProfile)` when a socket family is outside 0..<64.
    func rules() throws(SandboxError) -> [Rule] {
        var denied = Self.deniedSyscalls
        if allowsNestedSandboxes { denied.removeAll { Self.nestedSandboxSyscalls.contains($0) } }
        var rules = denied.map { Rule(syscall: $0, errno: EPERM) }

        // clone3 passes its flags in memory, where BPF cannot look: make glibc fall back to clone(2).
        rules.append(Rule(syscall: "clone3", errno: ENOSYS))
        for flag in Self.namespaceCloneFlags where !allowsNestedSandboxes {
            let hasFlag = Comparison(argument: 0, op: .maskedEqual(mask: flag), value: flag)
            rules.append(Rule(syscall: "clone", errno: EPERM, comparisons: [hasFlag]))
        }

        // The ioctl request is 32 bits in the kernel; compare only those so garbage in the upper half cannot hide it.
        for request in Self.deniedIoctls {
            let isRequest = Comparison(argument: 1, op: .maskedEqual(mask: 0xFFFF_FFFF), value: request)
            rules.append(Rule(syscall: "ioctl", errno: EPERM, comparisons: [isRequest]))
        }

        // mknod(path, mode, dev) and mknodat(dirfd, path, mode, dev): no character or block devices.
        for (syscall, argument) in [("mknod", UInt32(1)), ("mknodat", UInt32(2))] {
            for type in Self.deviceFileTypes {
                let isDevice = Comparison(argument: argument, op: .maskedEqual(mask: Self.fileTypeMask), value: type)
                rules.append(Rule(syscall: syscall, errno: EPERM, comparisons: [isDevice]))
            }
        }

        rules += Self.personalityRules()
        rules += try socketRules()
        if mediatesNetwork { rules += Self.mediationRules() }
        return rules
    }

    /// The network tier's rules: connect and listen notify; socket types other than SOCK_STREAM for inet (and
    /// SOCK_DGRAM for AF_UNIX) and MSG_FASTOPEN fail with EPERM. The type argument carries SOCK_NONBLOCK and
    /// SOCK_CLOEXEC in its upper bits, so only its low 4 bits (SOCK_TYPE_MASK) are compared.
    static func mediationRules() -> [Rule] {
        var rules = mediatedSyscalls.map { Rule(syscall: $0, errno: 0, notify: true) }
        let typeMask: UInt64 = 0xF
        for family in [AF_INET, AF_INET6] {
            for type in UInt64(0) ... typeMask where type != UInt64(SOCK_STREAM.rawValue) {
                rules.append(
                    Rule(
                        syscall: "socket", errno: EPERM,
                        comparisons: [
                            Comparison(argument: 0, op: .equal, value: UInt64(family)),
                            Comparison(argument: 1, op: .maskedEqual(mask: typeMask), value: type),
                        ]))
            }
        }
        rules.append(
            Rule(
                syscall: "socket", errno: EPERM,
                comparisons: [
                    Comparison(argument: 0, op: .equal, value: UInt64(AF_UNIX)),
                    Comparison(argument: 1, op: .maskedEqual(mask: typeMask), value: UInt64(SOCK_DGRAM.rawValue)),
                ]))
        for (syscall, argument) in sendFlagArguments {
            let fastOpen = Comparison(argument: argument, op: .maskedEqual(mask: fastOpenFlag), value: fastOpenFlag)
            rules.append(Rule(syscall: syscall, errno: EPERM, comparisons: [fastOpen]))
        }
        return rules
    }

    /// personality(2) may only query (0xffffffff) or keep PER_LINUX (0); nothing else, so no READ_IMPLIES_EXEC or
    /// ADDR_NO_RANDOMIZE. The kernel reads 32 bits. A 32-bit value is neither all zeros nor all ones exactly when
    /// some bit is 1 while its cyclic neighbour is 0, so one masked rule per bit pair denies every other value.
    static func personalityRules() -> [Rule] {
        (0 ..< 32).map { bit in
            let one: UInt64 = 1 << UInt64(bit)
            let neighbour: UInt64 = 1 << UInt64((bit + 1) % 32)
            let comparison = Comparison(argument: 0, op: .maskedEqual(mask: one | neighbour), value: one)
            return Rule(syscall: "personality", errno: EPERM, comparisons: [comparison])
        }
    }

    /// socket(2) and socketpair(2) fail with EPERM unless the family (argument 0) is allowed: below the smallest
    /// allowed value, above the largest (which also catches any value with upper bits set), and each gap between.
    func socketRules() throws(SandboxError) -> [Rule] {
        if let bad = allowedSocketFamilies.first(where: { $0 < 0 || $0 >= Self.socketFamilyLimit }) {
            throw SandboxError(.invalidProfile, "socket family \(bad) is outside 0..<\(Self.socketFamilyLimit)")
        }
        let allowed = allowedSocketFamilies.sorted().map { UInt64($0) }
        var rules: [Rule] = []
        for syscall in ["socket", "socketpair"] {
            guard let lowest = allowed.first, let highest = allowed.last else {
                rules.append(Rule(syscall: syscall, errno: EPERM))
                continue
            }
            func deny(_ op: Comparison.Operator, _ value: UInt64) {
                let family = Comparison(argument: 0, op: op, value: value)
                rules.append(Rule(syscall: syscall, errno: EPERM, comparisons: [family]))
            }
            if lowest > 0 { deny(.lessThan, lowest) }
            deny(.greaterThan, highest)
            for (low, high) in zip(allowed, allowed.dropFirst()) where high > low + 1 {
                for family in (low + 1) ..< high { deny(.equal, family) }
            }
        }
        if allowedSocketFamilies.contains(AF_NETLINK) {
            // Netlink sockets other than NETLINK_ROUTE (0) reach audit, uevents, netfilter, crypto …
            let family = Comparison(argument: 0, op: .equal, value: UInt64(AF_NETLINK))
            let protocolNotRoute = Comparison(argument: 2, op: .notEqual, value: 0)
            rules.append(Rule(syscall: "socket", errno: EPERM, comparisons: [family, protocolNotRoute]))
        }
        return rules
    }
}

import CLinux

#if canImport(Glibc)
import Glibc
#endif

/// A cgroup controller a sandbox limit needs.
enum CgroupController: String, CaseIterable, Sendable {
    case memory, pids, cpu
}

/// One way of placing a sandbox in cgroups (v2 or v1), as found by detection.
protocol CgroupDriver {
    /// What this driver can enforce here for the current user.
    var capabilities: CgroupCapabilities { get }
    /// Creates the sandbox's directories with the limits of `controllers` written, before any process is in them.
    /// `reusable`: the directories may be ones an earlier sandbox left for reuse (false when they are delegated).
    func makeLeaf(
        limits: ResourceLimits, controllers: [CgroupController], reusable: Bool
    ) throws(SandboxError) -> any CgroupLeaf
}

/// The directories of one sandbox under one driver.
protocol CgroupLeaf: AnyObject {
    /// The last path component (`sandbox-<pid>-<random>`, or `slot-<n>` for a reused v1 leaf), for the summary.
    var leafName: String { get }
    /// Every leaf directory (one per v1 hierarchy, one for v2); a pid is written to each `cgroup.procs`.
    var directories: [String] { get }
    /// Parent directories removed after the leaves when they are empty (v2 `sandboxes`; none on v1, whose parents stay).
    var parentDirectories: [String] { get }
    /// Where each enforced limit was written, for the summary ("pids.max in /sys/fs/cgroup/pids/…").
    func mechanism(for controller: CgroupController) -> String
    /// True when the memory controller recorded an OOM kill.
    func oomKilled() -> Bool
    /// True when a fork failed at the pids limit.
    func pidsLimitHit() -> Bool
    /// First step of destroy: stop new forks and let the kernel kill what it can at once (v2 `cgroup.kill`).
    func beginKill()
    /// Called after each pass that sent SIGKILL to the listed pids (v1 thaws the freezer so they can die).
    func endKillPass()
    /// v1: per leaf directory, the `tasks` file of the calling process's own cgroup in the same hierarchy.
    func homeTaskFiles() -> [String]?
    /// v1 slots: when the sandbox left them clean, keeps the directories for the next one and returns true.
    /// `sawEvent` is whether an OOM kill or pids-limit event was seen after the sandbox ended (nil: not looked at);
    /// `ended`: every process of the sandbox is known to be gone, so `cgroup.procs` need not be read.
    func keepForReuse(sawEvent: Bool?, ended: Bool) -> Bool
    /// v1 slots: lets the slot go once its directories are removed.
    func unlock()
}

extension CgroupLeaf {
    func endKillPass() {}
    func homeTaskFiles() -> [String]? { nil }
    func keepForReuse(sawEvent: Bool?, ended: Bool) -> Bool { false }
    func unlock() {}

    /// True when the pids controller's `pids.events` in `directory` counts a `max` event (same format in v1 and v2).
    func pidsEventsHit(in directory: String?) -> Bool {
        guard let directory else { return false }
        return (CgroupFile.keyedValue(directory + "/pids.events", key: "max") ?? 0) > 0
    }
}

/// Detects cgroup support and creates sandbox cgroups.
public enum Cgroups {
    /// What this host can enforce for a process running as the current user (root or not).
    ///
    /// v2 is chosen only when `/proc/self/cgroup` has a `0::` line and the cgroup2 mount offers the controllers in a
    /// writable cgroup of this process (see `CgroupV2Driver`); otherwise v1 when a v1 hierarchy is writable; else
    /// "none", with `detail` saying why for both.
    public static func detect() -> CgroupCapabilities {
        selectDriver().capabilities
    }

    /// Creates a cgroup for one sandbox with the limits set (before any process is in it).
    ///
    /// Returns nil when no cgroup limit was requested, or when best effort is allowed and no requested limit can be
    /// enforced (then `summary(for:cgroup:)` says so and `ResourceLimits.needsMemoryFallback` turns RLIMIT_AS on).
    /// Throws `.limitUnavailable` naming every limit that cannot be enforced when `bestEffort` is false,
    /// `.invalidProfile` for out-of-range values, `.setupFailed` when writing the cgroup fails.
    /// `name` labels the sandbox in the summary; the directory is `sandbox-<pid>-<random>`, or with `reusable` on
    /// cgroup v1 a `slot-<n>` that earlier sandboxes used (see `CgroupV1Driver`); a cgroup that is delegated to the
    /// sandbox must not be reusable. `ownCgroups` is /proc/self/cgroup when the caller has read it already.
    public static func create(
        for limits: ResourceLimits, name: String, reusable: Bool, ownCgroups: String? = nil
    ) throws(SandboxError) -> SandboxCgroup? {
        try limits.validate()
        let wanted = limits.cgroupControllers
        guard !wanted.isEmpty else { return nil }
        let driver = selectDriver(ownCgroups: ownCgroups ?? CgroupFile.ownCgroups())
        let caps = driver.capabilities
        let usable = wanted.filter { caps.has($0) }
        let missing = wanted.filter { !caps.has($0) }
        if !missing.isEmpty, !limits.bestEffort {
            throw limits.unavailableError(missing, caps: caps)
        }
        guard !usable.isEmpty else { return nil }
        let leaf = try driver.makeLeaf(limits: limits, controllers: usable, reusable: reusable)
        return SandboxCgroup(leaf: leaf, name: name, driver: caps.driver, limits: limits, missing: missing)
    }

    /// Describes what is enforced how for `limits`, also when `cgroup` is nil (no cgroup, best-effort fallbacks).
    public static func summary(for limits: ResourceLimits, cgroup: SandboxCgroup?) -> String {
        if let cgroup { return cgroup.summary }
        let missing = limits.cgroupControllers
        guard !missing.isEmpty else { return "no cgroup limits requested" }
        return "no cgroup: " + missing.map { limits.fallbackText($0) }.joined(separator: "; ")
    }

    /// True on a pure cgroup v2 host (/proc/self/cgroup is one `0::` line), where a sandbox's cgroup is made
    /// before its pid 1 so that clone3 can start pid 1 inside it; elsewhere it can wait until pid 1 exists.
    static func startsProcessesInside(ownCgroups: String) -> Bool {
        let lines = ownCgroups.split(separator: "\n")
        return lines.count == 1 && lines[0].hasPrefix("0::")
    }

    /// Picks v2 when it offers at least as many controllers as v1 (and any at all), else v1, else "none".
    static func selectDriver(ownCgroups: String = CgroupFile.ownCgroups()) -> any CgroupDriver {
        let mounts = CgroupFile.mounts()
        let v1 = CgroupV1Driver.probe(mounts: mounts, ownCgroups: ownCgroups)
        // A controller bound to a v1 hierarchy is never offered by v2: with all of them usable in v1 there is
        // nothing to compare (and a v1 host's launch skips the v2 probe's reads).
        if v1.capabilities.count == CgroupController.allCases.count { return v1 }
        let v2 = CgroupV2Driver.probe(mounts: mounts, ownCgroups: ownCgroups)
        if v2.capabilities.count > 0, v2.capabilities.count >= v1.capabilities.count { return v2 }
        if v1.capabilities.count > 0 { return v1 }
        let detail =
            "no cgroup controller is usable by uid \(geteuid()) (\(v2.capabilities.detail); "
            + "\(v1.capabilities.detail))"
        return NoCgroupDriver(
            capabilities: CgroupCapabilities(driver: "none", memory: false, pids: false, cpu: false, detail: detail)
        )
    }
}

/// The driver used when neither v2 nor v1 can enforce anything; it never creates a leaf.
struct NoCgroupDriver: CgroupDriver {
    let capabilities: CgroupCapabilities

    func makeLeaf(
        limits: ResourceLimits, controllers: [CgroupController], reusable: Bool
    ) throws(SandboxError) -> any CgroupLeaf {
        throw SandboxError(.limitUnavailable, capabilities.detail)
    }
}

/// One sandbox's cgroup: its limits are written, processes are added before they exec, and `destroy` removes it.
///
/// Single-threaded use only (the launcher). The caller must call `destroy()` when the sandbox ends, also on error
/// paths; nothing removes the directories in `deinit`, so a crash leaves a `sandbox-<pid>-<random>` directory behind
/// (removed by a later launch), or a v1 slot that the next holder checks before it uses it.
public final class SandboxCgroup {
    /// The label given to `Cgroups.create`.
    public let name: String
    /// The driver in use: "v2" or "v1".
    public let driver: String
    /// Whether the memory limit is enforced by this cgroup (if not and best effort is set, use the RLIMIT_AS fallback).
    public let enforcesMemory: Bool
    /// Whether the pids limit is enforced by this cgroup.
    public let enforcesPids: Bool
    /// Whether the CPU quota is enforced by this cgroup.
    public let enforcesCPU: Bool
    /// True once `destroy()` killed everything and removed every directory, or let a clean v1 slot go for the next
    /// sandbox; false means a later call retries.
    public private(set) var isDestroyed = false
    /// The leaf directories (for diagnostics and tests).
    public var directories: [String] { leaf.directories }

    private let leaf: any CgroupLeaf
    private let limits: ResourceLimits
    private let missing: [CgroupController]
    /// Upper bound for `destroy()` (kill, wait until empty, remove).
    private static let destroyTimeout = 2.0

    init(leaf: any CgroupLeaf, name: String, driver: String, limits: ResourceLimits, missing: [CgroupController]) {
        self.leaf = leaf
        self.name = name
        self.driver = driver
        self.limits = limits
        self.missing = missing
        enforcesMemory = limits.memoryBytes != nil && !missing.contains(.memory)
        enforcesPids = limits.pids != nil && !missing.contains(.pids)
        enforcesCPU = limits.cpuQuotaPercent != nil && !missing.contains(.cpu)
    }

    /// The cgroup v2 leaf a new process can be created in directly (clone3 CLONE_INTO_CGROUP); nil on v1, where
    /// one process lives in one directory per hierarchy and must be moved (`openSelfMove`, `add(pid:)`).
    public var directoryForNewProcesses: String? {
        driver == "v2" ? leaf.directories.first : nil
    }

    /// v1: the `tasks` file of every leaf, opened for writing (close-on-exec), for the sandbox's pid 1 to move
    /// itself in with `SandboxCgroup.moveSelf(using:)` (they reach it in the `CgroupHandoff`). Empty on v2.
    ///
    /// Why: writing another process's pid to `cgroup.procs` takes the kernel's global threadgroup lock for writing,
    /// which waits for an RCU grace period whenever no migration happened lately (6-20 ms measured here, longer
    /// than a whole launch); a thread that writes `0` to `tasks` moves only itself and skips that lock. The kernel
    /// checks the credentials of the file's opener against the moving task, so the descriptors can only move a
    /// process of the launcher's own user (or any, when the launcher is root) into this sandbox's cgroup.
    public func openSelfMove() throws(SandboxError) -> [Int32] {
        guard driver == "v1" else { return [] }
        let files = leaf.directories.map { $0 + "/tasks" }
        switch Self.openForWriting(files) {
        case .success(let descriptors): return descriptors
        case .failure(let failure):
            throw SandboxError(.setupFailed, "cannot open \(failure.file)", errno: failure.errno)
        }
    }

    /// v1: the `tasks` files of the launcher's own cgroups, one per leaf directory, opened for writing, so that the
    /// sandbox's pid 1 can move itself back out with `moveSelf(using:)` once everything else in the sandbox is gone
    /// (the leaves can then be removed before pid 1's exit completes). Empty when any cannot be opened (an
    /// unprivileged launcher usually cannot write its own cgroup), or on v2.
    public func openHome() -> [Int32] {
        guard driver == "v1", let files = leaf.homeTaskFiles() else { return [] }
        return (try? Self.openForWriting(files).get()) ?? []
    }

    struct OpenFailure: Error {
        let file: String
        let errno: Int32
    }

    /// Opens every file write-only and close-on-exec, or none: on the first failure the ones opened are closed.
    private static func openForWriting(_ files: [String]) -> Result<[Int32], OpenFailure> {
        var descriptors: [Int32] = []
        for file in files {
            let fd = open(file, O_WRONLY | O_CLOEXEC)
            guard fd >= 0 else {
                let failure = OpenFailure(file: file, errno: errno)
                for opened in descriptors { close(opened) }
                return .failure(failure)
            }
            descriptors.append(fd)
        }
        return .success(descriptors)
    }

    /// Moves the calling thread (it must be the only one: the process is moved only when it has no other) into
    /// the cgroups whose `tasks` descriptors `openSelfMove()` returned, and closes them. Returns nil or what failed.
    public static func moveSelf(using descriptors: [Int32]) -> String? {
        var failure: String?
        for fd in descriptors {
            let written = write(fd, "0", 1)
            if written != 1, failure == nil {
                failure = "cannot enter the sandbox's cgroup: \(String(cString: strerror(errno))) (errno \(errno))"
            }
            close(fd)
        }
        return failure
    }

    /// Moves `pid` into the cgroup (all controllers' cgroup.procs). Call from the parent for the child's pid BEFORE
    /// the child execs (the child waits on the sync pipe), so that everything it forks is accounted.
    public func add(pid: Int32) throws(SandboxError) {
        for directory in leaf.directories {
            let error = CgroupFile.write(directory + "/cgroup.procs", "\(pid)")
            if error != 0 {
                throw SandboxError(.setupFailed, "cannot move pid \(pid) into \(directory)/cgroup.procs", errno: error)
            }
        }
    }

    /// True when the memory controller recorded an OOM kill in this cgroup (v2 memory.events oom_kill > 0;
    /// v1 memory.oom_control oom_kill, or memory.failcnt with under_oom on kernels without that line).
    public func oomKilled() -> Bool {
        let killed = enforcesMemory && leaf.oomKilled()
        seen.oom = killed
        return killed
    }

    /// True when the pids limit was hit (v2 and v1 pids.events max > 0).
    public func pidsLimitHit() -> Bool {
        let hit = enforcesPids && leaf.pidsLimitHit()
        seen.pids = hit
        return hit
    }

    /// The last answers of `oomKilled()` and `pidsLimitHit()`: the launcher asks once the sandbox has ended, and
    /// `destroy` then need not read the counters again.
    private var seen: (oom: Bool?, pids: Bool?) = (nil, nil)

    /// Kills every process left in the cgroup (v2: cgroup.kill if present; then SIGKILL each pid in cgroup.procs
    /// repeatedly until empty, bounded to ~2 s), then removes the directories and empty parents. Idempotent.
    /// A v1 slot left clean and empty stays instead, for the next sandbox.
    ///
    /// The pids limit is lowered to 0 first so a fork bomb cannot outrun the kill loop, and on v1 the sandbox is
    /// frozen during the first pass so thousands of busy processes cannot starve it (waiting for FROZEN takes at most
    /// 1 s more, so the whole call is bounded by ~3 s). A pid is signalled through a pidfd taken while it is still
    /// listed in the cgroup, so a pid reused by an unrelated process is left alone.
    ///
    /// `sandboxEnded`: the caller knows every process of the sandbox is gone (the launcher, once its pid 1 has
    /// reaped everything or has been reaped itself, which ends its pid namespace); a slot is then kept without
    /// reading `cgroup.procs`. Only a process moved in from outside could still be there, and the next holder
    /// checks for one before it uses the slot.
    public func destroy(sandboxEnded: Bool = false) {
        guard !isDestroyed else { return }
        let sawEvent = seen.oom.flatMap { oom in seen.pids.map { oom || $0 } }
        if leaf.keepForReuse(sawEvent: sawEvent, ended: sandboxEnded) {
            isDestroyed = true
            return
        }
        // The usual case: the command and everything it started are gone, so the leaves go at once (rmdir fails
        // with EBUSY, changing nothing, while a process or a sub-cgroup is left).
        if leaf.directories.allSatisfy({ CgroupFile.removeDirectory($0) == 0 }) {
            removeParents()
            return
        }
        // Sub-cgroups a delegated sandbox made (its own tools' sandboxes) go first, deepest first.
        let all = leaf.directories.flatMap { CgroupFile.descendants(of: $0) + [$0] }
        let occupied = all.contains { !CgroupFile.pids($0 + "/cgroup.procs").isEmpty }
        if occupied { leaf.beginKill() }
        let deadline = CgroupFile.monotonicSeconds() + Self.destroyTimeout
        var remaining = all.filter { CgroupFile.exists($0) }
        while !remaining.isEmpty {
            var found = false
            for directory in remaining {
                if CgroupFile.killProcesses(in: directory, until: deadline) { found = true }
            }
            leaf.endKillPass()
            if !found {
                remaining = remaining.filter { directory in
                    let error = CgroupFile.removeDirectory(directory)
                    return error != 0 && error != ENOENT
                }
            }
            if remaining.isEmpty || CgroupFile.monotonicSeconds() > deadline { break }
            CgroupFile.sleep(milliseconds: 5)
        }
        guard remaining.isEmpty else { return }
        removeParents()
    }

    private func removeParents() {
        for parent in leaf.parentDirectories {
            _ = CgroupFile.removeDirectory(parent)  // EBUSY/ENOTEMPTY: another sandbox still uses it.
        }
        leaf.unlock()
        isDestroyed = true
    }

    /// Hands the sandbox's v1 leaves to its user, so that a sandbox that starts sandboxes of its own (the worker
    /// and its tools) can put them in sub-cgroups, which the leaf's limits bound: each leaf directory (not its
    /// limit files) is chowned to `uid`/`gid`, and the returned binds show it inside at
    /// `/sys/fs/cgroup/<hierarchy>`, where the nested launcher finds it as a writable v1 hierarchy. Nothing for
    /// cgroup v2 yet (its delegation needs a cgroup2 mount inside).
    public func delegate(to uid: UInt32, gid: UInt32) -> [SandboxProfile.Mount] {
        guard driver == "v1" else { return [] }
        return leaf.directories.compactMap { directory -> SandboxProfile.Mount? in
            guard chown(directory, uid, gid) == 0 else { return nil }
            // <mount point>/<parent>/<leaf>: the hierarchy's name is the mount point's last component.
            let mountPoint = CgroupV2Driver.parentPath(CgroupV2Driver.parentPath(directory))
            return SandboxProfile.Mount(
                source: directory, target: "/sys/fs/cgroup/" + CgroupV2Driver.lastComponent(mountPoint))
        }
    }

    /// Human description of what is enforced how (for logs / the result envelope).
    public var summary: String {
        var parts = CgroupController.allCases.filter { limits.cgroupControllers.contains($0) && !missing.contains($0) }
            .map { "\($0.rawValue) \(limits.describe($0)) via \(leaf.mechanism(for: $0))" }
        parts += missing.map { limits.fallbackText($0) }
        return "cgroup \(driver) \(leaf.leafName) for \(name): " + parts.joined(separator: "; ")
    }
}

extension [String] {
    /// The items with `separator` between them: `joined(separator:)` written out for arrays of strings. The
    /// stdlib's generic one looks up associated types at run time on its first call, which cost 50 µs of every
    /// launch in the cgroup probe alone.
    func concatenated(separator: String) -> String {
        var result = ""
        for (index, item) in enumerated() {
            if index > 0 { result += separator }
            result += item
        }
        return result
    }
}

/// Small POSIX helpers for cgroupfs and procfs files (no Foundation in the launcher). Errors come back as errno.
enum CgroupFile {
    /// The whole content of a small file (at most 1 MiB), or nil when it cannot be opened or read.
    static func read(_ path: String) -> String? {
        Posix.readFile(path, limit: 1 << 20)
    }

    /// Writes `text` with one write(2) (cgroupfs takes one value per write); returns 0 or the errno.
    static func write(_ path: String, _ text: String) -> Int32 {
        let fd = open(path, O_WRONLY | O_CLOEXEC)
        guard fd >= 0 else { return errno }
        defer { close(fd) }
        var bytes = Array(text.utf8)
        while true {
            let count = bytes.withUnsafeMutableBytes { Glibc.write(fd, $0.baseAddress, $0.count) }
            if count == bytes.count { return 0 }
            if count < 0, errno == EINTR { continue }
            return count < 0 ? errno : EIO
        }
    }

    /// mkdir with mode 0755; returns 0 or the errno (EEXIST included).
    static func makeDirectory(_ path: String) -> Int32 {
        mkdir(path, 0o755) == 0 ? 0 : errno
    }

    /// rmdir; returns 0 or the errno (EBUSY while processes or child cgroups remain).
    static func removeDirectory(_ path: String) -> Int32 {
        rmdir(path) == 0 ? 0 : errno
    }

    /// Every cgroup directory under `directory`, children after their own children (the order rmdir needs);
    /// at most 8 levels deep.
    static func descendants(of directory: String, depth: Int = 0) -> [String] {
        guard depth < 8, let handle = opendir(directory) else { return [] }
        defer { closedir(handle) }
        var found: [String] = []
        while let entry = readdir(handle) {
            guard entry.pointee.d_type == UInt8(DT_DIR) else { continue }
            let name = withUnsafeBytes(of: entry.pointee.d_name) { raw in
                String(decoding: raw.prefix(while: { $0 != 0 }), as: UTF8.self)
            }
            if name == "." || name == ".." { continue }
            let child = directory + "/" + name
            found += descendants(of: child, depth: depth + 1) + [child]
        }
        return found
    }

    static func exists(_ path: String) -> Bool {
        access(path, F_OK) == 0
    }

    /// Whether the effective uid and gids may write `path` (faccessat with AT_EACCESS; EROFS counts as not).
    static func isWritable(_ path: String) -> Bool {
        writeAccessError(path) == 0
    }

    /// 0 when the effective uid and gids may write `path`, else faccessat's errno (ENOENT when it does not exist).
    static func writeAccessError(_ path: String) -> Int32 {
        faccessat(AT_FDCWD, path, W_OK, AT_EACCESS) == 0 ? 0 : errno
    }

    /// The whitespace-separated words of a file such as `cgroup.controllers`.
    static func words(_ path: String) -> Set<String> {
        Set((read(path) ?? "").split(whereSeparator: { $0 == " " || $0 == "\n" }).map(String.init))
    }

    /// The value of `key` in a flat-keyed file (`memory.events`, `pids.events`, `memory.oom_control`).
    static func keyedValue(_ path: String, key: String) -> UInt64? {
        for line in (read(path) ?? "").split(separator: "\n") {
            let fields = line.split(separator: " ")
            if fields.count == 2, fields[0] == key { return UInt64(fields[1]) }
        }
        return nil
    }

    /// A file holding one number, such as `memory.failcnt`.
    static func number(_ path: String) -> UInt64? {
        (read(path) ?? "").split(separator: "\n").first.flatMap { UInt64($0) }
    }

    /// /proc/self/cgroup: one `<id>:<controllers>:<path>` line per hierarchy (`0::<path>` for v2); empty when it
    /// cannot be read.
    static func ownCgroups() -> String {
        read("/proc/self/cgroup") ?? ""
    }

    /// The pids listed in a `cgroup.procs` file (empty when it cannot be read).
    static func pids(_ path: String) -> [Int32] {
        (read(path) ?? "").split(separator: "\n").compactMap { Int32($0) }
    }

    /// Sends SIGKILL to every process listed in `directory`'s `cgroup.procs` (but pid 1 and this process) and
    /// returns whether any was listed. Each pid is pinned with a pidfd first and signalled only if the listing read
    /// after that still has it: a process that exited and whose pid was taken by one outside meanwhile is not in
    /// the cgroup, so it is left alone. Stops pinning at `deadline`.
    static func killProcesses(in directory: String, until deadline: Double) -> Bool {
        let listed = pids(directory + "/cgroup.procs").filter { $0 > 1 && $0 != getpid() }
        guard !listed.isEmpty else { return false }
        var pinned: [(pid: Int32, fd: Int32)] = []
        for pid in listed {
            let fd = cl_pidfd_open(pid)
            if fd >= 0 { pinned.append((pid, fd)) }
            if monotonicSeconds() > deadline { break }
        }
        let still = Set(pids(directory + "/cgroup.procs"))
        for (pid, fd) in pinned {
            if still.contains(pid) { _ = cl_pidfd_send_signal(fd, SIGKILL) }
            close(fd)
        }
        return true
    }

    /// A fresh leaf name, `sandbox-<pid>-<48 random bits in hex>`.
    static func newLeafName() -> String {
        let random = String(UInt64.random(in: 0 ..< (1 << 48)) | (1 << 48), radix: 16).dropFirst()  // 12 hex digits
        return "sandbox-\(getpid())-\(random)"
    }

    /// Seconds on CLOCK_MONOTONIC, for bounding loops.
    static func monotonicSeconds() -> Double {
        var now = timespec()
        clock_gettime(CLOCK_MONOTONIC, &now)
        return Double(now.tv_sec) + Double(now.tv_nsec) / 1e9
    }

    static func sleep(milliseconds: Int) {
        _ = usleep(UInt32(milliseconds * 1000))
    }
}

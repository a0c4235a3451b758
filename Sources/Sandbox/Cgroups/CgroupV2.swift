#if canImport(Glibc)
import Glibc
#endif

/// The cgroup v2 driver: one leaf per sandbox in `<service>/sandboxes/` of a delegated subtree.
///
/// The kernel's "no internal processes" rule (Documentation/admin-guide/cgroup-v2.rst) lets a non-root cgroup enable
/// domain controllers (memory, pids, cpu) in `cgroup.subtree_control` only while it has no processes of its own. So
/// the service cgroup S is this process's cgroup from `/proc/self/cgroup` (`0::/path`), or its parent when this process
/// runs in a leaf named `supervisor` (systemd `Delegate=yes`; moving the service's processes into `S/supervisor` is the
/// service's job, not this driver's). The driver enables the controllers in `S/cgroup.subtree_control` and
/// `S/sandboxes/cgroup.subtree_control` and creates `S/sandboxes/sandbox-<pid>-<random>`; it reports the controllers
/// unavailable when S has processes of its own, does not offer them, or is not writable by this user.
/// Delegation rules: writing a pid into the leaf needs write access to `cgroup.procs` of the common ancestor (S).
struct CgroupV2Driver: CgroupDriver {
    /// The leaf the service's own processes must run in for S (its parent) to be usable.
    static let supervisorLeaf = "supervisor"
    /// The directory under S that holds the sandbox leaves.
    static let sandboxesName = "sandboxes"
    /// The mount points tried, in order: pure v2 hosts, then the hybrid layout.
    static let mountPoints = ["/sys/fs/cgroup", "/sys/fs/cgroup/unified"]

    let capabilities: CgroupCapabilities
    /// S as a directory, e.g. `/sys/fs/cgroup/system.slice/autonous.service`; empty when unavailable.
    let serviceDirectory: String

    /// Finds the cgroup2 mount and S, and checks which controllers can be given to sandbox leaves.
    static func probe(mounts: [CgroupMount], ownCgroups: String) -> CgroupV2Driver {
        func unavailable(_ why: String) -> CgroupV2Driver {
            let caps = CgroupCapabilities(
                driver: "v2", memory: false, pids: false, cpu: false, detail: "cgroup v2: " + why
            )
            return CgroupV2Driver(capabilities: caps, serviceDirectory: "")
        }
        let v2Mounts = mounts.filter { $0.type == "cgroup2" }.map(\.point)
        guard let mount = mountPoints.first(where: { v2Mounts.contains($0) }) else {
            return unavailable("no cgroup2 mount at \(mountPoints.joined(separator: " or "))")
        }
        guard let own = ownCgroupPath(in: ownCgroups) else { return unavailable("/proc/self/cgroup has no 0:: line") }
        let service = lastComponent(own) == supervisorLeaf ? parentPath(own) : own
        let directory = service == "/" ? mount : mount + service
        let offered = CgroupFile.words(directory + "/cgroup.controllers")
        let wanted = CgroupController.allCases.filter { offered.contains($0.rawValue) }
        guard !wanted.isEmpty else {
            return unavailable("\(directory)/cgroup.controllers offers none of memory, pids, cpu")
        }
        let sandboxes = directory + "/" + sandboxesName
        let writable =
            [directory, directory + "/cgroup.subtree_control", directory + "/cgroup.procs"]
            .allSatisfy { CgroupFile.isWritable($0) }
            && [0, ENOENT].contains(CgroupFile.writeAccessError(sandboxes))  // missing: it will be created
        guard writable else { return unavailable("\(directory) is not writable by uid \(geteuid())") }
        // The root cgroup is exempt from the rule; any other S must be empty to enable controllers for children.
        let enabled = CgroupFile.words(directory + "/cgroup.subtree_control")
        let canEnable = service == "/" || CgroupFile.pids(directory + "/cgroup.procs").isEmpty
        let usable = wanted.filter { enabled.contains($0.rawValue) || canEnable }
        guard !usable.isEmpty else {
            return unavailable(
                "\(directory) has processes of its own, so no controller can be enabled for its children; "
                    + "run the service's processes in \(directory)/\(supervisorLeaf)"
            )
        }
        let names = usable.map(\.rawValue).concatenated(separator: ", ")
        let lacking = CgroupController.allCases.filter { !usable.contains($0) }.map(\.rawValue)
        let caps = CgroupCapabilities(
            driver: "v2",
            memory: usable.contains(.memory),
            pids: usable.contains(.pids),
            cpu: usable.contains(.cpu),
            detail: "cgroup v2: \(names) for sandboxes in \(sandboxes)"
                + (lacking.isEmpty ? "" : "; not offered: \(lacking.concatenated(separator: ", "))")
        )
        return CgroupV2Driver(capabilities: caps, serviceDirectory: directory)
    }

    /// A leaf per sandbox: cgroup v2 leaves are not reused (yet), so `reusable` changes nothing.
    func makeLeaf(
        limits: ResourceLimits, controllers: [CgroupController], reusable: Bool
    ) throws(SandboxError) -> any CgroupLeaf {
        // A concurrent destroy may remove an empty `sandboxes` between our mkdir and our writes: retry on ENOENT.
        var attempt = 0
        while true {
            attempt += 1
            do {
                return try makeLeafOnce(limits: limits, controllers: controllers)
            } catch {
                if error.errno != ENOENT || attempt >= 3 { throw error }
            }
        }
    }

    private func makeLeafOnce(
        limits: ResourceLimits,
        controllers: [CgroupController]
    ) throws(SandboxError) -> any CgroupLeaf {
        try enable(controllers, in: serviceDirectory)
        let sandboxes = serviceDirectory + "/" + Self.sandboxesName
        let made = CgroupFile.makeDirectory(sandboxes)
        if made != 0, made != EEXIST {
            throw SandboxError(.setupFailed, "cannot create cgroup directory \(sandboxes)", errno: made)
        }
        try enable(controllers, in: sandboxes)
        let leafName = CgroupFile.newLeafName()
        let directory = sandboxes + "/" + leafName
        let error = CgroupFile.makeDirectory(directory)
        if error != 0 { throw SandboxError(.setupFailed, "cannot create cgroup directory \(directory)", errno: error) }
        let leaf = CgroupV2Leaf(leafName: leafName, directory: directory, parent: sandboxes, controllers: controllers)
        do {
            try leaf.writeLimits(limits)
        } catch {
            _ = CgroupFile.removeDirectory(directory)
            throw error
        }
        return leaf
    }

    /// Writes `+controller` to `directory/cgroup.subtree_control` for each controller not yet enabled there.
    private func enable(_ controllers: [CgroupController], in directory: String) throws(SandboxError) {
        let file = directory + "/cgroup.subtree_control"
        let enabled = CgroupFile.words(file)
        for controller in controllers where !enabled.contains(controller.rawValue) {
            let error = CgroupFile.write(file, "+" + controller.rawValue)
            if error != 0 {
                throw SandboxError(
                    .setupFailed,
                    "cannot enable +\(controller.rawValue) in \(file) (the cgroup must have no processes of its own)",
                    errno: error
                )
            }
        }
    }

    /// The path of this process's cgroup in the unified hierarchy (the `0::/path` line of /proc/self/cgroup's
    /// `ownCgroups`).
    static func ownCgroupPath(in ownCgroups: String) -> String? {
        for line in ownCgroups.split(separator: "\n") where line.hasPrefix("0::") {
            let path = String(line.dropFirst(3))
            return path.hasPrefix("/") ? path : nil
        }
        return nil
    }

    /// The last component of a path ("" for "/"); trailing slashes are ignored. Byte-level: the launch path calls
    /// these for every leaf directory.
    static func lastComponent(_ path: String) -> String {
        let bytes = trimmedTrailingSlashes(path)
        guard let slash = bytes.lastIndex(of: UInt8(ascii: "/")) else { return String(decoding: bytes, as: UTF8.self) }
        return String(decoding: bytes[(slash + 1)...], as: UTF8.self)
    }

    /// The parent directory of an absolute path ("/" for a top-level path and for "/").
    static func parentPath(_ path: String) -> String {
        let bytes = trimmedTrailingSlashes(path)
        guard let slash = bytes.lastIndex(of: UInt8(ascii: "/")) else { return "/" }
        var parent = bytes[..<slash]
        while parent.last == UInt8(ascii: "/") { parent = parent.dropLast() }  // "a//b"
        return parent.isEmpty ? "/" : String(decoding: parent, as: UTF8.self)
    }

    private static func trimmedTrailingSlashes(_ path: String) -> ArraySlice<UInt8> {
        var bytes = ArraySlice(path.utf8)
        while bytes.count > 1, bytes.last == UInt8(ascii: "/") { bytes = bytes.dropLast() }
        return bytes
    }
}

/// One sandbox's leaf in the unified hierarchy.
final class CgroupV2Leaf: CgroupLeaf {
    let leafName: String
    let directory: String
    let parent: String
    let controllers: [CgroupController]

    init(leafName: String, directory: String, parent: String, controllers: [CgroupController]) {
        self.leafName = leafName
        self.directory = directory
        self.parent = parent
        self.controllers = controllers
    }

    var directories: [String] { [directory] }
    var parentDirectories: [String] { [parent] }

    /// Writes memory.max (and memory.swap.max 0 so swap cannot stretch it), pids.max and cpu.max.
    func writeLimits(_ limits: ResourceLimits) throws(SandboxError) {
        if controllers.contains(.memory), let bytes = limits.memoryBytes {
            try set("memory.max", "\(bytes)")
            if CgroupFile.exists(directory + "/memory.swap.max") { try set("memory.swap.max", "0") }
        }
        if controllers.contains(.pids), let pids = limits.pids {
            try set("pids.max", "\(pids)")
        }
        if controllers.contains(.cpu), let percent = limits.cpuQuotaPercent {
            try set("cpu.max", "\(percent * 1000) 100000")
        }
    }

    private func set(_ file: String, _ value: String) throws(SandboxError) {
        let error = CgroupFile.write(directory + "/" + file, value)
        if error != 0 {
            throw SandboxError(.setupFailed, "cannot write \(value) to \(directory)/\(file)", errno: error)
        }
    }

    func mechanism(for controller: CgroupController) -> String {
        switch controller {
        case .memory: "memory.max (swap 0) in \(directory)"
        case .pids: "pids.max in \(directory)"
        case .cpu: "cpu.max in \(directory)"
        }
    }

    func oomKilled() -> Bool {
        (CgroupFile.keyedValue(directory + "/memory.events", key: "oom_kill") ?? 0) > 0
    }

    func pidsLimitHit() -> Bool {
        pidsEventsHit(in: controllers.contains(.pids) ? directory : nil)
    }

    /// Lowers pids.max to 0 (no new forks), then writes 1 to cgroup.kill (Linux 5.14+), which kills every process in
    /// the subtree atomically with respect to fork.
    func beginKill() {
        if controllers.contains(.pids) { _ = CgroupFile.write(directory + "/pids.max", "0") }
        if CgroupFile.exists(directory + "/cgroup.kill") { _ = CgroupFile.write(directory + "/cgroup.kill", "1") }
    }
}

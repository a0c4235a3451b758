#if canImport(Glibc)
import Glibc
#endif

/// The cgroup v1 driver: per sandbox one directory under `<hierarchy>/autonous/` in each needed hierarchy.
///
/// v1 mounts each controller (or a co-mounted group such as `cpu,cpuacct`) as its own hierarchy. A hierarchy is usable
/// when this user can create directories in `<hierarchy>/autonous` (or in the hierarchy root while that does not exist
/// yet): in practice root, or an operator who delegated `autonous/` by chown. The leaves sit at the hierarchy root's
/// `autonous/`, not under the launcher's own v1 cgroup, so a limit of the service's cgroup does not apply to them.
/// The `autonous` directories stay once made, as a delegated `autonous-<uid>` does: making and removing them at
/// every launch cost three more cgroup mkdirs and rmdirs (the memory one about 50 µs each way), the rmdirs on the
/// path between the command's end and the launcher's exit.
///
/// The leaves themselves are reused: `slot-<n>` directories, each held by one sandbox at a time through a `flock`
/// on its directory in the first usable hierarchy (memory, else pids, else cpu). Making and removing a memory cgroup
/// per sandbox cost about half a millisecond of each launch, most of it in the kernel's teardown of the removed
/// cgroup, and left a dying cgroup behind for every run whose page cache outlived it. A slot is kept for the next
/// sandbox only when its run left it clean (no process, no OOM kill or pids-limit event, little memory charged);
/// the lock goes with the launcher's descriptor, so a launcher killed with SIGKILL frees its slot, and the next
/// holder checks for what such a run may have left (processes, events, a frozen freezer) before using it. Sandboxes
/// that delegate their cgroup (the worker) and those beyond `slotCount` at once get a leaf of their own,
/// `sandbox-<pid>-<random>`, made and removed per run.
struct CgroupV1Driver: CgroupDriver {
    /// The directory under each hierarchy that holds the sandboxes: `autonous` for root, `autonous-<uid>` for any
    /// other user, which is how v1 is delegated (root creates it and chowns it and its cgroup.procs to that user).
    static var defaultParentName: String {
        let uid = geteuid()
        return uid == 0 ? "autonous" : "autonous-\(uid)"
    }

    /// How many reusable leaves one parent keeps at most: the most sandboxes that get one at the same time.
    static let slotCount = 32
    /// A released slot is kept only with at most this much memory charged to it (page cache and kernel memory its
    /// run left behind; reclaimable, but the next run should not start near its limit); otherwise it is removed.
    static let keptMemoryUsage: UInt64 = 8 << 20

    let capabilities: CgroupCapabilities
    /// The mount point of each usable controller's hierarchy.
    let hierarchies: [CgroupController: String]
    /// The writable freezer hierarchy, if any: not a limit, it only lets `destroy` freeze the sandbox before killing
    /// it (as runc does on v1), so a fork bomb cannot take the CPU the kill loop needs.
    let freezer: String?
    /// /proc/self/cgroup as read by the probe (for `CgroupV1Leaf.homeTaskFiles`).
    var ownCgroups = ""
    /// The directory under each hierarchy's mount point that holds the leaves (`defaultParentName`).
    var parentName = Self.defaultParentName

    /// Finds the v1 hierarchies of memory, pids and cpu in the mount table and checks they are writable.
    static func probe(
        mounts: [CgroupMount], ownCgroups: String, parentName: String = defaultParentName
    ) -> CgroupV1Driver {
        var usable: [CgroupController: String] = [:]
        var locked: [String] = []
        var absent: [String] = []
        for controller in CgroupController.allCases {
            guard let mount = mounts.first(where: { $0.type == "cgroup" && $0.options.contains(controller.rawValue) })
            else {
                absent.append(controller.rawValue)
                continue
            }
            let (writable, checked) = leavesWritable(under: mount.point, parentName: parentName)
            if writable {
                usable[controller] = mount.point
            } else {
                locked.append(checked)
            }
        }
        var notes: [String] = []
        if !locked.isEmpty { notes.append("\(locked.concatenated(separator: ", ")) not writable by uid \(geteuid())") }
        if !absent.isEmpty { notes.append("no v1 hierarchy for \(absent.concatenated(separator: ", "))") }
        let found = CgroupController.allCases.compactMap { controller in
            usable[controller].map { "\(controller.rawValue) at \($0)/\(parentName)" }
        }
        let detail: String
        if found.isEmpty {
            detail = "cgroup v1: " + notes.concatenated(separator: "; ")
        } else {
            detail =
                "cgroup v1: " + found.concatenated(separator: ", ")
                + (notes.isEmpty ? "" : "; " + notes.concatenated(separator: "; "))
        }
        let caps = CgroupCapabilities(
            driver: "v1",
            memory: usable[.memory] != nil,
            pids: usable[.pids] != nil,
            cpu: usable[.cpu] != nil,
            detail: detail
        )
        let freezer = mounts.first { $0.type == "cgroup" && $0.options.contains("freezer") }.map(\.point)
        let freezerUsable = freezer.map { leavesWritable(under: $0, parentName: parentName).writable } ?? false
        return CgroupV1Driver(
            capabilities: caps, hierarchies: usable, freezer: freezerUsable ? freezer : nil, ownCgroups: ownCgroups,
            parentName: parentName)
    }

    /// Whether this user may make leaves in the hierarchy mounted at `mountPoint`: in its parent directory, or where
    /// there is none yet, in the mount point (where the parent will be created). Returns the directory that decided.
    /// Another launcher removes the parent once it is empty, so a parent that vanishes while it is checked counts
    /// as missing, not as locked.
    static func leavesWritable(under mountPoint: String, parentName: String) -> (writable: Bool, checked: String) {
        let parent = mountPoint + "/" + parentName
        switch CgroupFile.writeAccessError(parent) {
        case 0: return (true, parent)
        case ENOENT: return (CgroupFile.isWritable(mountPoint), mountPoint)
        default: return (false, parent)
        }
    }

    func makeLeaf(
        limits: ResourceLimits, controllers: [CgroupController], reusable: Bool
    ) throws(SandboxError) -> any CgroupLeaf {
        for controller in controllers where hierarchies[controller] == nil {
            throw SandboxError(.limitUnavailable, "no writable cgroup v1 hierarchy for \(controller.rawValue)")
        }
        if reusable, let leaf = claimSlot(limits: limits, controllers: controllers) { return leaf }
        return try makeOwnLeaf(limits: limits, controllers: controllers)
    }

    /// The directories of leaf `name` for `controllers` (co-mounted controllers share one), plus the freezer's.
    private func layout(
        _ name: String, _ controllers: [CgroupController]
    ) -> (byController: [CgroupController: String], ordered: [String], freezer: String?) {
        var byController: [CgroupController: String] = [:]
        var ordered: [String] = []
        for controller in controllers {
            guard let mount = hierarchies[controller] else { continue }
            let directory = mount + "/" + parentName + "/" + name
            if !ordered.contains(directory) { ordered.append(directory) }
            byController[controller] = directory
        }
        let freezerDirectory = freezer.map { $0 + "/" + parentName + "/" + name }
        return (byController, ordered, freezerDirectory)
    }

    /// A leaf of this sandbox's own, `sandbox-<pid>-<random>`, removed when it ends.
    private func makeOwnLeaf(
        limits: ResourceLimits, controllers: [CgroupController]
    ) throws(SandboxError) -> any CgroupLeaf {
        let leafName = CgroupFile.newLeafName()
        let (byController, ordered, freezerDirectory) = layout(leafName, controllers)
        var created: [String] = []
        do throws(SandboxError) {
            for directory in ordered {
                try Self.makeDirectory(directory, in: CgroupV2Driver.parentPath(directory))
                created.append(directory)
            }
            var freezerLeaf: String?
            if let freezerDirectory {  // optional: without it destroy still works, only slower under a fork bomb
                if created.contains(freezerDirectory) {  // co-mounted with a limit controller
                    freezerLeaf = freezerDirectory
                } else if (try? Self.makeDirectory(freezerDirectory, in: CgroupV2Driver.parentPath(freezerDirectory)))
                    != nil
                {
                    created.append(freezerDirectory)
                    freezerLeaf = freezerDirectory
                }
            }
            let leaf = CgroupV1Leaf(
                leafName: leafName, directories: byController, ordered: created, freezer: freezerLeaf,
                ownCgroups: ownCgroups)
            try leaf.writeLimits(limits)
            return leaf
        } catch {
            for directory in created { _ = CgroupFile.removeDirectory(directory) }
            throw error
        }
    }

    /// The first free slot made ready for `limits`: locked, checked, its limits written. Nil when every slot is
    /// held, or one cannot be made here (the caller then makes a leaf of the sandbox's own).
    private func claimSlot(limits: ResourceLimits, controllers: [CgroupController]) -> CgroupV1Leaf? {
        // The lock sits in the same hierarchy for every sandbox of this user, whatever controllers it needs.
        guard let lockMount = CgroupController.allCases.lazy.compactMap({ hierarchies[$0] }).first else { return nil }
        let lockParent = lockMount + "/" + parentName
        var number = 0
        var retries = 0
        while number < Self.slotCount {
            let name = "slot-\(number)"
            let outcome: SlotOutcome
            switch Self.lockSlot(lockParent + "/" + name, in: lockParent) {
            case .busy: outcome = .occupied
            case .gone: outcome = .reset
            case .failed: return nil
            case .locked(let lock, let made):
                outcome = prepareSlot(
                    name, lock: lock, lockMade: made, lockDirectory: lockParent + "/" + name, limits, controllers)
            }
            switch outcome {
            case .ready(let leaf): return leaf
            case .unusable: return nil
            case .occupied:
                number += 1
                retries = 0
            case .reset:  // removed (by its last holder, or by us as unusable): made afresh on the next try
                retries += 1
                if retries >= 3 {
                    number += 1
                    retries = 0
                }
            }
        }
        return nil
    }

    private enum SlotLock {
        /// The descriptor holding the lock, and whether the directory was made just now.
        case locked(Int32, made: Bool)
        /// Held by another sandbox.
        case busy
        /// Removed by its last holder before it let go.
        case gone
        case failed
    }

    private enum SlotOutcome {
        case ready(CgroupV1Leaf)
        /// In use, or holding processes of a run that did not end cleanly: try the next slot.
        case occupied
        /// Removed: try the same slot again.
        case reset
        /// A directory cannot be made: no slot will do.
        case unusable
    }

    /// Opens `directory` (making it, and `parent` on first use, when missing) and takes its lock without waiting.
    private static func lockSlot(_ directory: String, in parent: String) -> SlotLock {
        var fd = open(directory, O_RDONLY | O_DIRECTORY | O_CLOEXEC)
        var made = false
        if fd < 0 {
            guard errno == ENOENT else { return .failed }
            // A new slot: the moment to sweep leaves of killed launchers too.
            guard let created = try? makeDirectory(directory, in: parent, allowExisting: true) else { return .failed }
            made = created
            fd = open(directory, O_RDONLY | O_DIRECTORY | O_CLOEXEC)
            if fd < 0 { return errno == ENOENT ? .gone : .failed }
        }
        guard flock(fd, LOCK_EX | LOCK_NB) == 0 else {
            let error = errno
            close(fd)
            return error == EWOULDBLOCK ? .busy : .failed
        }
        // A holder that found the slot unusable removed it before it let go; its files are gone then.
        guard faccessat(fd, "cgroup.procs", F_OK, 0) == 0 else {
            close(fd)
            return .gone
        }
        return .locked(fd, made: made)
    }

    /// Makes the slot's other directories, checks what a run that did not end cleanly may have left in the ones
    /// made before, and writes the limits. On `.occupied` and `.reset` the lock is let go.
    private func prepareSlot(
        _ name: String, lock: Int32, lockMade: Bool, lockDirectory: String, _ limits: ResourceLimits,
        _ controllers: [CgroupController]
    ) -> SlotOutcome {
        let (byController, ordered, freezerDirectory) = layout(name, controllers)
        var directories: [String] = []  // the lock's own goes last, to be removed last
        var reused: [String] = []
        var usesLockDirectory = false
        func add(_ directory: String) -> Bool {
            if directory == lockDirectory {
                usesLockDirectory = true
                return true
            }
            if directories.contains(directory) { return true }
            switch Self.ensureDirectory(directory) {
            case 0: break
            case EEXIST: reused.append(directory)
            default: return false
            }
            directories.append(directory)
            return true
        }
        for directory in ordered where !add(directory) {
            close(lock)
            return .unusable
        }
        // Optional, as for a leaf of its own.
        let freezerLeaf = freezerDirectory.flatMap { add($0) ? $0 : nil }
        if usesLockDirectory {
            directories.append(lockDirectory)
            if !lockMade { reused.append(lockDirectory) }
        }
        let leaf = CgroupV1Leaf(
            leafName: name, directories: byController, ordered: directories, freezer: freezerLeaf,
            ownCgroups: ownCgroups, slotLock: lock, lockDirectory: lockDirectory)
        if reused.contains(where: { !CgroupFile.pids($0 + "/cgroup.procs").isEmpty }) {
            leaf.unlock()
            return .occupied
        }
        var clean = true
        if !reused.isEmpty {
            // Events of an earlier run would be reported as this one's; a frozen freezer would stop pid 1.
            clean = !leaf.oomKilled() && !leaf.pidsLimitHit()
            if clean, let freezerLeaf, reused.contains(freezerLeaf) {
                clean = CgroupFile.read(freezerLeaf + "/freezer.state")?.hasPrefix("THAWED") == true
            }
        }
        if clean, (try? leaf.writeLimits(limits, reused: !reused.isEmpty)) != nil { return .ready(leaf) }
        leaf.removeSlot()
        return .reset
    }

    /// mkdir, making the parent when it is missing: 0 when made, EEXIST when it was there, else the errno.
    private static func ensureDirectory(_ directory: String) -> Int32 {
        let error = CgroupFile.makeDirectory(directory)
        guard error == ENOENT else { return error }
        do {
            let made = try makeDirectory(directory, in: CgroupV2Driver.parentPath(directory), allowExisting: true)
            return made ? 0 : EEXIST
        } catch {
            return error.errno ?? EIO
        }
    }

    /// Removes leaves left by launchers that died without cleaning up (SIGKILL): `sandbox-<pid>-*` whose pid is
    /// gone and which hold no process, with the cgroups made inside them. Run before each leaf of a sandbox's own
    /// (in every hierarchy) and for each new slot (in the lock's hierarchy), so leaks never pile up.
    static func removeStaleLeaves(in parent: String) {
        let fd = opendir(parent)
        guard let fd else { return }
        defer { closedir(fd) }
        while let entry = readdir(fd) {
            let name = withUnsafeBytes(of: entry.pointee.d_name) { raw in
                String(decoding: raw.prefix(while: { $0 != 0 }), as: UTF8.self)
            }
            guard name.hasPrefix("sandbox-") else { continue }
            let fields = name.split(separator: "-")
            guard fields.count >= 3, let pid = Int32(fields[1]), pid > 0 else { continue }
            guard kill(pid, 0) != 0 && errno == ESRCH else { continue }
            // A delegated leaf (the worker's) holds the cgroups of the sandboxes started inside it, reused slots
            // among them: they go first, deepest first, when none of the tree holds a process.
            let directory = parent + "/" + name
            let tree = CgroupFile.descendants(of: directory) + [directory]
            guard tree.allSatisfy({ CgroupFile.pids($0 + "/cgroup.procs").isEmpty }) else { continue }
            for path in tree { _ = CgroupFile.removeDirectory(path) }
        }
    }

    /// Creates `parent` if needed, then `directory`; retries when the parent vanished meanwhile (an operator, or an
    /// older launcher that removed it once empty). Stale leaves can only be in a parent that was there already.
    /// With `allowExisting`, a `directory` that exists already is no error. Returns whether it was made.
    @discardableResult
    private static func makeDirectory(
        _ directory: String, in parent: String, allowExisting: Bool = false
    ) throws(SandboxError) -> Bool {
        var error: Int32 = 0
        for attempt in 0 ..< 3 {
            let parentError = CgroupFile.makeDirectory(parent)
            if parentError != 0, parentError != EEXIST {
                throw SandboxError(.setupFailed, "cannot create cgroup directory \(parent)", errno: parentError)
            }
            if parentError == EEXIST, attempt == 0 { removeStaleLeaves(in: parent) }
            error = CgroupFile.makeDirectory(directory)
            if error != ENOENT { break }
        }
        if error == EEXIST, allowExisting { return false }
        if error != 0 { throw SandboxError(.setupFailed, "cannot create cgroup directory \(directory)", errno: error) }
        return true
    }
}

/// One sandbox's directories in the v1 hierarchies.
final class CgroupV1Leaf: CgroupLeaf {
    let leafName: String
    let directories: [String]
    private let byController: [CgroupController: String]
    private let freezer: String?
    /// The launcher's /proc/self/cgroup, for `homeTaskFiles`.
    private let ownCgroups: String
    /// For a slot: the descriptor of `lockDirectory` that holds its lock until the sandbox lets it go.
    private var slotLock: Int32?
    private let lockDirectory: String?

    init(
        leafName: String, directories: [CgroupController: String], ordered: [String], freezer: String?,
        ownCgroups: String, slotLock: Int32? = nil, lockDirectory: String? = nil
    ) {
        self.leafName = leafName
        self.byController = directories
        self.directories = ordered
        self.freezer = freezer
        self.ownCgroups = ownCgroups
        self.slotLock = slotLock
        self.lockDirectory = lockDirectory
    }

    /// None: the `autonous` parents stay for the next sandbox (see `CgroupV1Driver`).
    var parentDirectories: [String] { [] }

    /// For a slot whose sandbox left it clean (no process, no OOM kill or pids-limit event, at most
    /// `CgroupV1Driver.keptMemoryUsage` charged): lets it go for the next sandbox and returns true. Otherwise (or
    /// for a leaf of the sandbox's own) false, and the caller kills what is left and removes the directories.
    /// `sawEvent`: the counters as read after the sandbox ended, if they were; `ended`: no process is left to look
    /// for.
    func keepForReuse(sawEvent: Bool?, ended: Bool) -> Bool {
        guard slotLock != nil else { return false }
        if !ended {
            for directory in directories where !CgroupFile.pids(directory + "/cgroup.procs").isEmpty { return false }
        }
        if sawEvent ?? (oomKilled() || pidsLimitHit()) { return false }
        if let memory = byController[.memory],
            (CgroupFile.number(memory + "/memory.usage_in_bytes") ?? .max) > CgroupV1Driver.keptMemoryUsage
        {
            return false
        }
        unlock()
        return true
    }

    /// Lets the slot's lock go (after its directories were removed, if they were).
    func unlock() {
        if let slotLock { close(slotLock) }
        slotLock = nil
    }

    /// Removes an empty slot, the lock's directory last, then lets the lock go.
    func removeSlot() {
        for directory in directories { _ = CgroupFile.removeDirectory(directory) }
        if let lockDirectory, !directories.contains(lockDirectory) { _ = CgroupFile.removeDirectory(lockDirectory) }
        unlock()
    }

    /// Writes memory.limit_in_bytes then memory.memsw.limit_in_bytes (memsw must stay >= the memory limit, and
    /// equal means no swap on top), re-enables the OOM killer, and writes pids.max and the CFS quota. In a `reused`
    /// slot a memory limit above the memsw limit of the run before is refused (EINVAL) until memsw is raised first.
    func writeLimits(_ limits: ResourceLimits, reused: Bool = false) throws(SandboxError) {
        if let directory = byController[.memory], let bytes = limits.memoryBytes {
            let memsw = CgroupFile.exists(directory + "/memory.memsw.limit_in_bytes")
            let error = CgroupFile.write(directory + "/memory.limit_in_bytes", "\(bytes)")
            if error == EINVAL, reused, memsw {
                try set(directory, "memory.memsw.limit_in_bytes", "\(bytes)")
                try set(directory, "memory.limit_in_bytes", "\(bytes)")
            } else if error != 0 {
                throw SandboxError(
                    .setupFailed, "cannot write \(bytes) to \(directory)/memory.limit_in_bytes", errno: error)
            }
            if memsw {
                try set(directory, "memory.memsw.limit_in_bytes", "\(bytes)")
            }
            // A new memcg inherits oom_kill_disable from its parent; with it set, tasks would hang instead of dying.
            try set(directory, "memory.oom_control", "0")
        }
        if let directory = byController[.pids], let pids = limits.pids {
            try set(directory, "pids.max", "\(pids)")
        }
        if let directory = byController[.cpu], let percent = limits.cpuQuotaPercent {
            try set(directory, "cpu.cfs_period_us", "100000")
            try set(directory, "cpu.cfs_quota_us", "\(percent * 1000)")
        }
    }

    private func set(_ directory: String, _ file: String, _ value: String) throws(SandboxError) {
        let error = CgroupFile.write(directory + "/" + file, value)
        if error != 0 {
            throw SandboxError(.setupFailed, "cannot write \(value) to \(directory)/\(file)", errno: error)
        }
    }

    func mechanism(for controller: CgroupController) -> String {
        let directory = byController[controller] ?? "?"
        switch controller {
        case .memory:
            let swap = CgroupFile.exists(directory + "/memory.memsw.limit_in_bytes")
            let memsw = swap ? " + memsw" : " (no swap accounting)"
            return "memory.limit_in_bytes\(memsw) in \(directory)"
        case .pids: return "pids.max in \(directory)"
        case .cpu: return "cpu.cfs_quota_us/cfs_period_us in \(directory)"
        }
    }

    func oomKilled() -> Bool {
        guard let directory = byController[.memory] else { return false }
        let control = directory + "/memory.oom_control"
        if let kills = CgroupFile.keyedValue(control, key: "oom_kill") { return kills > 0 }
        // Kernels before 4.13 have no oom_kill line: a failed charge while under OOM is the best sign left.
        let underOOM = (CgroupFile.keyedValue(control, key: "under_oom") ?? 0) > 0
        return underOOM && (CgroupFile.number(directory + "/memory.failcnt") ?? 0) > 0
    }

    func pidsLimitHit() -> Bool {
        pidsEventsHit(in: byController[.pids])
    }

    /// For each leaf directory, the `tasks` file of the calling process's own cgroup in that hierarchy (from
    /// /proc/self/cgroup, whose paths start at the hierarchy's mount point, also inside a cgroup namespace rooted
    /// where the hierarchy is mounted); nil when one cannot be found.
    func homeTaskFiles() -> [String]? {
        // "<id>:<controllers>:<path>" per v1 hierarchy; parsed as bytes (the launch path runs this).
        var hierarchies: [(controllers: [String], path: String)] = []
        for line in ownCgroups.utf8.split(separator: UInt8(ascii: "\n")) {
            let fields = line.split(separator: UInt8(ascii: ":"), maxSplits: 2, omittingEmptySubsequences: false)
            guard fields.count == 3 else { continue }
            let controllers = fields[1].split(separator: UInt8(ascii: ",")).map { String(decoding: $0, as: UTF8.self) }
            hierarchies.append((controllers, String(decoding: fields[2], as: UTF8.self)))
        }
        var files: [String] = []
        for directory in directories {
            let name =
                byController.first { $0.value == directory }?.key.rawValue ?? (directory == freezer ? "freezer" : nil)
            guard let name, let own = hierarchies.first(where: { $0.controllers.contains(name) }) else { return nil }
            let mount = CgroupV2Driver.parentPath(CgroupV2Driver.parentPath(directory))
            files.append(mount + (own.path == "/" ? "" : own.path) + "/tasks")
        }
        return files
    }

    /// v1 has no cgroup.kill: lowering pids.max to 0 stops all forks so the kill loop converges, and freezing the
    /// sandbox (waiting up to 1 s for FROZEN) keeps its processes off the CPU during the first kill pass.
    func beginKill() {
        if let directory = byController[.pids] { _ = CgroupFile.write(directory + "/pids.max", "0") }
        guard let freezer, CgroupFile.write(freezer + "/freezer.state", "FROZEN") == 0 else { return }
        let deadline = CgroupFile.monotonicSeconds() + 1
        while CgroupFile.read(freezer + "/freezer.state")?.hasPrefix("FROZEN") != true,
            CgroupFile.monotonicSeconds() < deadline
        {
            CgroupFile.sleep(milliseconds: 2)
        }
    }

    /// Thaws the sandbox: frozen tasks act on the pending SIGKILL only once thawed.
    func endKillPass() {
        if let freezer { _ = CgroupFile.write(freezer + "/freezer.state", "THAWED") }
    }
}

/// One line of `/proc/self/mountinfo` that matters for cgroups.
struct CgroupMount: Sendable {
    /// Where it is mounted, e.g. `/sys/fs/cgroup/pids`.
    let point: String
    /// `cgroup` (v1) or `cgroup2`.
    let type: String
    /// The super options split at commas, e.g. `["rw", "cpu", "cpuacct"]`.
    let options: [String]
}

extension CgroupFile {
    /// The cgroup and cgroup2 mounts of this mount namespace, in mount-table order.
    ///
    /// Each line is "<id> <parent> <dev> <root> <point> <opts> [optional…] - <type> <source> <super options>";
    /// parsed as bytes, since the launch runs this on its critical path.
    static func mounts() -> [CgroupMount] {
        read("/proc/self/mountinfo").map(mounts(inMountinfo:)) ?? []
    }

    /// The cgroup and cgroup2 mounts listed in `text`, a mountinfo table; lines of any other shape are skipped.
    ///
    /// One pass over the bytes that looks at a line's fields only up to its filesystem type, so the other mounts
    /// (half the table or more) cost no allocation.
    static func mounts(inMountinfo text: String) -> [CgroupMount] {
        var result: [CgroupMount] = []
        var text = text
        text.withUTF8 { bytes in
            var start = 0
            while start < bytes.count {
                var end = start
                while end < bytes.count, bytes[end] != UInt8(ascii: "\n") { end += 1 }
                if let mount = cgroupMount(inLine: UnsafeBufferPointer(rebasing: bytes[start ..< end])) {
                    result.append(mount)
                }
                start = end + 1
            }
        }
        return result
    }

    /// The cgroup mount one mountinfo line describes, or nil. The line is "<id> <parent> <dev> <root> <point>
    /// <opts> [optional…] - <type> <source> <super options>": the optional fields end at a lone "-" (field 6 or
    /// later) and the mount point is field 4.
    private static func cgroupMount(inLine line: UnsafeBufferPointer<UInt8>) -> CgroupMount? {
        var index = 0
        /// The next space-separated field, or nil at the end of the line.
        func nextField() -> Range<Int>? {
            while index < line.count, line[index] == UInt8(ascii: " ") { index += 1 }
            guard index < line.count else { return nil }
            let start = index
            while index < line.count, line[index] != UInt8(ascii: " ") { index += 1 }
            return start ..< index
        }
        var point: Range<Int>?
        var number = 0
        while let field = nextField() {
            if number == 4 { point = field }
            if number >= 6, field.count == 1, line[field.lowerBound] == UInt8(ascii: "-") { break }
            number += 1
        }
        guard let point, let typeField = nextField(), nextField() != nil, let optionsField = nextField() else {
            return nil
        }
        let type = line[typeField]
        let isV1 = type.elementsEqual("cgroup".utf8)
        guard isV1 || type.elementsEqual("cgroup2".utf8) else { return nil }
        let options = line[optionsField].split(separator: UInt8(ascii: ",")).map {
            String(decoding: $0, as: UTF8.self)
        }
        return CgroupMount(point: unescapeMountField(line[point]), type: isV1 ? "cgroup" : "cgroup2", options: options)
    }

    /// mountinfo writes space, tab, newline and backslash in paths as a backslash and three octal digits.
    static func unescapeMountField<Bytes: Collection<UInt8>>(_ field: Bytes) -> String {
        let bytes = Array(field)
        var output: [UInt8] = []
        output.reserveCapacity(bytes.count)
        var index = 0
        while index < bytes.count {
            if bytes[index] == UInt8(ascii: "\\"), index + 3 < bytes.count,
                let value = octal(bytes[index + 1 ... index + 3]), value <= 0xFF
            {
                output.append(UInt8(value))
                index += 4
            } else {
                output.append(bytes[index])
                index += 1
            }
        }
        return String(decoding: output, as: UTF8.self)
    }

    /// The value of digits that are all octal, else nil.
    private static func octal(_ digits: ArraySlice<UInt8>) -> Int? {
        var value = 0
        for digit in digits {
            guard (UInt8(ascii: "0") ... UInt8(ascii: "7")).contains(digit) else { return nil }
            value = value * 8 + Int(digit - UInt8(ascii: "0"))
        }
        return value
    }
}

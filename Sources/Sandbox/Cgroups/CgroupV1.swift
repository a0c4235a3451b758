#if canImport(Glibc)
import Glibc
#endif

/// The cgroup v1 driver: one `<hierarchy>/autonous/sandbox-<pid>-<random>` directory per needed hierarchy.
///
/// v1 mounts each controller (or a co-mounted group such as `cpu,cpuacct`) as its own hierarchy. A hierarchy is usable
/// when this user can create directories in `<hierarchy>/autonous` (or in the hierarchy root while that does not exist
/// yet): in practice root, or an operator who delegated `autonous/` by chown. The leaves sit at the hierarchy root's
/// `autonous/`, not under the launcher's own v1 cgroup, so a limit of the service's cgroup does not apply to them.
/// The `autonous` directories stay once made, as a delegated `autonous-<uid>` does: making and removing them at
/// every launch cost three more cgroup mkdirs and rmdirs (the memory one about 50 µs each way), the rmdirs on the
/// path between the command's end and the launcher's exit.
struct CgroupV1Driver: CgroupDriver {
    /// The directory under each hierarchy that holds the sandboxes: `autonous` for root, `autonous-<uid>` for any
    /// other user, which is how v1 is delegated (root creates it and chowns it and its cgroup.procs to that user).
    static var parentName: String {
        let uid = geteuid()
        return uid == 0 ? "autonous" : "autonous-\(uid)"
    }

    let capabilities: CgroupCapabilities
    /// The mount point of each usable controller's hierarchy.
    let hierarchies: [CgroupController: String]
    /// The writable freezer hierarchy, if any: not a limit, it only lets `destroy` freeze the sandbox before killing
    /// it (as runc does on v1), so a fork bomb cannot take the CPU the kill loop needs.
    let freezer: String?
    /// /proc/self/cgroup as read by the probe (for `CgroupV1Leaf.homeTaskFiles`).
    var ownCgroups = ""

    /// Finds the v1 hierarchies of memory, pids and cpu in the mount table and checks they are writable.
    static func probe(mounts: [CgroupMount], ownCgroups: String) -> CgroupV1Driver {
        var usable: [CgroupController: String] = [:]
        var locked: [String] = []
        var absent: [String] = []
        for controller in CgroupController.allCases {
            guard let mount = mounts.first(where: { $0.type == "cgroup" && $0.options.contains(controller.rawValue) })
            else {
                absent.append(controller.rawValue)
                continue
            }
            let (writable, checked) = leavesWritable(under: mount.point)
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
        let freezerUsable = freezer.map { leavesWritable(under: $0).writable } ?? false
        return CgroupV1Driver(
            capabilities: caps, hierarchies: usable, freezer: freezerUsable ? freezer : nil, ownCgroups: ownCgroups)
    }

    /// Whether this user may make leaves in the hierarchy mounted at `mountPoint`: in its parent directory, or where
    /// there is none yet, in the mount point (where the parent will be created). Returns the directory that decided.
    /// Another launcher removes the parent once it is empty, so a parent that vanishes while it is checked counts
    /// as missing, not as locked.
    static func leavesWritable(under mountPoint: String) -> (writable: Bool, checked: String) {
        let parent = mountPoint + "/" + parentName
        switch CgroupFile.writeAccessError(parent) {
        case 0: return (true, parent)
        case ENOENT: return (CgroupFile.isWritable(mountPoint), mountPoint)
        default: return (false, parent)
        }
    }

    func makeLeaf(limits: ResourceLimits, controllers: [CgroupController]) throws(SandboxError) -> any CgroupLeaf {
        let leafName = CgroupFile.newLeafName()
        var directories: [CgroupController: String] = [:]
        var created: [String] = []
        do throws(SandboxError) {
            for controller in controllers {
                guard let mount = hierarchies[controller] else {
                    throw SandboxError(.limitUnavailable, "no writable cgroup v1 hierarchy for \(controller.rawValue)")
                }
                let parent = mount + "/" + Self.parentName
                let directory = parent + "/" + leafName
                if !created.contains(directory) {  // co-mounted controllers share one directory
                    try Self.makeDirectory(directory, in: parent)
                    created.append(directory)
                }
                directories[controller] = directory
            }
            var freezerDirectory: String?
            if let freezer {  // optional: without it destroy still works, only slower under a fork bomb
                let parent = freezer + "/" + Self.parentName
                let directory = parent + "/" + leafName
                if created.contains(directory) {  // co-mounted with a limit controller
                    freezerDirectory = directory
                } else if (try? Self.makeDirectory(directory, in: parent)) != nil {
                    created.append(directory)
                    freezerDirectory = directory
                }
            }
            let leaf = CgroupV1Leaf(
                leafName: leafName, directories: directories, ordered: created, freezer: freezerDirectory,
                ownCgroups: ownCgroups)
            try leaf.writeLimits(limits)
            return leaf
        } catch {
            for directory in created { _ = CgroupFile.removeDirectory(directory) }
            throw error
        }
    }

    /// Removes leaves left by launchers that died without cleaning up (SIGKILL): `sandbox-<pid>-*` whose pid is
    /// gone and which hold no process. Run before each new leaf, so leaks never pile up.
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
            let directory = parent + "/" + name
            if CgroupFile.pids(directory + "/cgroup.procs").isEmpty { _ = CgroupFile.removeDirectory(directory) }
        }
    }

    /// Creates `parent` if needed, then `directory`; retries when the parent vanished meanwhile (an operator, or an
    /// older launcher that removed it once empty). Stale leaves can only be in a parent that was there already.
    private static func makeDirectory(_ directory: String, in parent: String) throws(SandboxError) {
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
        if error != 0 { throw SandboxError(.setupFailed, "cannot create cgroup directory \(directory)", errno: error) }
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

    init(
        leafName: String, directories: [CgroupController: String], ordered: [String], freezer: String?,
        ownCgroups: String
    ) {
        self.leafName = leafName
        self.byController = directories
        self.directories = ordered
        self.freezer = freezer
        self.ownCgroups = ownCgroups
    }

    /// None: the `autonous` parents stay for the next sandbox (see `CgroupV1Driver`).
    var parentDirectories: [String] { [] }

    /// Writes memory.limit_in_bytes then memory.memsw.limit_in_bytes (memsw must stay >= the memory limit, and
    /// equal means no swap on top), re-enables the OOM killer, and writes pids.max and the CFS quota.
    func writeLimits(_ limits: ResourceLimits) throws(SandboxError) {
        if let directory = byController[.memory], let bytes = limits.memoryBytes {
            try set(directory, "memory.limit_in_bytes", "\(bytes)")
            if CgroupFile.exists(directory + "/memory.memsw.limit_in_bytes") {
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

import Foundation
import Testing

@testable import Sandbox

/// The memory, pids and freezer hierarchies the slot tests work in.
private let slotHierarchies = ["memory", "pids", "freezer"].map { "/sys/fs/cgroup/" + $0 }

/// Root, and the memory, pids and freezer hierarchies mounted as cgroup v1 (from /proc/self/mountinfo) with a
/// writable `cgroup.procs`: what `CgroupSlotTests.Pool` needs. Computed once.
private let slotPoolAvailable: Bool = {
    let v1 = Set(CgroupFile.mounts().filter { $0.type == "cgroup" }.map(\.point))
    return geteuid() == 0
        && slotHierarchies.allSatisfy { v1.contains($0) && access($0 + "/cgroup.procs", W_OK) == 0 }
}()

/// The reusable cgroup v1 leaves (`slot-<n>`): kept when a sandbox leaves them clean, never shared, and checked for
/// what a killed launcher may have left before they are used again. Each test works in a parent of its own under
/// this machine's memory, pids and freezer hierarchies, so the launches of other suites cannot take its slots.
@Suite(
    .serialized,
    .enabled(
        if: slotPoolAvailable,
        "needs root and writable cgroup v1 memory, pids and freezer hierarchies (the v1 test machine)"
    )
)
struct CgroupSlotTests {
    static let hierarchies = slotHierarchies
    static let python = "/usr/bin/python3"

    /// A parent of its own (`autonous-test-<random>`) in each hierarchy, removed with everything in it at the end.
    final class Pool {
        let parent = "autonous-test-\(UInt32.random(in: 0 ... .max))"
        let driver: CgroupV1Driver

        init() throws {
            guard geteuid() == 0, CgroupSlotTests.hierarchies.allSatisfy({ access($0 + "/cgroup.procs", W_OK) == 0 })
            else {
                throw PoolUnavailable()
            }
            driver = CgroupV1Driver.probe(
                mounts: CgroupFile.mounts(), ownCgroups: CgroupFile.ownCgroups(), parentName: parent)
            try #require(driver.capabilities.memory && driver.capabilities.pids, "\(driver.capabilities.detail)")
            try #require(driver.freezer != nil, "no writable freezer hierarchy")
        }

        deinit {
            for hierarchy in CgroupSlotTests.hierarchies {
                let top = hierarchy + "/" + parent
                for directory in CgroupFile.descendants(of: top) {
                    for pid in CgroupFile.pids(directory + "/cgroup.procs") { kill(pid, SIGKILL) }
                    _ = CgroupFile.write(directory + "/freezer.state", "THAWED")
                    for _ in 0 ..< 200 where rmdir(directory) != 0 && errno == EBUSY { usleep(5000) }
                }
                rmdir(top)
            }
        }

        func create(memory: UInt64 = 64 << 20, pids: Int = 32) throws -> SandboxCgroup {
            let limits = ResourceLimits(memoryBytes: memory, pids: pids)
            let leaf = try driver.makeLeaf(limits: limits, controllers: [.memory, .pids], reusable: true)
            return SandboxCgroup(leaf: leaf, name: "test", driver: "v1", limits: limits, missing: [])
        }

        /// `hierarchy/parent/name`.
        func directory(_ hierarchy: String, _ name: String) -> String {
            "/sys/fs/cgroup/\(hierarchy)/\(parent)/\(name)"
        }
    }

    struct PoolUnavailable: Error {}

    /// Runs `arguments` in the directories (each `cgroup.procs` gets the shell's pid before it execs) and waits,
    /// at most 20 s: then it is killed and the test fails.
    @discardableResult
    func run(in directories: [String], _ arguments: [String]) throws -> Int32 {
        let enter = directories.map { "echo $$ > \($0)/cgroup.procs" }.joined(separator: " && ")
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/bin/sh")
        process.arguments = ["-c", enter + " && exec \"$@\"", "sh"] + arguments
        try process.run()
        let deadline = Date().addingTimeInterval(20)
        while process.isRunning, Date() < deadline { usleep(10_000) }
        if process.isRunning {
            kill(process.processIdentifier, SIGKILL)
            for directory in directories { _ = CgroupFile.write(directory + "/freezer.state", "THAWED") }
            Issue.record("\(arguments) did not end within 20 s in \(directories)")
        }
        process.waitUntilExit()
        return process.terminationStatus
    }

    /// A directory's inode number: a cgroup made afresh under the same name gets a new one.
    func inodeNumber(_ path: String) -> UInt64? {
        var info = stat()
        return stat(path, &info) == 0 ? UInt64(info.st_ino) : nil
    }

    /// Whether another holder could take the slot's lock now (the test lets it go at once).
    func isFree(_ directory: String) -> Bool {
        let fd = open(directory, O_RDONLY | O_DIRECTORY | O_CLOEXEC)
        guard fd >= 0 else { return false }
        defer { close(fd) }
        return flock(fd, LOCK_EX | LOCK_NB) == 0
    }

    /// Whether the slot becomes free within `timeout`. Other suites of this test process spawn programs all the
    /// time, and a child between its fork and its exec still holds every open descriptor, the slot's lock with
    /// them (O_CLOEXEC closes it only at the exec). The lock is then released within moments; a release has no
    /// wake-up to wait for, so this looks every 10 ms.
    func becomesFree(_ directory: String, within timeout: Duration = .seconds(5)) -> Bool {
        let deadline = ContinuousClock.now + timeout
        while !isFree(directory) {
            guard ContinuousClock.now < deadline else { return false }
            usleep(10_000)
        }
        return true
    }

    /// A sandbox that ends cleanly leaves its slot in place and unlocked; the next one gets the same directories,
    /// with its own limits written, also a memory limit above the memsw limit the slot had.
    @Test func aCleanSlotIsKeptAndTheNextSandboxGetsItWithItsOwnLimits() throws {
        let pool = try Pool()
        let first = try pool.create(memory: 64 << 20, pids: 16)
        let memory = pool.directory("memory", "slot-0")
        let pids = pool.directory("pids", "slot-0")
        #expect(first.directories.sorted() == [memory, pids, pool.directory("freezer", "slot-0")].sorted())
        #expect(!isFree(memory), "the slot is not locked while in use")
        #expect(try run(in: first.directories, ["/bin/true"]) == 0)
        first.destroy()
        #expect(first.isDestroyed)
        #expect(FileManager.default.fileExists(atPath: memory) && FileManager.default.fileExists(atPath: pids))
        #expect(becomesFree(memory), "the slot is still locked after destroy")

        let inode = inodeNumber(memory)
        let second = try pool.create(memory: 256 << 20, pids: 40)
        #expect(second.directories == first.directories)
        #expect(inodeNumber(memory) == inode, "the slot was made afresh, not reused")
        #expect(CgroupFile.number(memory + "/memory.limit_in_bytes") == 256 << 20)
        if FileManager.default.fileExists(atPath: memory + "/memory.memsw.limit_in_bytes") {
            #expect(CgroupFile.number(memory + "/memory.memsw.limit_in_bytes") == 256 << 20)
        }
        #expect(CgroupFile.read(pids + "/pids.max") == "40\n")
        #expect(!second.oomKilled() && !second.pidsLimitHit())
        second.destroy()
    }

    /// Two sandboxes at once get two slots; the first one let go is the one the next sandbox gets.
    @Test func aSlotInUseIsNeverShared() throws {
        let pool = try Pool()
        let first = try pool.create()
        let second = try pool.create()
        #expect(first.directories.allSatisfy { $0.hasSuffix("/slot-0") }, "\(first.directories)")
        #expect(second.directories.allSatisfy { $0.hasSuffix("/slot-1") }, "\(second.directories)")
        first.destroy()
        #expect(becomesFree(pool.directory("memory", "slot-0")), "the first slot is still locked after destroy")
        let third = try pool.create()
        #expect(third.directories == first.directories)
        second.destroy()
        third.destroy()
    }

    /// A run that hit its pids limit or was killed for memory leaves counters the next run would report as its
    /// own: its slot is removed, and the next sandbox starts in fresh directories with no event counted.
    @Test(arguments: ["pids", "memory"])
    func aSlotWhoseRunHitALimitIsNotKept(limit: String) throws {
        let pool = try Pool()
        let hit: SandboxCgroup
        if limit == "pids" {
            hit = try pool.create(pids: 2)
            try run(in: hit.directories, ["/bin/sh", "-c", "for i in 1 2 3 4; do /bin/sleep 0.2 & done; wait"])
            #expect(hit.pidsLimitHit())
        } else {
            hit = try pool.create(memory: 16 << 20)
            let status = try run(in: hit.directories, [Self.python, "-c", "b = b'x' * (256 << 20)"])
            #expect(status != 0)
            #expect(hit.oomKilled())
        }
        let memory = pool.directory("memory", "slot-0")
        hit.destroy()
        #expect(hit.isDestroyed)
        #expect(!FileManager.default.fileExists(atPath: memory), "the slot of a run that hit its limit stayed")
        let next = try pool.create()
        #expect(next.directories.contains(memory))
        #expect(!next.oomKilled() && !next.pidsLimitHit())
        next.destroy()
    }

    /// What a killed launcher may leave in a slot, found by the next holder: a process still inside (the slot is
    /// skipped), an event counted or a frozen freezer (the slot is made afresh before use).
    @Test func aSlotLeftByAKilledLauncherIsCheckedBeforeReuse() throws {
        let pool = try Pool()
        // A process left in slot-0: the next sandbox takes slot-1.
        let first = try pool.create()
        let sleeper = Process()
        sleeper.executableURL = URL(fileURLWithPath: "/bin/sh")
        sleeper.arguments = ["-c", "echo $$ > \(pool.directory("pids", "slot-0"))/cgroup.procs && exec /bin/sleep 30"]
        try sleeper.run()
        defer { if sleeper.isRunning { kill(sleeper.processIdentifier, SIGKILL) } }
        let entered = (0 ..< 200).contains { _ in
            if !CgroupFile.pids(pool.directory("pids", "slot-0") + "/cgroup.procs").isEmpty { return true }
            usleep(10_000)
            return false
        }
        try #require(entered, "the sleeper did not enter slot-0")
        first.destroy()  // kills the sleeper: a slot that held a process is not kept
        sleeper.waitUntilExit()
        #expect(sleeper.terminationReason == .uncaughtSignal && sleeper.terminationStatus == SIGKILL)
        #expect(!FileManager.default.fileExists(atPath: pool.directory("pids", "slot-0")))

        // Slot-0 made by hand as a killed launcher would leave it: a process inside, then a frozen freezer.
        let slot = ["memory", "pids", "freezer"].map { pool.directory($0, "slot-0") }
        for directory in slot { try #require(mkdir(directory, 0o755) == 0, "mkdir \(directory): errno \(errno)") }
        let lingering = Process()
        lingering.executableURL = URL(fileURLWithPath: "/bin/sh")
        lingering.arguments = ["-c", "echo $$ > \(slot[1])/cgroup.procs && exec /bin/sleep 30"]
        try lingering.run()
        defer { if lingering.isRunning { kill(lingering.processIdentifier, SIGKILL) } }
        let inside = (0 ..< 200).contains { _ in
            if !CgroupFile.pids(slot[1] + "/cgroup.procs").isEmpty { return true }
            usleep(10_000)
            return false
        }
        try #require(inside, "the process did not enter the hand-made slot-0")
        let skipping = try pool.create()
        #expect(skipping.directories.allSatisfy { $0.hasSuffix("/slot-1") }, "\(skipping.directories)")
        skipping.destroy()
        kill(lingering.processIdentifier, SIGKILL)
        lingering.waitUntilExit()

        try #require(CgroupFile.write(slot[2] + "/freezer.state", "FROZEN") == 0)
        #expect(becomesFree(slot[0]), "the hand-made slot-0 is still locked")
        let fresh = try pool.create()
        #expect(fresh.directories.sorted() == slot.sorted(), "\(fresh.directories)")
        try #require(CgroupFile.read(slot[2] + "/freezer.state")?.hasPrefix("THAWED") == true)
        #expect(try run(in: fresh.directories, ["/bin/true"]) == 0, "a process could not run in the reused slot")
        fresh.destroy()
    }
}

import CLinux
import Foundation
import Testing

/// clone3 with CLONE_INTO_CGROUP, which the launcher uses on cgroup v2 hosts so pid 1 starts in its cgroup without a
/// migration. Checked against this host's cgroup2 mount (the unified hierarchy, which needs no controller for
/// this); skipped where there is none.
@Suite struct CloneIntoCgroupTests {
    /// The cgroup2 mount point, from /proc/self/mountinfo (the mount point is field 5, the type follows " - ").
    static let unified: String? = {
        let table = (try? String(contentsOfFile: "/proc/self/mountinfo", encoding: .utf8)) ?? ""
        for line in table.split(separator: "\n") {
            let halves = line.components(separatedBy: " - ")
            let fields = halves[0].split(separator: " ")
            if halves.count == 2, halves[1].hasPrefix("cgroup2 "), fields.count > 4 { return String(fields[4]) }
        }
        return nil
    }()

    @Test func aChildStartsInTheGivenCgroup() throws {
        guard let unified = Self.unified, geteuid() == 0 else {
            try Test.cancel("no writable cgroup2 mount here")
        }
        let name = "autonous-clone3-\(getpid())-\(UInt32.random(in: 0 ... .max))"
        let directory = unified + "/" + name
        try #require(mkdir(directory, 0o755) == 0, "mkdir \(directory): errno \(errno)")
        defer { rmdir(directory) }
        let fd = open(directory, CL_O_PATH | O_DIRECTORY | O_CLOEXEC)
        try #require(fd >= 0)
        defer { close(fd) }
        var gate: [Int32] = [0, 0]
        try #require(pipe(&gate) == 0)
        let pid = cl_clone3_into_cgroup(0, fd)
        if pid == 0 {
            // The child: wait until the parent has looked, then leave (only async-signal-safe calls here).
            var byte: UInt8 = 0
            _ = read(gate[0], &byte, 1)
            _exit(0)
        }
        close(gate[0])
        try #require(pid > 0, "clone3: errno \(-pid)")
        let membership = (try? String(contentsOfFile: "/proc/\(pid)/cgroup", encoding: .utf8)) ?? ""
        _ = write(gate[1], "x", 1)
        close(gate[1])
        var status: Int32 = 0
        _ = cl_waitpid(pid, &status, 0)
        #expect(membership.split(separator: "\n").contains("0::/\(name)"), "\(membership)")
        #expect(status == 0)
    }
}

import Foundation
import Testing

@testable import Sandbox

/// The mountinfo parser the cgroup drivers find their hierarchies with.
@Suite struct CgroupMountsTests {
    /// Only cgroup and cgroup2 lines are kept, with optional fields of any count before the "-", the super options
    /// split at commas, and octal escapes in the mount point decoded; short or dash-less lines are skipped.
    @Test func findsCgroupMountsAndDecodesEscapes() {
        let table = """
            22 28 0:21 / /sys rw,nosuid shared:7 - sysfs sysfs rw
            30 22 0:26 / /sys/fs/cgroup ro,nosuid shared:9 - tmpfs tmpfs ro,mode=755
            31 30 0:27 / /sys/fs/cgroup/unified rw,nosuid shared:10 - cgroup2 cgroup2 rw,nsdelegate
            33 30 0:29 / /sys/fs/cgroup/cpu,cpuacct rw,nosuid shared:12 master:3 - cgroup cgroup rw,cpu,cpuacct
            34 30 0:30 / /sys/fs/cgroup/my\\040pids rw,nosuid - cgroup cgroup rw,pids
            35 30 0:31 / /sys/fs/cgroup/back\\134slash\\011tab rw - cgroup cgroup rw,memory
            36 30 0:32 / /odd\\9x rw - cgroup cgroup rw,freezer
            37 30 0:33 / /short rw - cgroup
            38 30 0:34 / /nodash rw cgroup cgroup rw,devices
            garbage
            """
        let mounts = CgroupFile.mounts(inMountinfo: table)
        #expect(
            mounts.map(\.point) == [
                "/sys/fs/cgroup/unified", "/sys/fs/cgroup/cpu,cpuacct", "/sys/fs/cgroup/my pids",
                "/sys/fs/cgroup/back\\slash\ttab", "/odd\\9x",
            ])
        #expect(mounts.map(\.type) == ["cgroup2", "cgroup", "cgroup", "cgroup", "cgroup"])
        #expect(mounts[1].options == ["rw", "cpu", "cpuacct"])
        #expect(mounts[2].options == ["rw", "pids"])
    }

    /// On this machine the parser finds the same cgroup mounts as /proc/self/mounts lists (another kernel
    /// rendering of the same table).
    @Test func agreesWithProcMounts() throws {
        let mounts = try String(contentsOfFile: "/proc/self/mounts", encoding: .utf8)
        var expected: [String] = []
        for line in mounts.split(separator: "\n") {
            let fields = line.split(separator: " ").map(String.init)
            guard fields.count > 2, fields[2] == "cgroup" || fields[2] == "cgroup2" else { continue }
            expected.append(fields[1].replacingOccurrences(of: "\\040", with: " "))
        }
        #expect(CgroupFile.mounts().map(\.point) == expected)
    }
}

/// The path helpers the cgroup drivers build directories with.
@Suite struct CgroupPathTests {
    @Test(arguments: [
        ("/sys/fs/cgroup/memory/autonous/sandbox-1-a", "/sys/fs/cgroup/memory/autonous", "sandbox-1-a"),
        ("/sys/fs/cgroup/memory/", "/sys/fs/cgroup", "memory"), ("/a//b", "/a", "b"), ("/a", "/", "a"),
        ("/", "/", ""),
    ])
    func parentAndLastComponent(path: String, parent: String, last: String) {
        #expect(CgroupV2Driver.parentPath(path) == parent)
        #expect(CgroupV2Driver.lastComponent(path) == last)
    }
}

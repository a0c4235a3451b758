import Testing

@testable import Sandbox

/// When the supervisor moves itself into `<service>/supervisor`: only under systemd, in a delegated `.service`
/// cgroup of a cgroup2 hierarchy, and never twice.
@Suite struct ServiceCgroupLeafTests {
    static let unified = [CgroupMount(point: "/sys/fs/cgroup", type: "cgroup2", options: ["rw"])]
    static let service = "0::/system.slice/autonous@bot.service\n"

    func leaf(
        _ ownCgroups: String = service, mounts: [CgroupMount] = unified, systemd: Bool = true,
        delegated: Bool = true
    ) -> ServiceCgroupLeaf.Decision {
        ServiceCgroupLeaf.leaf(
            ownCgroups: ownCgroups, mounts: mounts, startedBySystemd: systemd, isDelegated: { _ in delegated })
    }

    @Test func aDelegatedServiceMovesIntoItsSupervisorLeaf() {
        #expect(leaf() == .move("/sys/fs/cgroup/system.slice/autonous@bot.service/supervisor"))
    }

    @Test func theHybridLayoutsUnifiedHierarchyIsUsed() {
        let hybrid = [
            CgroupMount(point: "/sys/fs/cgroup/pids", type: "cgroup", options: ["rw", "pids"]),
            CgroupMount(point: "/sys/fs/cgroup/unified", type: "cgroup2", options: ["rw"]),
        ]
        #expect(
            leaf(mounts: hybrid) == .move("/sys/fs/cgroup/unified/system.slice/autonous@bot.service/supervisor"))
    }

    @Test func nothingMovesOutsideSystemdOrWithoutDelegation() {
        #expect(leaf(systemd: false) == .stay(.notMoved("not started by systemd ($INVOCATION_ID unset)")))
        #expect(
            leaf(delegated: false)
                == .stay(
                    .notMoved(
                        "/sys/fs/cgroup/system.slice/autonous@bot.service is not delegated to this process "
                            + "(Delegate=yes)")))
        if case .move = leaf("0::/user.slice/user-1000.slice/session-2.scope\n") {
            Issue.record("a session scope is not a service's cgroup")
        }
        if case .move = leaf(mounts: []) { Issue.record("no cgroup2 hierarchy, nothing to move into") }
    }

    @Test func aProcessAlreadyInTheLeafStays() {
        #expect(
            leaf("0::/system.slice/autonous.service/supervisor\n")
                == .stay(.alreadyInside("/sys/fs/cgroup/system.slice/autonous.service/supervisor")))
    }
}

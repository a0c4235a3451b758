import AutonousCore
import Foundation
import Testing

@testable import Supervisord

/// control.sock's gate, judged on a real process tree: a "launcher" (sh) with a grandchild (sleep) in it.
@Suite struct AdminAuthorizerTests {
    /// Starts `sh -c 'sleep 60 & wait'` and returns it with the pid of its sleep.
    private func startTree() async throws -> (Process, Int32) {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/bin/sh")
        process.arguments = ["-c", "sleep 60 & wait"]
        try process.run()
        let pid = process.processIdentifier
        for _ in 0 ..< 500 {
            let children = (try? String(contentsOfFile: "/proc/\(pid)/task/\(pid)/children", encoding: .utf8)) ?? ""
            if let child = children.split(separator: " ").first.flatMap({ Int32($0) }) { return (process, child) }
            try await Task.sleep(for: .milliseconds(10))
        }
        kill(pid, SIGKILL)
        throw AutonousError(.timeout, "the test's sh started no child")
    }

    @Test func aPeerInTheWorkersTreeIsRefusedEvenAsRoot() async throws {
        let (launcher, sleeper) = try await startTree()
        defer {
            kill(sleeper, SIGKILL)
            kill(launcher.processIdentifier, SIGKILL)
        }
        let launcherPID = launcher.processIdentifier
        let authorizer = AdminAuthorizer(groupName: "autonous-no-such-group", workerLauncher: { launcherPID })
        let reason = authorizer.reasonToRefuse(PeerCredentials(pid: sleeper, uid: geteuid(), gid: getegid()))
        #expect(reason == "pid \(sleeper) belongs to the worker's process tree (launcher pid \(launcherPID))")
        #expect(authorizer.reasonToRefuse(PeerCredentials(pid: launcherPID, uid: 0, gid: 0)) != nil)
        // Not in the tree: the operator's autonousctl (here the test itself) with the supervisor's uid passes.
        #expect(authorizer.reasonToRefuse(PeerCredentials(pid: getpid(), uid: geteuid(), gid: getegid())) == nil)
    }

    @Test func withoutAWorkerOnlyTheUidAndGroupDecide() {
        let authorizer = AdminAuthorizer(groupName: "autonous-no-such-group")
        #expect(authorizer.reasonToRefuse(PeerCredentials(pid: getpid(), uid: 0, gid: 0)) == nil)
        #expect(
            authorizer.reasonToRefuse(PeerCredentials(pid: getpid(), uid: 4_000_123, gid: 4_000_123))
                == "uid 4000123 is not root and the admin group 'autonous-no-such-group' does not exist")
    }
}

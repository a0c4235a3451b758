import AutonousCore
import Foundation

#if canImport(Glibc)
import Glibc
#endif

/// Decides who may use control.sock: root, the supervisor's own user, and members of the admin group, but never a
/// process of the worker's tree.
///
/// Under `User=autonous` the worker runs as the supervisor's own uid, so the uid alone would admit it; and the
/// worker runs code the agent may have written. The control socket is not in the worker's mount namespace, and
/// this check refuses it even if it got hold of a connection: any peer that descends from the worker's launcher.
struct AdminAuthorizer: Sendable {
    let groupName: String
    /// The pid of the current worker's launcher, if one runs.
    var workerLauncher: @Sendable () -> Int32? = { nil }

    /// How many generations below the launcher a peer is still looked for (launcher, sandbox pid 1, worker, a
    /// tool's launcher, its pid 1, bash and what bash starts).
    static let workerTreeDepth = 64

    func reasonToRefuse(_ peer: PeerCredentials) -> String? {
        if let launcher = workerLauncher(),
            ProcessTree.isDescendant(peer.pid, of: launcher, depth: Self.workerTreeDepth)
        {
            return "pid \(peer.pid) belongs to the worker's process tree (launcher pid \(launcher))"
        }
        if peer.uid == 0 || peer.uid == geteuid() { return nil }
        guard let group = getgrnam(groupName) else {
            return "uid \(peer.uid) is not root and the admin group '\(groupName)' does not exist"
        }
        let gid = group.pointee.gr_gid
        if peer.gid == gid { return nil }
        if let user = getpwuid(peer.uid) {
            var count: Int32 = 64
            var groups = [gid_t](repeating: 0, count: Int(count))
            if getgrouplist(user.pointee.pw_name, user.pointee.pw_gid, &groups, &count) >= 0,
                groups.prefix(Int(count)).contains(gid)
            {
                return nil
            }
        }
        return "uid \(peer.uid) is not root and not in the admin group '\(groupName)'"
    }
}

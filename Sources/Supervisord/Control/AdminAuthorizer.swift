import AutonousCore
import Foundation

#if canImport(Glibc)
import Glibc
#endif

/// Decides who may use control.sock: root, the supervisor's own user, and members of the admin group.
struct AdminAuthorizer: Sendable {
    let groupName: String

    func reasonToRefuse(_ peer: PeerCredentials) -> String? {
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

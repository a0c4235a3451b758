import CLinux

#if canImport(Glibc)
import Glibc
#endif

/// The launcher's `A` message to pid 1, sent once the sandbox's cgroup is ready (the launcher creates a cgroup v1
/// leaf while pid 1 builds the root filesystem, off the launch's critical path): whether there is a cgroup, whether
/// memory falls back to RLIMIT_AS, and on v1 two sets of `tasks` descriptors passed with SCM_RIGHTS: the leaves'
/// (pid 1 moves itself in, see `SandboxCgroup.openSelfMove`) and the launcher's own cgroups' (pid 1 moves back at
/// the end, see `SandboxInit.finish`).
///
/// On the wire: `A`, `c` or `-` (a cgroup), `m` or `-` (memory fallback), then the number of "enter" descriptors;
/// the descriptors after those are "home".
struct CgroupHandoff: Equatable {
    var hasCgroup: Bool
    var memoryFallback: Bool
    var enter: [Int32]
    var home: [Int32]

    init(hasCgroup: Bool, memoryFallback: Bool, enter: [Int32] = [], home: [Int32] = []) {
        self.hasCgroup = hasCgroup
        self.memoryFallback = memoryFallback
        self.enter = enter
        self.home = home
    }

    var text: String {
        "A" + (hasCgroup ? "c" : "-") + (memoryFallback ? "m" : "-") + String(enter.count)
    }

    /// Parses a received message and its descriptors; nil (and the descriptors closed) for anything malformed.
    init?(text: String, descriptors: [Int32]) {
        let bytes = Array(text.utf8)
        guard bytes.count >= 4, bytes[0] == UInt8(ascii: "A"),
            let count = Int(String(decoding: bytes[3...], as: UTF8.self)), (0 ... descriptors.count).contains(count),
            [UInt8(ascii: "c"), UInt8(ascii: "-")].contains(bytes[1]),
            [UInt8(ascii: "m"), UInt8(ascii: "-")].contains(bytes[2])
        else {
            for fd in descriptors { close(fd) }
            return nil
        }
        hasCgroup = bytes[1] == UInt8(ascii: "c")
        memoryFallback = bytes[2] == UInt8(ascii: "m")
        enter = Array(descriptors[..<count])
        home = Array(descriptors[count...])
    }

    /// How pid 1 leaves the cgroups at the end.
    var leave: SandboxInit.CgroupExit {
        guard hasCgroup else { return .none }
        return home.isEmpty || home.count != enter.count ? .waitForExit : .moveTo(home)
    }

    /// Sends the message with its descriptors on `socket`; returns 0 or -errno.
    func send(on socket: Int32) -> Int32 {
        let descriptors = enter + home
        return Array(text.utf8).withUnsafeBytes { message in
            descriptors.withUnsafeBufferPointer { fds in
                cl_send_fds(socket, message.baseAddress, message.count, fds.baseAddress, Int32(fds.count))
            }
        }
    }

    /// Receives the message on `socket`; nil when the launcher closed the socket or sent something else.
    static func receive(on socket: Int32) -> CgroupHandoff? {
        var buffer = [UInt8](repeating: 0, count: 32)
        var descriptors = [Int32](repeating: -1, count: Int(CL_MAX_PASSED_FDS))
        var count: Int32 = 0
        let length = buffer.withUnsafeMutableBytes { message in
            descriptors.withUnsafeMutableBufferPointer { fds in
                cl_recv_fds(socket, message.baseAddress, message.count, fds.baseAddress, Int32(fds.count), &count)
            }
        }
        guard length > 0 else { return nil }
        return CgroupHandoff(
            text: String(decoding: buffer[..<length], as: UTF8.self), descriptors: Array(descriptors[..<Int(count)]))
    }
}

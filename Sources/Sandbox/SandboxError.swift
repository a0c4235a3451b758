#if canImport(Glibc)
import Glibc
#endif

/// Why a sandbox could not be set up. The launcher prints `description` and exits 125; nothing runs unsandboxed.
public struct SandboxError: Error, CustomStringConvertible, Sendable, Equatable {
    /// What kind of failure this is.
    public enum Code: String, Sendable {
        /// The profile is malformed (unknown tier, relative path, missing workspace …); found before any namespace.
        case invalidProfile
        /// The kernel lacks something the profile requires (user namespaces, seccomp, a cgroup controller …).
        case missingKernelFeature
        /// A setup step failed (a mount, a uid map, a seccomp load …).
        case setupFailed
        /// A limit the profile requires cannot be enforced here and the profile does not allow best effort.
        case limitUnavailable
    }

    public let code: Code
    public let message: String
    /// The errno of the failing call, if one failed.
    public let errno: Int32?

    public init(_ code: Code, _ message: String, errno: Int32? = nil) {
        self.code = code
        self.message = message
        self.errno = errno
    }

    public var description: String {
        guard let errno else { return message }
        return "\(message): \(String(cString: strerror(errno))) (errno \(errno))"
    }
}

/// Runs a syscall wrapper, retrying on EINTR, and throws `SandboxError(.setupFailed)` naming `what` on -1.
@discardableResult
func sandboxCall<T: FixedWidthInteger>(_ what: @autoclosure () -> String, _ body: () -> T) throws(SandboxError) -> T {
    while true {
        let result = body()
        if result != -1 { return result }
        let code = Glibc.errno
        if code == EINTR { continue }
        throw SandboxError(.setupFailed, what(), errno: code)
    }
}

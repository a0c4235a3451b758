import CLinux

#if canImport(Glibc)
import Glibc
#endif

/// Why a tool path was refused or could not be opened, in words a model can act on.
public struct PathError: Error, Sendable, Equatable, CustomStringConvertible {
    public enum Reason: String, Sendable {
        /// The argument itself is not acceptable (empty, NUL, "..", absolute outside the root); no I/O happened.
        case invalidPath
        /// Resolution would leave the root (a symlink pointing out, a magic link).
        case escapesRoot
        /// The path is read-only for tools (.git/config, .git/hooks, .autonous) or the root is read-only.
        case readOnly
        /// Any other failure of the open, with its errno.
        case io
    }

    public let reason: Reason
    public let path: String
    public let message: String
    public let errno: Int32?

    public var description: String { "\(path): \(message)" }
}

/// An allowed root for the native file tools, held open as a directory descriptor. Every path is opened with
/// openat2(RESOLVE_BENEATH | RESOLVE_NO_MAGICLINKS) relative to it, so neither "..", an absolute path, a symlink
/// (even one created a moment ago) nor a /proc magic link can lead out: the kernel checks each step.
public final class ConfinedRoot {
    public let path: String
    public let writable: Bool
    /// Relative paths that stay read-only even in a writable root; a path equal to one or under it is refused.
    public let protectedPaths: [String]
    /// Whether tools print paths under this root as absolute paths (roots other than the workspace, whose paths
    /// are printed relative to it).
    public let showsAbsolutePaths: Bool
    private let descriptor: Int32

    /// Opens the root directory.
    ///
    /// - Throws: `PathError(.io)` when it cannot be opened as a directory.
    public init(
        path: String, writable: Bool, protectedPaths: [String] = [".git/config", ".git/hooks", ".autonous"],
        showsAbsolutePaths: Bool = false
    ) throws(PathError) {
        self.path = path
        self.writable = writable
        self.protectedPaths = protectedPaths
        self.showsAbsolutePaths = showsAbsolutePaths
        let fd = Glibc.open(path, CL_O_PATH | O_DIRECTORY | O_CLOEXEC)
        guard fd >= 0 else {
            throw PathError(reason: .io, path: path, message: "cannot open the root directory", errno: errno)
        }
        descriptor = fd
    }

    deinit {
        close(descriptor)
    }

    /// A path relative to the root as tools print it: as is, or absolute for a root that `showsAbsolutePaths`.
    public func displayed(_ relative: String) -> String {
        guard showsAbsolutePaths else { return relative }
        return relative == "." ? path : (path.hasSuffix("/") ? path : path + "/") + relative
    }

    /// Checks a tool's path argument before any I/O and returns it relative to the root.
    ///
    /// Accepts a relative path, or an absolute one under the root. Refuses empty paths, NUL bytes, and any "..".
    public func normalize(_ argument: String) throws(PathError) -> String {
        guard !argument.isEmpty else {
            throw PathError(reason: .invalidPath, path: argument, message: "the path is empty", errno: nil)
        }
        guard !argument.utf8.contains(0) else {
            throw PathError(reason: .invalidPath, path: argument, message: "the path contains a NUL byte", errno: nil)
        }
        var relative = argument
        if argument.hasPrefix("/") {
            let prefix = path.hasSuffix("/") ? path : path + "/"
            if argument == path {
                relative = "."
            } else if argument.hasPrefix(prefix) {
                relative = String(argument.dropFirst(prefix.count))
            } else {
                throw PathError(
                    reason: .invalidPath, path: argument,
                    message: "absolute paths must be under \(path); use a path relative to it", errno: nil)
            }
        }
        let components = relative.split(separator: "/", omittingEmptySubsequences: true)
        guard !components.contains("..") else {
            throw PathError(
                reason: .invalidPath, path: argument, message: "'..' is not allowed in tool paths", errno: nil)
        }
        let cleaned = components.filter { $0 != "." }.joined(separator: "/")
        return cleaned.isEmpty ? "." : cleaned
    }

    /// True when `relative` (normalized) is a protected path or lies under one.
    public func isProtected(_ relative: String) -> Bool {
        protectedPaths.contains { relative == $0 || relative.hasPrefix($0 + "/") }
    }

    /// Opens a path under the root; returns a descriptor the caller closes.
    ///
    /// - Parameters:
    ///   - flags: open(2) flags; any write access (O_WRONLY, O_RDWR, O_CREAT, O_TRUNC) needs a writable root and an
    ///     unprotected path.
    ///   - followSymlinks: false refuses every symlink on the way (RESOLVE_NO_SYMLINKS). Writes never follow
    ///     symlinks: a link inside the root to a protected path (`h -> .git/hooks`) would otherwise get around the
    ///     protection, and O_TRUNC would have done its damage before any check after the open.
    public func open(_ argument: String, flags: Int32, mode: mode_t = 0o644, followSymlinks: Bool = true)
        throws(PathError) -> Int32
    {
        let relative = try normalize(argument)
        let writes = flags & (O_WRONLY | O_RDWR | O_CREAT | O_TRUNC) != 0
        if writes {
            guard writable else {
                throw PathError(reason: .readOnly, path: argument, message: "this root is read-only", errno: EROFS)
            }
            guard !isProtected(relative) else {
                throw PathError(
                    reason: .readOnly, path: argument, message: "this path is protected and stays read-only",
                    errno: EROFS)
            }
        }
        // openat2 rejects a mode without O_CREAT (EINVAL), unlike open(2).
        let creates = flags & O_CREAT != 0
        let fd = cl_openat2_beneath(
            descriptor, relative, flags | O_CLOEXEC, creates ? UInt32(mode) : 0,
            followSymlinks && !writes ? 0 : CL_RESOLVE_NO_SYMLINKS)
        guard fd >= 0 else {
            let code = -fd
            switch code {
            case EXDEV:
                throw PathError(
                    reason: .escapesRoot, path: argument, message: "the path leads outside \(path)", errno: code)
            case ELOOP where !followSymlinks || writes:
                throw PathError(
                    reason: .escapesRoot, path: argument,
                    message: writes
                        ? "writes do not follow symlinks; write to the target path" : "symlinks are not followed here",
                    errno: code)
            case ENOSYS:
                throw PathError(
                    reason: .io, path: argument, message: "openat2 is unavailable (Linux 5.6 or later is required)",
                    errno: code)
            default:
                throw PathError(
                    reason: .io, path: argument, message: String(cString: strerror(code)), errno: code)
            }
        }
        return fd
    }
}

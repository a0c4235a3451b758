import CLinux

#if canImport(Glibc)
import Glibc
#endif

/// Small POSIX helpers for the launcher, which must not use Foundation (it stays single-threaded and small).
enum Posix {
    /// Writes all bytes, retrying on EINTR and short writes; returns false on failure.
    @discardableResult
    static func writeAll(_ fd: Int32, _ bytes: [UInt8]) -> Bool {
        var offset = 0
        while offset < bytes.count {
            let n = bytes.withUnsafeBytes { buffer -> Int in
                guard let base = buffer.baseAddress else { return 0 }
                return write(fd, base + offset, buffer.count - offset)
            }
            if n < 0 {
                if errno == EINTR { continue }
                return false
            }
            offset += n
        }
        return true
    }

    @discardableResult
    static func writeAll(_ fd: Int32, _ text: String) -> Bool { writeAll(fd, Array(text.utf8)) }

    /// Reads until end of file (bounded to `limit` bytes).
    static func readAll(_ fd: Int32, limit: Int = 1 << 20) -> [UInt8] {
        var result: [UInt8] = []
        var buffer = [UInt8](repeating: 0, count: 4096)
        while result.count < limit {
            let n = read(fd, &buffer, buffer.count)
            if n < 0 && errno == EINTR { continue }
            if n <= 0 { break }
            result += buffer[0 ..< n]
        }
        return result
    }

    /// Reads exactly one byte; nil at end of file or on error.
    static func readByte(_ fd: Int32) -> UInt8? {
        var byte: UInt8 = 0
        while true {
            let n = read(fd, &byte, 1)
            if n == 1 { return byte }
            if n < 0 && errno == EINTR { continue }
            return nil
        }
    }

    /// True when every writer of the pipe `fd` reads from, or the peer of the socket `fd`, has closed it (poll
    /// reports POLLHUP at once).
    static func peerClosed(_ fd: Int32) -> Bool {
        var descriptor = pollfd(fd: fd, events: Int16(POLLIN), revents: 0)
        return poll(&descriptor, 1, 0) > 0 && descriptor.revents & Int16(POLLHUP) != 0
    }

    /// A connected pair of close-on-exec AF_UNIX SOCK_SEQPACKET sockets: each write is one message, and descriptors
    /// can travel with one.
    static func socketPair() throws(SandboxError) -> (Int32, Int32) {
        var fds: [Int32] = [0, 0]
        let type = Int32(SOCK_SEQPACKET.rawValue) | Int32(SOCK_CLOEXEC.rawValue)
        try sandboxCall("socketpair") { socketpair(AF_UNIX, type, 0, &fds) }
        return (fds[0], fds[1])
    }

    /// A pipe whose both ends are close-on-exec.
    static func pipe() throws(SandboxError) -> (read: Int32, write: Int32) {
        var fds: [Int32] = [0, 0]
        try sandboxCall("pipe") { Glibc.pipe(&fds) }
        for fd in fds { _ = fcntl(fd, F_SETFD, FD_CLOEXEC) }
        return (fds[0], fds[1])
    }

    /// Writes a whole file (creating or truncating it).
    static func writeFile(_ path: String, _ text: String, mode: mode_t = 0o644) throws(SandboxError) {
        let fd = try sandboxCall("open \(path)") { open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, mode) }
        defer { close(fd) }
        guard writeAll(fd, text) else { throw SandboxError(.setupFailed, "write \(path)", errno: errno) }
    }

    /// Copies a regular file of at most `maxBytes` byte for byte (mode 0644); false when it cannot or it is larger.
    static func copyFile(from source: String, to target: String, maxBytes: Int) -> Bool {
        let input = open(source, O_RDONLY | O_CLOEXEC)
        guard input >= 0 else { return false }
        defer { close(input) }
        var info = stat()
        guard fstat(input, &info) == 0, info.st_size <= maxBytes else { return false }
        let output = open(target, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0o644)
        guard output >= 0 else { return false }
        defer { close(output) }
        // sendfile copies inside the kernel (ld.so.cache, mime.types … are tens of KiB): no buffer to fill here.
        var left = Int(info.st_size)
        while left > 0 {
            let count = sendfile(output, input, nil, left)
            if count < 0 && errno == EINTR { continue }
            guard count > 0 else { return count == 0 }  // 0: the file shrank meanwhile; what was there is copied
            left -= count
        }
        return true
    }

    /// Reads a small file as text; nil when it cannot be read.
    static func readFile(_ path: String, limit: Int = 1 << 16) -> String? {
        let fd = open(path, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else { return nil }
        defer { close(fd) }
        return String(decoding: readAll(fd, limit: limit), as: UTF8.self)
    }

    enum Kind { case missing, directory, file, symlink, other }

    /// What is at `path`, without following a final symlink.
    static func kind(_ path: String) -> Kind {
        var info = stat()
        guard lstat(path, &info) == 0 else { return .missing }
        switch info.st_mode & S_IFMT {
        case S_IFDIR: return .directory
        case S_IFLNK: return .symlink
        case S_IFREG: return .file
        default: return .other
        }
    }

    /// What `path` resolves to, following symlinks.
    static func resolvedKind(_ path: String) -> Kind {
        var info = stat()
        guard stat(path, &info) == 0 else { return .missing }
        return info.st_mode & S_IFMT == S_IFDIR ? .directory : .file
    }

    static func readLink(_ path: String) -> String? {
        var buffer = [CChar](repeating: 0, count: 4096)
        let n = readlink(path, &buffer, buffer.count - 1)
        guard n >= 0 else { return nil }
        return String(decoding: buffer[0 ..< n].map { UInt8(bitPattern: $0) }, as: UTF8.self)
    }

    /// mkdir -p.
    static func makeDirectories(_ path: String, mode: mode_t = 0o755) throws(SandboxError) {
        // The directory itself first: its parents usually exist, and each mkdir is a syscall on the launch's path.
        if mkdir(path, mode) == 0 || errno == EEXIST { return }
        guard errno == ENOENT, let slash = path.lastIndex(of: "/"), slash != path.startIndex else {
            throw SandboxError(.setupFailed, "mkdir \(path)", errno: errno)
        }
        try makeDirectories(String(path[..<slash]), mode: mode)
        if mkdir(path, mode) != 0 && errno != EEXIST {
            throw SandboxError(.setupFailed, "mkdir \(path)", errno: errno)
        }
    }

    /// Creates an empty file (and its parents) to serve as a mount point.
    static func touch(_ path: String) throws(SandboxError) {
        if let slash = path.lastIndex(of: "/"), slash != path.startIndex {
            try makeDirectories(String(path[..<slash]))
        }
        let fd = open(path, O_WRONLY | O_CREAT | O_CLOEXEC, 0o644)
        guard fd >= 0 else { throw SandboxError(.setupFailed, "create \(path)", errno: errno) }
        close(fd)
    }

    /// Calls a CLinux wrapper that returns 0 or -errno.
    static func check(_ what: @autoclosure () -> String, _ result: Int32) throws(SandboxError) {
        if result < 0 { throw SandboxError(.setupFailed, what(), errno: -result) }
    }
}

import AutonousCore
import Foundation

#if canImport(Glibc)
import Glibc
#endif

/// The few file-system steps the artifact store repeats: durable directory entries, removing read-only trees,
/// and telling a sha256 name from junk.
enum ArtifactFiles {
    /// True when `name` is a full sha256 as the store spells it: 64 lowercase hex digits.
    static func isSHA256(_ name: String) -> Bool {
        name.utf8.count == 64 && isLowercaseHex(name)
    }

    /// True when every character of `text` is 0-9 or a-f (and there is at least one).
    static func isLowercaseHex(_ text: String) -> Bool {
        !text.isEmpty && text.utf8.allSatisfy { (0x30 ... 0x39).contains($0) || (0x61 ... 0x66).contains($0) }
    }

    /// The `lstat` of `path`, or nil when it does not exist (or cannot be looked at).
    static func status(_ path: String) -> stat? {
        var info = stat()
        return lstat(path, &info) == 0 ? info : nil
    }

    /// True when `path` is a directory itself, not a symlink to one.
    static func isDirectory(_ path: String) -> Bool {
        guard let info = status(path) else { return false }
        return info.st_mode & S_IFMT == S_IFDIR
    }

    /// Makes the entries of `directory` (a rename, a new or removed name) durable: without it a power loss after
    /// rename(2) returned can bring back the old name.
    static func syncDirectory(_ directory: String) throws {
        let fd = open(directory, O_RDONLY | O_DIRECTORY | O_CLOEXEC)
        guard fd >= 0 else {
            throw AutonousError(.io, "cannot open \(directory) to sync it", cause: Errno(errno, "open \(directory)"))
        }
        defer { close(fd) }
        try sync(fd, directory)
    }

    /// fsync(2) of an open descriptor, retried on EINTR.
    static func sync(_ fd: Int32, _ path: String) throws {
        do {
            try retryingSyscall("fsync \(path)") { fsync(fd) }
        } catch {
            throw AutonousError(.io, "cannot sync \(path)", cause: error)
        }
    }

    /// Writes all of `bytes` to `fd`, retrying short writes and EINTR.
    static func writeAll(_ fd: Int32, _ bytes: UnsafeRawBufferPointer, _ path: String) throws {
        var offset = 0
        while offset < bytes.count {
            let written = try retryingSyscall("write \(path)") {
                write(fd, bytes.baseAddress.map { $0 + offset }, bytes.count - offset)
            }
            offset += written
        }
    }

    /// Removes `path` and, when it is a directory, everything below it, making read-only directories writable
    /// first (artifacts are 0555, and without write permission on a directory its entries cannot be unlinked).
    /// A path that does not exist (or vanishes meanwhile: another caller removing the same tree) is not an error.
    static func removeTree(_ path: String) throws {
        guard let info = status(path) else { return }
        if info.st_mode & S_IFMT == S_IFDIR {
            guard chmod(path, 0o700) == 0 || errno == ENOENT else {
                throw AutonousError(.io, "cannot make \(path) writable to remove it", cause: Errno(errno, "chmod"))
            }
            let entries = (try? FileManager.default.contentsOfDirectory(atPath: path)) ?? []
            for entry in entries { try removeTree(path + "/" + entry) }
            guard rmdir(path) == 0 || errno == ENOENT else {
                throw AutonousError(.io, "cannot remove the directory \(path)", cause: Errno(errno, "rmdir"))
            }
        } else {
            guard unlink(path) == 0 || errno == ENOENT else {
                throw AutonousError(.io, "cannot remove \(path)", cause: Errno(errno, "unlink"))
            }
        }
    }

    /// A short random suffix for temporary names (`.current.tmp-3f9a1c`).
    static func randomSuffix() -> String {
        String((0 ..< 6).map { _ in "0123456789abcdef".randomElement() ?? "0" })
    }
}

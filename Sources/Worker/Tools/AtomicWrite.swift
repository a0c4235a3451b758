import Foundation
import Sandbox

/// Replaces a file under a confined root atomically: the bytes go to a new temporary file in the same directory,
/// which is then renamed over the target, so a reader sees the old content or the new, never a half-written file.
/// The directory is opened with openat2 without following any symlink (a link inside the root to a protected
/// directory cannot be used as a way in), and the target's name must not be a protected path.
enum AtomicWrite {
    /// A failure with the sentence the model sees.
    struct ToolFailure: Error, Equatable {
        let message: String
        init(_ message: String) { self.message = message }
    }

    /// Writes `data` to `path` (relative to the root); returns the number of bytes written or a message.
    static func replace(_ path: String, with data: Data, in root: ConfinedRoot, mode: mode_t = 0o644) -> Result<
        Int, ToolFailure
    > {
        let relative: String
        do {
            relative = try root.normalize(path)
        } catch {
            return .failure(ToolFailure("\(error)"))
        }
        guard relative != "." else { return .failure(ToolFailure("\(path) is the workspace itself, not a file")) }
        guard root.writable else { return .failure(ToolFailure("\(path): this root is read-only")) }
        guard !root.isProtected(relative) else {
            return .failure(ToolFailure("\(path): this path is protected and stays read-only"))
        }
        let parent =
            relative.contains("/") ? String(relative[..<(relative.lastIndex(of: "/") ?? relative.endIndex)]) : "."
        let name = String(relative.split(separator: "/").last ?? "")
        let directory: Int32
        do {
            directory = try root.open(parent, flags: O_RDONLY | O_DIRECTORY, followSymlinks: false)
        } catch {
            return .failure(ToolFailure("\(error)"))
        }
        defer { close(directory) }
        var existing = stat()
        if fstatat(directory, name, &existing, AT_SYMLINK_NOFOLLOW) == 0, existing.st_mode & S_IFMT != S_IFREG {
            return .failure(ToolFailure("\(path) exists and is not a regular file"))
        }
        let temporary = ".\(name).autonous-\(UInt32.random(in: 0 ... .max))"
        let fd = openat(directory, temporary, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, mode)
        guard fd >= 0 else {
            return .failure(ToolFailure("\(path): cannot create a temporary file: \(String(cString: strerror(errno)))"))
        }
        let written = data.withUnsafeBytes { buffer -> Int in
            guard let base = buffer.baseAddress else { return 0 }
            var offset = 0
            while offset < buffer.count {
                let n = write(fd, base + offset, buffer.count - offset)
                if n < 0 {
                    if errno == EINTR { continue }
                    return -1
                }
                offset += n
            }
            return offset
        }
        let synced = fsync(fd) == 0
        close(fd)
        guard written == data.count, synced else {
            unlinkat(directory, temporary, 0)
            return .failure(ToolFailure("\(path): writing failed: \(String(cString: strerror(errno)))"))
        }
        guard renameat(directory, temporary, directory, name) == 0 else {
            let message = String(cString: strerror(errno))
            unlinkat(directory, temporary, 0)
            return .failure(ToolFailure("\(path): cannot replace the file: \(message)"))
        }
        return .success(written)
    }

    /// Reads a regular file under the root without following symlinks; nil and a message when it cannot.
    static func read(_ path: String, in root: ConfinedRoot, limit: Int = 16 << 20) -> Result<Data, ToolFailure> {
        let fd: Int32
        do {
            fd = try root.open(path, flags: O_RDONLY, followSymlinks: false)
        } catch {
            return .failure(ToolFailure("\(error)"))
        }
        let handle = FileHandle(fileDescriptor: fd, closeOnDealloc: true)
        var info = stat()
        guard fstat(fd, &info) == 0, info.st_mode & S_IFMT == S_IFREG else {
            return .failure(ToolFailure("\(path) is not a regular file"))
        }
        guard info.st_size <= limit else { return .failure(ToolFailure("\(path) is larger than \(limit) bytes")) }
        return .success((try? handle.readToEnd()) ?? Data())
    }
}

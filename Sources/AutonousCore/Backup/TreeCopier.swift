import Foundation

#if canImport(Glibc)
import Glibc
#endif

/// Copies a directory tree file by file, keeping modes, owners, symlinks and modification times, and leaving out
/// what `decide` says; used by `StateBackup` and `StateRestore`.
///
/// Regular files are copied with read(2)/write(2) and fsync'd; symlinks are made anew with the same target (never
/// followed); sockets, FIFOs and devices are always left out (a socket cannot be copied, and nothing of autonous's
/// state is one). Owners are kept when the caller may set them (root), else the copy belongs to the caller.
/// Directory modes are applied after their content is written, so a 0555 artifact directory is still filled.
struct TreeCopier {
    /// What `copy` wrote.
    struct Totals: Sendable, Equatable {
        var files = 0
        var bytes: Int64 = 0
        /// Paths relative to the source root, each with why it was left out.
        var skipped: [String] = []
    }

    /// What to do with one entry.
    enum Decision {
        /// Copy it (a directory with its content).
        case copy
        /// Leave it out and say why in `Totals.skipped`.
        case skip(String)
        /// Leave it out silently: the caller copies it another way.
        case omit
    }

    /// Decides on each entry, given its path relative to the root and its `lstat`.
    let decide: (String, stat) -> Decision

    /// Copies the content of `source` into `destination`, which must exist; returns what was copied and skipped.
    ///
    /// - Throws: `AutonousError(.io)` naming the path that could not be read or written.
    func copy(from source: String, to destination: String) throws -> Totals {
        var totals = Totals()
        try copyContents(of: source, into: destination, relative: "", totals: &totals)
        return totals
    }

    private func copyContents(of source: String, into destination: String, relative: String, totals: inout Totals)
        throws
    {
        for name in try Self.entries(source) {
            let from = source + "/" + name
            let to = destination + "/" + name
            let path = relative.isEmpty ? name : relative + "/" + name
            var info = stat()
            guard lstat(from, &info) == 0 else {
                // Removed between the listing and now (a leftover cleaned up, a scratch file): nothing to copy.
                if errno == ENOENT { continue }
                throw AutonousError(.io, "cannot read \(from)", cause: Errno(errno, "lstat"))
            }
            switch decide(path, info) {
            case .copy: break
            case .omit: continue
            case .skip(let reason):
                totals.skipped.append("\(path) (\(reason))")
                continue
            }
            switch info.st_mode & S_IFMT {
            case S_IFDIR:
                guard mkdir(to, 0o700) == 0 else {
                    throw AutonousError(.io, "cannot create \(to)", cause: Errno(errno, "mkdir"))
                }
                try copyContents(of: from, into: to, relative: path, totals: &totals)
                try Self.applyAttributes(of: info, to: to)
            case S_IFREG:
                totals.bytes += try Self.copyFile(from, to)
                totals.files += 1
                try Self.applyAttributes(of: info, to: to)
            case S_IFLNK:
                let target = try Self.readLink(from)
                guard symlink(target, to) == 0 else {
                    throw AutonousError(.io, "cannot create the symlink \(to)", cause: Errno(errno, "symlink"))
                }
                if geteuid() == 0 { _ = lchown(to, info.st_uid, info.st_gid) }
            default:
                totals.skipped.append("\(path) (not a file, directory or symlink)")
            }
        }
    }

    /// The names in `directory`, sorted, without `.` and `..`.
    static func entries(_ directory: String) throws -> [String] {
        guard let handle = opendir(directory) else {
            throw AutonousError(.io, "cannot list \(directory)", cause: Errno(errno, "opendir"))
        }
        defer { closedir(handle) }
        var names: [String] = []
        while let entry = readdir(handle) {
            let name = withUnsafePointer(to: entry.pointee.d_name) {
                $0.withMemoryRebound(to: CChar.self, capacity: Int(NAME_MAX) + 1) { String(cString: $0) }
            }
            if name != "." && name != ".." { names.append(name) }
        }
        return names.sorted()
    }

    /// Copies one regular file's bytes into a new file (0600 until its attributes are applied), synced.
    static func copyFile(_ from: String, _ to: String) throws -> Int64 {
        let input = open(from, O_RDONLY | O_CLOEXEC | O_NOFOLLOW)
        guard input >= 0 else { throw AutonousError(.io, "cannot read \(from)", cause: Errno(errno, "open")) }
        defer { close(input) }
        let output = open(to, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, 0o600)
        guard output >= 0 else { throw AutonousError(.io, "cannot create \(to)", cause: Errno(errno, "open")) }
        defer { close(output) }
        var total: Int64 = 0
        var buffer = [UInt8](repeating: 0, count: 1 << 16)
        while true {
            let count = try buffer.withUnsafeMutableBytes { raw in
                try retryingSyscall("read \(from)") { read(input, raw.baseAddress, raw.count) }
            }
            if count == 0 { break }
            var written = 0
            while written < count {
                written += try buffer.withUnsafeBytes { raw in
                    let rest = UnsafeRawBufferPointer(rebasing: raw[written ..< count])
                    return try retryingSyscall("write \(to)") { write(output, rest.baseAddress, rest.count) }
                }
            }
            total += Int64(count)
        }
        guard fsync(output) == 0 else { throw AutonousError(.io, "cannot sync \(to)", cause: Errno(errno, "fsync")) }
        return total
    }

    /// Gives `path` the mode, owner (as root) and modification time of `info`.
    static func applyAttributes(of info: stat, to path: String) throws {
        if geteuid() == 0, chown(path, info.st_uid, info.st_gid) != 0 {
            throw AutonousError(.io, "cannot set the owner of \(path)", cause: Errno(errno, "chown"))
        }
        guard chmod(path, info.st_mode & 0o7777) == 0 else {
            throw AutonousError(.io, "cannot set the mode of \(path)", cause: Errno(errno, "chmod"))
        }
        var times = [info.st_atim, info.st_mtim]
        _ = utimensat(AT_FDCWD, path, &times, AT_SYMLINK_NOFOLLOW)
    }

    /// The target of the symlink `path`.
    static func readLink(_ path: String) throws -> String {
        var buffer = [CChar](repeating: 0, count: Int(PATH_MAX) + 1)
        let count = readlink(path, &buffer, buffer.count - 1)
        guard count >= 0 else {
            throw AutonousError(.io, "cannot read the symlink \(path)", cause: Errno(errno, "readlink"))
        }
        return String(decoding: buffer[0 ..< count].map { UInt8(bitPattern: $0) }, as: UTF8.self)
    }
}

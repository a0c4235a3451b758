import AutonousCore
import Foundation

#if canImport(Glibc)
import Glibc
#endif

extension ArtifactStore {
    /// Copies the executable at `path` into the store and returns its manifest.
    ///
    /// The file is copied into a fresh `.import-XXXXXX` directory inside `artifacts/` while it is hashed (it is read
    /// once, so what is hashed is what was copied), synced, given its manifest and modes, and renamed to `<sha256>`
    /// in one step; then `artifacts/` is synced. Importing bytes the store already holds returns the manifest it
    /// already has and writes nothing; an existing artifact that no longer verifies is replaced by the new copy.
    ///
    /// - Throws: `AutonousError` naming `path` and what is wrong with it: not absolute, missing, not a regular file,
    ///   empty, larger than 2 GiB, or neither an ELF executable nor a `#!` script.
    func importFile(
        at path: String, source: Manifest.Source, note: String?, gitCommit: String? = nil,
        baseRevision: String? = nil, toolchain: String? = nil, builtMs: Int64? = nil, testsPassed: Int? = nil,
        testsFailed: Int? = nil, transaction: String? = nil
    ) throws -> Manifest {
        let input = try openSource(path)
        defer { close(input) }
        let staging = try makeStaging()
        var published = false
        defer { if !published { try? ArtifactFiles.removeTree(staging) } }

        let sha256 = try copy(input, from: path, to: staging + "/" + Self.binaryName)
        if case .verified = verify(sha256) { return try self.manifest(sha256) }
        let manifest = Manifest(
            sha256: sha256, source: source, gitCommit: gitCommit, builtMs: builtMs, importedMs: now(),
            toolchain: toolchain, testsPassed: testsPassed, testsFailed: testsFailed, baseRevision: baseRevision,
            note: note, transaction: transaction)
        try writeManifest(manifest, to: staging + "/" + Self.manifestName)
        guard chmod(staging, 0o555) == 0 else {
            throw AutonousError(.io, "cannot make \(staging) read-only", cause: Errno(errno, "chmod"))
        }
        try ArtifactFiles.syncDirectory(staging)
        let target = directoryPath(sha256)
        if rename(staging, target) != 0 {
            let code = errno
            guard code == EEXIST || code == ENOTEMPTY else {
                throw AutonousError(
                    .io, "cannot move the import of \(path) to \(target)", cause: Errno(code, "rename"))
            }
            // Another import of the same bytes won the race, or an artifact that no longer verifies is in the way:
            // that one is moved aside whole (so no half-removed <sha256> is ever seen) and replaced.
            if case .verified = verify(sha256) { return try self.manifest(sha256) }
            let trash = directory + "/" + Self.trashPrefix + sha256 + "-" + ArtifactFiles.randomSuffix()
            try retryingSyscall("rename \(target) to \(trash)") { rename(target, trash) }
            try retryingSyscall("rename \(staging) to \(target)") { rename(staging, target) }
            try? ArtifactFiles.removeTree(trash)
        }
        published = true
        try ArtifactFiles.syncDirectory(directory)
        return manifest
    }

    /// Opens the file to import and checks what it is on the open descriptor, so it cannot be swapped in between.
    private func openSource(_ path: String) throws -> Int32 {
        guard path.hasPrefix("/") else {
            throw AutonousError(.invalidArgument, "cannot import \(path): the path must be absolute")
        }
        // O_NONBLOCK: opening a FIFO must not wait for a writer; it is refused below like every non-regular file.
        let fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK)
        guard fd >= 0 else {
            let code = errno
            if code == ENOENT { throw AutonousError(.notFound, "cannot import \(path): it does not exist") }
            throw AutonousError(.io, "cannot import \(path): it cannot be opened", cause: Errno(code, "open"))
        }
        do {
            var info = stat()
            try retryingSyscall("fstat \(path)") { fstat(fd, &info) }
            let kind = info.st_mode & S_IFMT
            guard kind == S_IFREG else {
                throw AutonousError(
                    .invalidArgument, "cannot import \(path): it is \(Self.describe(kind)), not a regular file")
            }
            guard info.st_size > 0 else {
                throw AutonousError(.invalidArgument, "cannot import \(path): the file is empty")
            }
            guard Int64(info.st_size) <= Self.maximumSize else {
                throw AutonousError(
                    .invalidArgument,
                    "cannot import \(path): the file is \(info.st_size) bytes, more than the 2 GiB limit")
            }
            var magic = [UInt8](repeating: 0, count: 4)
            let count = try retryingSyscall("read \(path)") { pread(fd, &magic, 4, 0) }
            guard (count == 4 && magic == [0x7f, 0x45, 0x4c, 0x46]) || (count >= 2 && magic[0 ..< 2] == [0x23, 0x21])
            else {
                throw AutonousError(
                    .invalidArgument,
                    "cannot import \(path): it is not an executable (it starts with neither the ELF magic nor #!)")
            }
            return fd
        } catch {
            close(fd)
            throw error
        }
    }

    /// Creates `artifacts/.import-XXXXXX` (0700).
    private func makeStaging() throws -> String {
        var template = Array((directory + "/.import-XXXXXX").utf8CString)
        guard let made = mkdtemp(&template) else {
            throw AutonousError(
                .io, "cannot create a temporary directory in \(directory)", cause: Errno(errno, "mkdtemp"))
        }
        return String(cString: made)
    }

    /// Copies `input` to a new file at `path` (0555 once synced) and returns the SHA-256 of what was copied.
    private func copy(_ input: Int32, from source: String, to path: String) throws -> String {
        let output = open(path, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0o600)
        guard output >= 0 else {
            throw AutonousError(.io, "cannot create \(path)", cause: Errno(errno, "open"))
        }
        defer { close(output) }
        var hasher = SHA256()
        var total: Int64 = 0
        let block = UnsafeMutableRawBufferPointer.allocate(byteCount: 1 << 20, alignment: 64)
        defer { block.deallocate() }
        while true {
            let count = try retryingSyscall("read \(source)") { read(input, block.baseAddress, block.count) }
            if count == 0 { break }
            total += Int64(count)
            guard total <= Self.maximumSize else {
                throw AutonousError(.invalidArgument, "cannot import \(source): it grew past the 2 GiB limit")
            }
            let chunk = UnsafeRawBufferPointer(rebasing: block[..<count])
            hasher.update(raw: chunk)
            try ArtifactFiles.writeAll(output, chunk, path)
        }
        guard total > 0 else { throw AutonousError(.invalidArgument, "cannot import \(source): the file is empty") }
        try ArtifactFiles.sync(output, path)
        // Neither copy stays in the page cache for the import's sake (the worker that runs it maps what it needs).
        _ = posix_fadvise(output, 0, 0, POSIX_FADV_DONTNEED)
        _ = posix_fadvise(input, 0, 0, POSIX_FADV_DONTNEED)
        guard fchmod(output, 0o555) == 0 else {
            throw AutonousError(.io, "cannot set the mode of \(path)", cause: Errno(errno, "fchmod"))
        }
        return hasher.finalize().map { String(format: "%02x", $0) }.joined()
    }

    /// Writes the manifest to a new file at `path`, synced and 0444.
    private func writeManifest(_ manifest: Manifest, to path: String) throws {
        let data = try manifest.encoded()
        let fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0o600)
        guard fd >= 0 else { throw AutonousError(.io, "cannot create \(path)", cause: Errno(errno, "open")) }
        defer { close(fd) }
        try data.withUnsafeBytes { try ArtifactFiles.writeAll(fd, $0, path) }
        try ArtifactFiles.sync(fd, path)
        guard fchmod(fd, 0o444) == 0 else {
            throw AutonousError(.io, "cannot set the mode of \(path)", cause: Errno(errno, "fchmod"))
        }
    }

    /// "a directory", "a character device" …: the file type of `kind` (`st_mode & S_IFMT`) for an error message.
    private static func describe(_ kind: mode_t) -> String {
        switch kind {
        case S_IFDIR: "a directory"
        case S_IFCHR: "a character device"
        case S_IFBLK: "a block device"
        case S_IFIFO: "a FIFO"
        case S_IFSOCK: "a socket"
        case S_IFLNK: "a symlink"
        default: "a special file"
        }
    }
}

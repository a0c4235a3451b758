import AutonousCore
import Foundation

#if canImport(Glibc)
import Glibc
#endif

extension ArtifactStore {
    /// The three symlinks in `artifacts/` that say which revision runs and which to fall back to.
    enum Pointer: String, CaseIterable, Sendable {
        /// The revision the supervisor spawns.
        case current
        /// The newest revision that passed probation.
        case lastGood = "last-good"
        /// The last-good before it (N-1): what a rollback returns to.
        case previousGood = "previous-good"
    }

    /// The sha256 the pointer names, or nil when it is absent, dangling or not a sha256.
    func pointer(_ pointer: Pointer) -> String? {
        guard let target = linkTarget(pointer), ArtifactFiles.isSHA256(target),
            ArtifactFiles.isDirectory(directoryPath(target))
        else { return nil }
        return target
    }

    /// Points `pointer` at the artifact `sha256`, or removes it when `sha256` is nil.
    ///
    /// The flip is atomic: a new symlink `.<name>.tmp-XXXXXX` is renamed over the name, so a reader sees the old
    /// target or the new one, never no link. The target must be an existing artifact directory (it names a
    /// complete artifact, since artifacts only appear by rename). `artifacts/` is synced afterwards.
    ///
    /// - Throws: `AutonousError(.invalidArgument)` for a malformed sha256, `.notFound` when the artifact does not
    ///   exist, `.io` when a syscall fails.
    func setPointer(_ pointer: Pointer, to sha256: String?) throws {
        let path = directory + "/" + pointer.rawValue
        guard let sha256 else {
            guard unlink(path) == 0 || errno == ENOENT else {
                throw AutonousError(.io, "cannot remove the pointer \(path)", cause: Errno(errno, "unlink"))
            }
            try ArtifactFiles.syncDirectory(directory)
            return
        }
        guard ArtifactFiles.isSHA256(sha256) else {
            throw AutonousError(
                .invalidArgument, "cannot point \(pointer.rawValue) at '\(sha256)': not a sha256 (64 lowercase hex)")
        }
        guard ArtifactFiles.isDirectory(directoryPath(sha256)) else {
            throw AutonousError(
                .notFound, "cannot point \(pointer.rawValue) at \(sha256): \(directoryPath(sha256)) does not exist")
        }
        var temporary = ""
        while true {
            temporary = directory + "/.\(pointer.rawValue).tmp-" + ArtifactFiles.randomSuffix()
            if symlink(sha256, temporary) == 0 { break }
            guard errno == EEXIST else {
                throw AutonousError(.io, "cannot create the symlink \(temporary)", cause: Errno(errno, "symlink"))
            }
        }
        guard rename(temporary, path) == 0 else {
            let code = errno
            unlink(temporary)
            throw AutonousError(.io, "cannot flip \(path) to \(sha256)", cause: Errno(code, "rename"))
        }
        try ArtifactFiles.syncDirectory(directory)
    }

    /// What the symlink `pointer` contains, whatever it is; nil when there is no symlink.
    func linkTarget(_ pointer: Pointer) -> String? {
        let path = directory + "/" + pointer.rawValue
        // A pointer names a 64-character directory; anything longer than the buffer is garbage either way.
        var buffer = [CChar](repeating: 0, count: 256)
        let count = readlink(path, &buffer, buffer.count)
        guard count >= 0 else { return nil }
        return String(decoding: buffer[..<count].map { UInt8(bitPattern: $0) }, as: UTF8.self)
    }

    /// Removes what a crash left behind: `.import-*` directories and `.<pointer>.tmp-*` symlinks older than a
    /// minute (younger ones may belong to an import or a flip in progress: an import's file is written to all the
    /// time, so its age is that of the newest write), and `.trash-*` directories of an
    /// interrupted prune. Failures are ignored: the next listing tries again.
    func removeLeftovers() {
        let entries = (try? FileManager.default.contentsOfDirectory(atPath: directory)) ?? []
        let cutoff = now() - Self.leftoverAge
        for entry in entries where entry.hasPrefix(".") {
            let path = directory + "/" + entry
            let isTemporary =
                entry.hasPrefix(".import-") || Pointer.allCases.contains { entry.hasPrefix(".\($0.rawValue).tmp-") }
            if entry.hasPrefix(Self.trashPrefix) {
                try? ArtifactFiles.removeTree(path)
            } else if isTemporary, let modifiedMs = Self.lastModifiedMs(path), modifiedMs < cutoff {
                try? ArtifactFiles.removeTree(path)
            }
        }
    }

    /// The newest modification time of `path` and, when it is a directory, of its entries, in Unix milliseconds.
    private static func lastModifiedMs(_ path: String) -> Int64? {
        func milliseconds(_ info: stat) -> Int64 {
            Int64(info.st_mtim.tv_sec) * 1000 + Int64(info.st_mtim.tv_nsec) / 1_000_000
        }
        guard let info = ArtifactFiles.status(path) else { return nil }
        var newest = milliseconds(info)
        guard info.st_mode & S_IFMT == S_IFDIR else { return newest }
        for entry in (try? FileManager.default.contentsOfDirectory(atPath: path)) ?? [] {
            if let inner = ArtifactFiles.status(path + "/" + entry) { newest = max(newest, milliseconds(inner)) }
        }
        return newest
    }
}

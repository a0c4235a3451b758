#if canImport(Glibc)
import Glibc
#endif

/// The empty `.git`, `.git/hooks`, `.git/config` and `.autonous` the sandbox creates in a writable workspace that
/// lacks them, so that it can cover them read-only (a command must not be able to plant hooks or a git
/// configuration the operator's own git would run). The launcher removes the ones its run created once the run is
/// over, so a workspace looks afterwards as it did before.
///
/// Runs on the same workspace share it: each holds a shared flock on the workspace directory for its whole run, and
/// cleans up only when it can take the lock exclusively, that is, when no other run still has the placeholders
/// mounted (removing a directory another mount namespace has a mount on would detach that cover).
struct WorkspacePlaceholders {
    /// The protected paths, children before parents (the removal order).
    static let candidates = [".git/hooks", ".git/config", ".git", ".autonous"]

    private let directory: String
    private let missing: [String]
    private let lock: Int32

    /// Every writable directory of the profile that gets covers: the workspace and writable bound directories.
    static func all(for profile: SandboxProfile) -> [WorkspacePlaceholders] {
        guard !profile.protectedPaths.isEmpty else { return [] }
        var directories = profile.workspaceWritable ? profile.workspace.map { [$0] } ?? [] : []
        directories += profile.binds.filter { $0.writable && Posix.kind($0.path) == .directory }.map(\.path)
        return directories.compactMap(WorkspacePlaceholders.init(directory:))
    }

    /// Takes the shared lock and notes which protected paths are missing before the run; nil when the directory
    /// cannot be opened (the run itself reports that).
    private init?(directory: String) {
        let lock = open(directory, O_RDONLY | O_DIRECTORY | O_CLOEXEC)
        guard lock >= 0 else { return nil }
        while flock(lock, LOCK_SH) != 0 && errno == EINTR {}
        self.directory = directory
        self.lock = lock
        self.missing = Self.candidates.filter { Posix.kind(directory + "/" + $0) == .missing }
    }

    /// Removes what the run created, if it is still an empty placeholder and no other run holds the directory;
    /// releases the lock.
    func finish() {
        defer { close(lock) }
        guard !missing.isEmpty else { return }
        // Let go of the shared lock first: two runs ending together would otherwise each see the other's lock and
        // neither clean up. Whoever then gets the lock exclusively is the last one out.
        _ = flock(lock, LOCK_UN)
        guard flock(lock, LOCK_EX | LOCK_NB) == 0 else { return }
        for relative in missing {
            let path = directory + "/" + relative
            var info = stat()
            guard lstat(path, &info) == 0 else { continue }
            switch info.st_mode & S_IFMT {
            case S_IFDIR: _ = rmdir(path)
            case S_IFREG where info.st_size == 0: _ = unlink(path)
            default: break
            }
        }
    }
}

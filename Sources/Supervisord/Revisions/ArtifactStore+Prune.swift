import AutonousCore
import Foundation

#if canImport(Glibc)
import Glibc
#endif

extension ArtifactStore {
    /// The name prefix an artifact is renamed to before it is removed.
    static let trashPrefix = ".trash-"

    /// Removes every artifact but the newest `keep` (by `importedMs`), those in `protecting`, and whatever the
    /// three pointers name (even a pointer left dangling is read as the name it holds). Returns the removed
    /// sha256s, newest first.
    ///
    /// Each artifact is first renamed to `.trash-<sha256>` (one atomic step, so no half-removed `<sha256>` is ever
    /// listed) and then removed; a crash in between leaves a `.trash-*` entry that `all()` removes. Entries that
    /// are not complete artifacts (no readable manifest) are left alone: the store never deletes what it cannot
    /// identify.
    ///
    /// - Throws: `AutonousError(.invalidArgument)` for a negative `keep`, `.io` when a removal fails (artifacts
    ///   removed before it stay removed).
    func prune(keep: Int, protecting: Set<String>) throws -> [String] {
        guard keep >= 0 else {
            throw AutonousError(.invalidArgument, "cannot prune artifacts: keep must not be negative (got \(keep))")
        }
        let manifests = all()
        var kept = protecting.union(manifests.prefix(keep).map(\.sha256))
        for pointer in Pointer.allCases {
            if let target = linkTarget(pointer) { kept.insert(target) }
        }
        var removed: [String] = []
        for manifest in manifests where !kept.contains(manifest.sha256) {
            let trash = directory + "/" + Self.trashPrefix + manifest.sha256 + "-" + ArtifactFiles.randomSuffix()
            guard rename(directoryPath(manifest.sha256), trash) == 0 else {
                throw AutonousError(
                    .io, "cannot remove the artifact \(directoryPath(manifest.sha256))", cause: Errno(errno, "rename"))
            }
            removed.append(manifest.sha256)
            try ArtifactFiles.removeTree(trash)
        }
        if !removed.isEmpty { try ArtifactFiles.syncDirectory(directory) }
        return removed
    }
}

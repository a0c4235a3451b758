import AutonousCore
import Foundation

extension ArtifactStore {
    /// Makes the three symlinks name what the newest revision log entry says they must, and returns one line per
    /// pointer it changed (empty when all three already matched).
    ///
    /// This is what a restarted supervisor runs first: the log is written before the symlinks are flipped, so after
    /// a kill -9 between the two the log is right and the disk is behind. Only pointers that differ are touched.
    /// Without any entry (nothing recorded yet) the symlinks are left as they are.
    ///
    /// - Throws: `AutonousError(.notFound)` when the log names an artifact that is not in the store; every pointer
    ///   that could be set was set first, and the message lists what was changed and what could not be.
    func reconcile(with entry: RevisionLog.Entry?) throws -> [String] {
        guard let entry else { return [] }
        let wanted: [(Pointer, String?)] = [
            (.current, entry.current), (.lastGood, entry.lastGood), (.previousGood, entry.previousGood),
        ]
        var changes: [String] = []
        var missing: [String] = []
        for (name, target) in wanted {
            let present = linkTarget(name)
            if let target {
                guard ArtifactFiles.isDirectory(directoryPath(target)) else {
                    missing.append("\(name.rawValue) must name \(target), which is not in \(directory)")
                    continue
                }
                if present == target { continue }
                try setPointer(name, to: target)
                changes.append("\(name.rawValue): \(present ?? "none") -> \(target)")
            } else if let present {
                try setPointer(name, to: nil)
                changes.append("\(name.rawValue): \(present) -> none")
            }
        }
        guard missing.isEmpty else {
            let done = changes.isEmpty ? "nothing was changed" : "changed " + changes.joined(separator: ", ")
            throw AutonousError(
                .notFound,
                "cannot reconcile the revision pointers with log entry \(entry.id): "
                    + missing.joined(separator: "; ") + " (\(done))")
        }
        return changes
    }
}

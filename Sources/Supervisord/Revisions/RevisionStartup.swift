import AutonousCore
import Foundation
import Logging

/// What the supervisor runs when it starts: the revisions table's newest record is the write-ahead truth, the
/// symlinks are made to agree with it (a kill -9 between a record and its flip leaves them one step behind), and
/// `AUTONOUS_WORKER_BIN` is imported when it is new: as the first last-good on the first start, or deployed through
/// probation after an upgrade put a new binary there.
enum RevisionStartup {
    struct Outcome: Sendable {
        var pointers: WorkerMonitor.Pointers
        /// The current revision's probation was interrupted: it starts over.
        var onProbation: Bool
        /// A new bootstrap binary to deploy through probation.
        var deploy: String?
    }

    /// - Parameter sourceCommit: the commit `src/` names (its HEAD after seeding): recorded in the manifest of a
    ///   bootstrap binary imported now, which was built from it.
    static func prepare(
        store: ArtifactStore, log: RevisionLog, bootstrapBinary: String, processEventID: Int64,
        sourceCommit: String? = nil, logger: Logger
    ) throws -> Outcome {
        if let latest = try log.latest(), let current = latest.current {
            for change in try store.reconcile(with: latest) {
                logger.notice(
                    "revision pointers reconciled with the revisions table", metadata: ["change": "\(change)"])
            }
            let pointers = WorkerMonitor.Pointers(
                current: current, lastGood: latest.lastGood, previousGood: latest.previousGood)
            let onProbation = try log.latest(for: current)?.state == .probation
            var deploy: String?
            // A binary never seen before at AUTONOUS_WORKER_BIN (an upgrade) is deployed like any other.
            if FileManager.default.isExecutableFile(atPath: bootstrapBinary) {
                let digest = try SHA256.hex(fileAt: bootstrapBinary)
                if try log.latest(for: digest) == nil {
                    let manifest = try store.importFile(
                        at: bootstrapBinary, source: .bootstrap, note: "a new AUTONOUS_WORKER_BIN (\(bootstrapBinary))",
                        gitCommit: sourceCommit, baseRevision: current)
                    deploy = manifest.sha256
                }
            } else {
                logger.warning(
                    "AUTONOUS_WORKER_BIN is not an executable file; running the recorded revisions",
                    metadata: ["worker.binary": "\(bootstrapBinary)"])
            }
            return Outcome(pointers: pointers, onProbation: onProbation, deploy: deploy)
        }
        // The first start: the bootstrap binary is the first last-good (there is nothing older to trust). Without
        // it there is nothing to run at all: a configuration error, so systemd does not restart in a loop.
        guard FileManager.default.isExecutableFile(atPath: bootstrapBinary) else {
            throw ConfigurationError(
                variable: "AUTONOUS_WORKER_BIN",
                message: "names \(bootstrapBinary), which is not an executable file; the first start imports it as "
                    + "the first worker revision")
        }
        let manifest = try store.importFile(
            at: bootstrapBinary, source: .bootstrap,
            note: "AUTONOUS_WORKER_BIN (\(bootstrapBinary)) at the first start",
            gitCommit: sourceCommit)
        let sha = manifest.sha256
        let entry = try log.record(
            sha, .promoted, reason: "bootstrap: the first start imported AUTONOUS_WORKER_BIN", current: sha,
            lastGood: sha, previousGood: nil,
            event: (
                type: .revisionPromoted,
                payload: [
                    "revision": .string(sha), "reason": .string("bootstrap"), "binary": .string(bootstrapBinary),
                ],
                parentID: processEventID
            ))
        _ = try store.reconcile(with: entry)
        logger.notice(
            "imported the bootstrap worker", metadata: ["revision": "\(sha)", "worker.binary": "\(bootstrapBinary)"])
        return Outcome(
            pointers: WorkerMonitor.Pointers(current: sha, lastGood: sha, previousGood: nil), onProbation: false,
            deploy: nil)
    }
}

import AutonousCore
import Foundation

/// `ListRevisions`, `Deploy` and `Rollback`: the operator's view of the revisions and the two ways to change them.
extension ControlService {
    /// Every kept revision, newest import first, with its last recorded state and what the pointers name.
    func revisionList() throws -> [ControlInterface.Revision] {
        let states = try revisions.states()
        let pointers = manager.pointers()
        return store.all().map { manifest in
            revisionInfo(manifest, entry: states[manifest.sha256], pointers: pointers)
        }
    }

    func revisionInfo(
        _ manifest: ArtifactStore.Manifest, entry: RevisionLog.Entry?, pointers: WorkerMonitor.Pointers
    ) -> ControlInterface.Revision {
        ControlInterface.Revision(
            sha256: manifest.sha256, source: manifest.source.rawValue, gitCommit: manifest.gitCommit,
            builtMs: manifest.builtMs, importedMs: manifest.importedMs, toolchain: manifest.toolchain,
            testsPassed: manifest.testsPassed, testsFailed: manifest.testsFailed, baseRevision: manifest.baseRevision,
            note: manifest.note, state: entry?.state.rawValue ?? "imported",
            current: pointers.current == manifest.sha256, lastGood: pointers.lastGood == manifest.sha256,
            changedMs: entry?.tsMs ?? manifest.importedMs, reason: entry?.reason)
    }

    func deploy(
        _ request: ControlInterface.DeployRequest, peer: PeerCredentials, replier: VarlinkReplier
    ) async throws -> ControlInterface.DeployResponse {
        guard request.path.hasPrefix("/") else {
            throw VarlinkError(
                "io.autonous.Control.InvalidValue",
                ["parameter": .string("path"), "message": .string("must be an absolute path, got '\(request.path)'")])
        }
        if let note = request.note, note.utf8.count > 1000 || note.contains(where: \.isNewline) {
            throw VarlinkError(
                "io.autonous.Control.InvalidValue",
                ["parameter": .string("note"), "message": .string("must be one line of at most 1000 bytes")])
        }
        let who = "\(Self.userName(peer.uid)) (uid \(peer.uid))"
        let manifest: ArtifactStore.Manifest
        do {
            manifest = try manager.deploy(path: request.path, note: request.note, requestedBy: who)
        } catch let refusal as RevisionRefusal {
            throw VarlinkError("io.autonous.Control.RevisionRefused", ["message": .string(refusal.message)])
        }
        logger.notice("deploy started", metadata: ["revision": "\(manifest.sha256)", "deploy.by": "\(who)"])
        var outcome: String?
        var reason: String?
        if request.wait == true {
            let manager = manager
            let result = try await replier.whileCallerListens { await manager.waitForDeploy(manifest.sha256) }
            outcome = result.map { $0.promoted ? "promoted" : "reverted" } ?? "unknown"
            reason = result?.reason ?? (result == nil ? "the deploy did not finish in time" : nil)
        }
        let entry = try revisions.latest(for: manifest.sha256)
        return ControlInterface.DeployResponse(
            revision: revisionInfo(manifest, entry: entry, pointers: manager.pointers()), outcome: outcome,
            reason: reason)
    }

    func rollback(_ request: ControlInterface.RollbackRequest, peer: PeerCredentials) throws
        -> ControlInterface.RollbackResponse
    {
        let who = "\(Self.userName(peer.uid)) (uid \(peer.uid))"
        let revision: String
        do {
            revision = try manager.rollback(to: request.to, requestedBy: who)
        } catch let refusal as RevisionRefusal {
            throw VarlinkError("io.autonous.Control.RevisionRefused", ["message": .string(refusal.message)])
        } catch ArtifactStore.ResolveError.notFound(let prefix) {
            throw VarlinkError("io.autonous.Control.NoSuchRevision", ["revision": .string(prefix)])
        } catch ArtifactStore.ResolveError.ambiguous(let prefix, let matches) {
            throw VarlinkError(
                "io.autonous.Control.AmbiguousRevision",
                ["revision": .string(prefix), "matches": .array(matches.map { .string($0) })])
        } catch ArtifactStore.ResolveError.malformed(let text) {
            throw VarlinkError(
                "io.autonous.Control.InvalidValue",
                [
                    "parameter": .string("to"),
                    "message": .string("a revision is 8 to 64 lowercase hex digits of its sha256, got '\(text)'"),
                ])
        }
        logger.notice("rollback started", metadata: ["revision": "\(revision)", "rollback.by": "\(who)"])
        let manifest = try store.manifest(revision)
        return ControlInterface.RollbackResponse(
            revision: revisionInfo(manifest, entry: try revisions.latest(for: revision), pointers: manager.pointers()),
            message: "rolling back to \(revision.prefix(12)); it starts now as current and last-good")
    }
}

import AutonousCore
import Foundation

#if canImport(Glibc)
import Glibc
#endif

/// What the worker may ask of the pipeline: a working copy, and a proposal. Neither decides anything.
extension UpdatePipeline {
    /// A request the pipeline refuses, with one sentence for the model.
    struct Refusal: Error, CustomStringConvertible {
        var message: String
        init(_ message: String) { self.message = message }
        var description: String { message }
    }

    /// The commit the running revision was built from.
    func runningCommit() throws -> (revision: String, commit: String) {
        guard repository.exists else {
            throw Refusal(
                "there is no source repository at \(configuration.sourceDirectory): set AUTONOUS_SOURCE_REPO to a "
                    + "checkout of autonous and restart (make run and make install do)")
        }
        let current = manager.pointers().current
        let manifest = try artifacts.manifest(current)
        guard let commit = manifest.gitCommit else {
            throw Refusal(
                "the running revision \(current.prefix(12)) names no source commit (it was imported without one), "
                    + "so there is nothing to patch against")
        }
        return (current, commit)
    }

    /// Clones the running commit into `workspace/autonous` (sandboxed, as the worker's user) unless something is
    /// there already.
    func prepareWorkingCopy() async throws -> WorkerInterface.WorkingCopy {
        let (_, commit) = try runningCommit()
        let workspace = configuration.workspaceDirectory
        let target = workspace + "/" + Self.workingCopyName
        var info = stat()
        if lstat(target, &info) == 0 {
            return WorkerInterface.WorkingCopy(commit: commit, path: Self.workingCopyName, created: false)
        }
        try makeDirectories()
        let bundle = bundlesDirectory + "/working-copy-" + commit + ".bundle"
        if !FileManager.default.fileExists(atPath: bundle) {
            try await repository.git(["update-ref", "refs/autonous/working-copy", commit])
            let staging = bundle + ".tmp"
            try await repository.git(["bundle", "create", "--quiet", staging, "refs/autonous/working-copy"])
            chmod(staging, 0o644)
            guard rename(staging, bundle) == 0 else { throw Errno(errno, "rename \(staging)") }
        }
        let script = """
            set -e
            rm -rf .autonous-clone
            git init -q .autonous-clone
            git -C .autonous-clone fetch -q /autonous/source.bundle refs/autonous/working-copy:refs/tags/running
            git -C .autonous-clone checkout -q -B work \(commit)
            git -C .autonous-clone config user.name autonous
            git -C .autonous-clone config user.email autonous@localhost
            mv .autonous-clone \(Self.workingCopyName)
            """
        var arguments = ["--profile", "exec", "--die-with-parent", "--workspace", workspace]
        if geteuid() == 0 {
            arguments += ["--uid", String(configuration.workerUID), "--gid", String(configuration.workerUID)]
        }
        if configuration.sandboxLimitsBestEffort { arguments.append("--best-effort-limits") }
        arguments += [
            "--ro-bind", bundle, "/autonous/source.bundle", "--timeout", "300", "--env", "GIT_CONFIG_NOSYSTEM=1",
            "--cwd", workspace, "--", "/bin/sh", "-c", script,
        ]
        let log = bundlesDirectory + "/working-copy.log"
        unlink(log)
        let (stream, continuation) = AsyncStream<ExitStatus>.makeStream()
        _ = try ChildProcess.spawn(
            executable: sandboxBinary, arguments: arguments, environment: ["PATH": "/usr/local/bin:/usr/bin:/bin"],
            output: .file(log),
            onExit: { status in
                continuation.yield(status)
                continuation.finish()
            })
        var status = ExitStatus.signaled(SIGKILL)
        for await ended in stream { status = ended }
        guard status == .exited(0) else {
            let said = Self.tail(log, count: 5).joined(separator: "; ")
            throw Refusal("cannot make the working copy (\(status)): \(said)")
        }
        logger.info(
            "working copy made", metadata: ["source.commit": "\(commit)", "workspace.path": "\(target)"])
        return WorkerInterface.WorkingCopy(commit: commit, path: Self.workingCopyName, created: true)
    }

    /// Checks a proposal and records it as a `created` transaction; the loop builds it when its turn comes.
    func propose(_ request: WorkerInterface.ProposeUpdateRequest) async throws -> WorkerInterface.ProposeUpdateReply {
        let (revision, commit) = try runningCommit()
        guard request.base == commit else {
            throw Refusal(
                "the patch is against \(request.base.prefix(12)), but the running revision was built from "
                    + "\(commit.prefix(12)): bring the working copy up to that commit and propose again")
        }
        let summary = request.summary.trimmingCharacters(in: .whitespacesAndNewlines)
        guard !summary.isEmpty else { throw Refusal("the summary is empty: say what the change does and why") }
        guard summary.utf8.count <= 8000 else { throw Refusal("the summary is over 8000 bytes") }
        var title = (request.title ?? "").trimmingCharacters(in: .whitespacesAndNewlines)
        if title.isEmpty {
            title = String(summary.split(separator: "\n").first ?? "").trimmingCharacters(in: .whitespaces)
        }
        title = String(title.prefix(120))
        guard !request.requestedBy.isEmpty, request.requestedBy.utf8.count <= 100 else {
            throw Refusal("requestedBy must name who asked (telegram:<user id> or local)")
        }
        do {
            _ = try UpdatePatch.check(request.patch, maxBytes: configuration.updateMaxPatch)
        } catch let refusal {
            throw Refusal(refusal.message)
        }
        try makeDirectories()
        let data = Data(request.patch.utf8)
        let sha256 = SHA256.hex(data)
        let path = patchPath(sha256)
        if !FileManager.default.fileExists(atPath: path) {
            let staging = path + ".tmp-" + UUID().uuidString.prefix(8).lowercased()
            try data.write(to: URL(fileURLWithPath: staging))
            chmod(staging, 0o600)
            guard rename(staging, path) == 0 else { throw Errno(errno, "rename \(staging)") }
        }
        let scratch = patchesDirectory + "/.check-" + UUID().uuidString.prefix(8).lowercased()
        try FileManager.default.createDirectory(atPath: scratch, withIntermediateDirectories: false)
        defer { try? FileManager.default.removeItem(atPath: scratch) }
        do {
            try await repository.check(patch: path, base: commit, scratch: scratch)
        } catch let error as SourceRepository.GitError {
            throw Refusal("the patch does not apply to \(commit.prefix(12)): \(error.message)")
        }
        let queuedBehind = try store.inFlight() ?? store.nextQueued()
        let transaction = try store.create(
            Transaction.Proposal(
                title: title, summary: summary, requestedBy: request.requestedBy, runID: request.runId,
                baseRevision: revision, baseCommit: commit, patchSHA256: sha256, patchBytes: Int64(data.count)))
        logger.notice(
            "self-update proposed",
            metadata: [
                "tx": "\(transaction.id)", "update.title": "\(title)", "update.by": "\(request.requestedBy)",
            ])
        changes.notify()
        var message =
            "Proposed as \(transaction.id). The supervisor builds and tests it in a sandbox, runs its self-check and "
            + "stages it; then an admin approves or rejects it (autonousctl transaction \(transaction.id) shows it)."
        if let queuedBehind {
            message += " It waits for \(queuedBehind.id) first: one update runs at a time."
        }
        return WorkerInterface.ProposeUpdateReply(
            tx: transaction.id, state: transaction.state.rawValue, message: message)
    }
}

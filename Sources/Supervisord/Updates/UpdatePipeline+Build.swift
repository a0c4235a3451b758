import AutonousCore
import Foundation
import Subprocess
import SystemPackage

#if canImport(Glibc)
import Glibc
#endif

/// created → building → testing → self_checking → staged, or one of the failed ends.
extension UpdatePipeline {
    func process(_ transaction: Transaction) async throws {
        let id = transaction.id
        let base = transaction.proposal.baseCommit
        let directory = directory(id)
        try makeDirectories()
        try? FileManager.default.removeItem(atPath: directory)
        try FileManager.default.createDirectory(
            atPath: directory, withIntermediateDirectories: false, attributes: [.posixPermissions: 0o711])
        let tree = directory + "/tree"
        let output = directory + "/out"
        let buildLog = directory + "/build.log"
        let testLog = directory + "/test.log"
        let patch = patchPath(transaction.proposal.patchSHA256)
        guard (try? SHA256.hex(fileAt: patch)) == transaction.proposal.patchSHA256 else {
            try move(id, to: .buildFailed, reason: "its patch file \(patch) is missing or changed")
            return
        }
        try move(id, to: .building, reason: nil)

        // The commit, in the supervisor's repository, through a temporary index.
        let commit: String
        let diffstat: String
        do {
            let message = "\(transaction.proposal.title)\n\n\(transaction.proposal.summary)\n\nTransaction: \(id)\n"
            commit = try await repository.commit(
                patch: patch, base: base, message: message, transaction: id, scratch: directory)
            diffstat = try await repository.diffstat(from: base, to: commit)
            for path in [tree, output] {
                try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: false)
            }
            try await repository.export(commit, to: tree, scratch: directory)
        } catch let error as SourceRepository.GitError {
            try move(id, to: .buildFailed, reason: "the patch does not apply: \(error.message)")
            return
        }
        build.handOver(tree)
        build.handOver(output)
        build.handOver(configuration.buildCacheDirectory)

        let builtAt = AppDatabase.nowMilliseconds()
        let buildStatus = try await build.run(
            configuration.updateBuildCommand ?? UpdateBuildSandbox.defaultBuildCommand, transaction: id, tree: tree,
            output: output, log: buildLog, report: output + "/test-report.json")
        let binary = output + "/" + UpdateBuildSandbox.binaryName
        guard buildStatus == .exited(0) else {
            try move(
                id, to: .buildFailed, reason: "the build command \(Self.describe(buildStatus)); see \(buildLog)",
                fields: Transaction.Update(commit: commit, diffstat: diffstat))
            recordTail(id, step: "build", log: buildLog)
            return
        }
        guard FileManager.default.isExecutableFile(atPath: binary) else {
            try move(
                id, to: .buildFailed,
                reason: "the build command succeeded but left no executable at $AUTONOUS_BUILD_OUTPUT",
                fields: Transaction.Update(commit: commit, diffstat: diffstat))
            recordTail(id, step: "build", log: buildLog)
            return
        }
        try move(
            id, to: .testing, reason: nil, fields: Transaction.Update(commit: commit, diffstat: diffstat))
        recordTail(id, step: "build", log: buildLog)

        let report = output + "/test-report.json"
        unlink(report)
        let testStatus = try await build.run(
            configuration.updateTestCommand ?? UpdateBuildSandbox.defaultTestCommand, transaction: id, tree: tree,
            output: output, log: testLog, report: report)
        let logText = (try? String(contentsOfFile: testLog, encoding: .utf8)) ?? ""
        let counts = UpdatePatch.testCounts(report: FileManager.default.contents(atPath: report), log: logText)
        let countFields = Transaction.Update(testsPassed: counts?.passed, testsFailed: counts?.failed)
        recordTail(id, step: "test", log: testLog)
        guard testStatus == .exited(0), (counts?.failed ?? 0) == 0 else {
            let failing = counts.map { ": \($0.failed) failed, \($0.passed) passed" } ?? ""
            try move(
                id, to: .testFailed, reason: "the test command \(Self.describe(testStatus))\(failing)",
                fields: countFields)
            return
        }
        try move(id, to: .selfChecking, reason: nil, fields: countFields)

        // The artifact is imported before its self-check, so what is checked is what would be staged.
        let manifest: ArtifactStore.Manifest
        do {
            manifest = try artifacts.importFile(
                at: binary, source: .selfUpdate, note: transaction.proposal.title, gitCommit: commit,
                baseRevision: transaction.proposal.baseRevision, toolchain: await toolchainVersion(), builtMs: builtAt,
                testsPassed: counts?.passed, testsFailed: counts?.failed, transaction: id)
        } catch {
            try move(id, to: .selfCheckFailed, reason: "cannot import the built binary: \(error)")
            return
        }
        guard manifest.sha256 != manager.pointers().current else {
            try move(
                id, to: .selfCheckFailed, reason: "the build produced the running revision's binary: nothing changed")
            return
        }
        let checked = await selfCheck.run(revision: manifest.sha256, binary: artifacts.binaryPath(manifest.sha256))
        guard checked.passed else {
            try move(id, to: .selfCheckFailed, reason: "the self-check failed: \(checked.message)")
            return
        }
        let expires = UpdateApproval.deadline(
            stagedMs: AppDatabase.nowMilliseconds(), ttl: configuration.updateApprovalTTL)
        let staged = try move(
            id, to: .staged, reason: nil,
            fields: Transaction.Update(artifactSHA256: manifest.sha256, expiresMs: expires))
        try? FileManager.default.removeItem(atPath: tree)
        logger.notice(
            "self-update staged", metadata: ["tx": "\(id)", "revision": "\(manifest.sha256)"])
        manager.announceStagedUpdate(Self.stagedMessage(staged), tx: id, sha256: manifest.sha256)
    }

    /// What the admins read when a transaction is staged.
    static func stagedMessage(_ transaction: Transaction) -> String {
        var lines = ["Self-update \(transaction.id) is staged: \(transaction.proposal.title)"]
        lines.append(String(transaction.proposal.summary.prefix(1500)))
        if let diffstat = transaction.diffstat, let summary = diffstat.split(separator: "\n").last {
            lines.append("Changes: \(summary.trimmingCharacters(in: .whitespaces))")
        }
        if let passed = transaction.testsPassed, let failed = transaction.testsFailed {
            lines.append("Tests: \(passed) passed, \(failed) failed")
        }
        if let sha256 = transaction.artifactSHA256 { lines.append("Artifact: \(sha256.prefix(12))") }
        lines.append("Approve or reject with the buttons, or: autonousctl approve \(transaction.id)")
        return lines.joined(separator: "\n")
    }

    /// The last lines of a step's log, as an event under the transaction.
    func recordTail(_ id: String, step: String, log: String) {
        let lines = Self.tail(log, count: 20)
        _ = try? store.write("record the \(step) log's tail of \(id)") { db in
            try EventLog.append(
                db, .updateLogTail,
                EventContext(parentID: try TransactionStore.creationEventID(db, id)),
                payload: [
                    "tx": .string(id), "step": .string(step), "log": .string(log),
                    "last_lines": .array(lines.map { .string($0) }),
                ])
        }
    }

    static func describe(_ status: ExitStatus) -> String {
        switch status {
        case .exited(124): "ran out of time (AUTONOUS_UPDATE_TIMEOUT)"
        case .exited(125): "could not start: its sandbox could not be set up"
        default: status.description
        }
    }

    /// The first line of `swift --version` of the toolchain builds use; nil when there is none.
    func toolchainVersion() async -> String? {
        guard let toolchain = UpdateBuildSandbox.toolchain(environment: build.environment) else { return nil }
        let result = try? await Subprocess.run(
            .path(FilePath(toolchain.bin + "/swift")), arguments: ["--version"],
            environment: .custom(["PATH": "/usr/bin:/bin"]), input: .none, output: .string(limit: 4096),
            error: .discarded)
        return result?.standardOutput.split(separator: "\n").first.map { String($0.prefix(200)) }
    }
}

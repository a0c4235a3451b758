import AutonousCore
import Foundation

extension ArtifactStore {
    /// What the store knows about one artifact, kept beside it as `manifest.json` (read-only, camelCase keys).
    ///
    /// Written once at import and never rewritten: an artifact's history (deploys, reverts) lives in the revision
    /// log, not here.
    struct Manifest: Codable, Sendable, Equatable {
        /// Where an artifact came from.
        enum Source: String, Codable, Sendable {
            /// The worker binary installed with the supervisor, imported at the first start.
            case bootstrap
            /// An operator's `autonousctl deploy`.
            case `operator`
            /// Built and tested by the self-update pipeline from a patch the agent proposed.
            case selfUpdate = "self-update"
        }

        /// The SHA-256 of `autonous-worker`, which is also the artifact's directory name.
        var sha256: String
        var source: Source
        var gitCommit: String?
        var builtMs: Int64?
        var importedMs: Int64
        var toolchain: String?
        var testsPassed: Int?
        var testsFailed: Int?
        /// The revision a self-update was built on.
        var baseRevision: String?
        var note: String?
        /// The update transaction that built it.
        var transaction: String?

        init(
            sha256: String, source: Source, gitCommit: String? = nil, builtMs: Int64? = nil, importedMs: Int64,
            toolchain: String? = nil, testsPassed: Int? = nil, testsFailed: Int? = nil, baseRevision: String? = nil,
            note: String? = nil, transaction: String? = nil
        ) {
            self.sha256 = sha256
            self.source = source
            self.gitCommit = gitCommit
            self.builtMs = builtMs
            self.importedMs = importedMs
            self.toolchain = toolchain
            self.testsPassed = testsPassed
            self.testsFailed = testsFailed
            self.baseRevision = baseRevision
            self.note = note
            self.transaction = transaction
        }

        /// The manifest as written to disk: sorted keys, one field a line, so an operator can read it with `cat`.
        func encoded() throws -> Data {
            let encoder = JSONEncoder()
            encoder.outputFormatting = [.sortedKeys, .prettyPrinted, .withoutEscapingSlashes]
            var data = try encoder.encode(self)
            data.append(0x0a)
            return data
        }
    }
}

import AutonousCore
import Foundation
import Logging
import ServiceLifecycle

#if canImport(Glibc)
import Glibc
#endif

/// The self-update pipeline: takes proposals from the worker, and for one transaction at a time applies the patch,
/// builds, tests, self-checks and stages the result; deploys what an admin approved through the revision
/// lifecycle. Every step is a `TransactionStore` transition (one SQLite transaction and its event).
///
/// The worker can only propose and relay; everything that decides runs here, on files the worker cannot reach.
final class UpdatePipeline: Service, Sendable {
    let configuration: AutonousCore.Configuration
    let store: TransactionStore
    let repository: SourceRepository
    let artifacts: ArtifactStore
    let revisions: RevisionLog
    let manager: WorkerManager
    let selfCheck: SelfCheckRunner
    let build: UpdateBuildSandbox
    let sandboxBinary: String
    let logger: Logger
    /// Counts proposals, decisions and deploy outcomes: the loop looks again after each.
    let changes = ChangeSignal()

    /// The working copy's directory in the workspace.
    static let workingCopyName = "autonous"
    /// How often the loop looks at deadlines and deploys even when nothing woke it.
    static let idleLook: Duration = .seconds(30)

    init(
        configuration: AutonousCore.Configuration, database: AppDatabase, artifacts: ArtifactStore,
        revisions: RevisionLog, manager: WorkerManager, selfCheck: SelfCheckRunner, sandboxBinary: String,
        environment: [String: String], logger: Logger
    ) {
        self.configuration = configuration
        self.store = TransactionStore(database: database)
        self.repository = SourceRepository(directory: configuration.sourceDirectory)
        self.artifacts = artifacts
        self.revisions = revisions
        self.manager = manager
        self.selfCheck = selfCheck
        self.sandboxBinary = sandboxBinary
        self.build = UpdateBuildSandbox(
            configuration: configuration, sandboxBinary: sandboxBinary, environment: environment, logger: logger)
        self.logger = logger
    }

    // MARK: - Start

    /// Seeds or refreshes `src/` from `AUTONOUS_SOURCE_REPO`, or else from the installed source; returns the
    /// commit HEAD names (nil without a seed). Called before the bootstrap import, so the first revision's manifest
    /// names its commit.
    static func seedSource(
        configuration: AutonousCore.Configuration, installedSource: String? = installedSource(), logger: Logger
    ) async -> String? {
        let repository = SourceRepository(directory: configuration.sourceDirectory)
        guard let seed = configuration.sourceSeed ?? installedSource else {
            return repository.exists ? try? await repository.resolve("HEAD") : nil
        }
        do {
            let commit = try await repository.seed(from: seed)
            logger.info("source repository ready", metadata: ["source.seed": "\(seed)", "source.commit": "\(commit)"])
            primeBuildCache(configuration: configuration, seed: seed, logger: logger)
            return commit
        } catch {
            logger.error(
                "cannot seed the source repository; self-updates are unavailable until it is",
                metadata: ["source.seed": "\(seed)", "error": "\(error)"])
            return repository.exists ? try? await repository.resolve("HEAD") : nil
        }
    }

    /// The source `make install` and the .deb put beside the binaries, `<prefix>/share/autonous/source` for a
    /// supervisor at `<prefix>/bin/`, when it is there: the seed when `AUTONOUS_SOURCE_REPO` is not set.
    static func installedSource(executable: String = Supervisor.executablePath()) -> String? {
        let prefix = URL(fileURLWithPath: executable).deletingLastPathComponent().deletingLastPathComponent()
        let source = prefix.appendingPathComponent("share/autonous/source").path
        var isDirectory: ObjCBool = false
        guard
            FileManager.default.fileExists(atPath: source + "/HEAD", isDirectory: &isDirectory)
                || FileManager.default.fileExists(atPath: source + "/.git", isDirectory: &isDirectory)
        else { return nil }
        return source
    }

    /// Where the default build command finds SwiftPM's clones of the dependencies (the sandbox has no network).
    static let cachedRepositories = "swiftpm/repositories"

    /// Gives the build cache SwiftPM's clones of the dependencies from the seed checkout (`.build/repositories`,
    /// bare clones with no alternates) the first time, so a self-update builds offline with no step by hand. The
    /// copy is made beside the cache and renamed into place, so a crash never leaves half a copy where the build
    /// looks. A cache that has them already keeps its own; a seed that has none (never built) leaves the cache as it
    /// is, and the build says what is missing.
    static func primeBuildCache(configuration: AutonousCore.Configuration, seed: String, logger: Logger) {
        let source = seed + "/.build/repositories"
        let swiftpm = configuration.buildCacheDirectory + "/swiftpm"
        let target = configuration.buildCacheDirectory + "/" + cachedRepositories
        let manager = FileManager.default
        var isDirectory: ObjCBool = false
        guard manager.fileExists(atPath: source, isDirectory: &isDirectory), isDirectory.boolValue,
            !manager.fileExists(atPath: target)
        else { return }
        let staging = swiftpm + "/.repositories-priming"
        do {
            try manager.createDirectory(
                atPath: configuration.buildCacheDirectory, withIntermediateDirectories: true,
                attributes: [.posixPermissions: 0o711])
            try manager.createDirectory(atPath: swiftpm, withIntermediateDirectories: true)
            try? manager.removeItem(atPath: staging)
            try manager.copyItem(atPath: source, toPath: staging)
            guard rename(staging, target) == 0 else { throw Errno(errno, "rename \(staging) to \(target)") }
            logger.info(
                "build cache primed with the dependencies' clones",
                metadata: ["source.seed": "\(seed)", "build.cache": "\(target)"])
        } catch {
            try? manager.removeItem(atPath: staging)
            logger.warning(
                "cannot prime the build cache with the dependencies' clones; self-update builds need them",
                metadata: ["source.seed": "\(seed)", "error": "\(error)"])
        }
    }

    func run() async throws {
        await cancelWhenGracefulShutdown {
            await self.loop()
        }
    }

    private func loop() async {
        do {
            for transaction in try store.resolveInterrupted(now: AppDatabase.nowMilliseconds()) {
                logger.notice(
                    "update transaction resolved after a restart",
                    metadata: ["tx": "\(transaction.id)", "update.state": "\(transaction.state.rawValue)"])
            }
        } catch {
            logger.error("cannot resolve interrupted update transactions", metadata: ["error": "\(error)"])
        }
        while !Task.isCancelled {
            let seen = (changes.generation, manager.revisionChanges.generation)
            do {
                try await step()
            } catch is CancellationError {
                return
            } catch {
                logger.error("update pipeline step failed", metadata: ["error": "\(error)"])
            }
            await waitForChange(past: seen, timeout: Self.idleLook)
        }
    }

    /// One look at every transaction: deadlines, superseded bases, a deploy to follow or start, a build to run.
    private func step() async throws {
        let now = AppDatabase.nowMilliseconds()
        let current = manager.pointers().current
        for transaction in try store.list(limit: 1000) {
            switch transaction.state {
            case .staged:
                let after = try store.expireIfDue(transaction.id, now: now)
                if after.state == .expired, let sha256 = transaction.artifactSHA256 {
                    manager.closeUpdateMessages(
                        tx: transaction.id, sha256: sha256, closing: "Expired without a decision: not deployed.")
                }
                if after.state == .staged, transaction.proposal.baseRevision != current {
                    try supersede(transaction, current: current)
                    if let sha256 = transaction.artifactSHA256 {
                        manager.closeUpdateMessages(
                            tx: transaction.id, sha256: sha256,
                            closing: "Superseded: the worker changed before a decision, so this is not deployed.")
                    }
                }
            case .created:
                if transaction.proposal.baseRevision != current {
                    try supersede(transaction, current: current)
                }
            case .approved:
                if transaction.proposal.baseRevision != current {
                    try supersede(transaction, current: current)
                } else if let expiresMs = transaction.expiresMs, expiresMs <= now {
                    try move(
                        transaction.id, to: .expired, reason: "approved, but not deployed before the deadline")
                }
            case .promoted:
                // An operator or admin rolled back past it: the revision log says so.
                if let sha256 = transaction.artifactSHA256, let entry = try revisions.latest(for: sha256),
                    entry.state == .rolledBack
                {
                    try move(
                        transaction.id, to: .rolledBack, reason: entry.reason ?? "rolled back")
                    manager.tellAdmins(
                        "Self-update \(transaction.id) was rolled back: \(entry.reason ?? "by an operator").")
                }
            default:
                break
            }
        }
        if let following = try store.inFlight() {
            if following.state == .deploying || following.state == .probation {
                try await follow(following)
            }
            return
        }
        if let approved = try store.list(limit: 1000).last(where: { $0.state == .approved }) {
            try await deploy(approved)
            return
        }
        if let next = try store.nextQueued() {
            try await process(next)
        }
    }

    private func supersede(_ transaction: Transaction, current: String) throws {
        try move(
            transaction.id, to: .superseded,
            reason: "revision \(current.prefix(12)) runs now, not \(transaction.proposal.baseRevision.prefix(12)) "
                + "that it was proposed against")
    }

    /// Returns after `changes` or the manager's revision changes moved past `seen`, after `timeout`, or on
    /// cancellation.
    private func waitForChange(past seen: (UInt64, UInt64), timeout: Duration) async {
        await withTaskGroup(of: Void.self) { group in
            group.addTask { try? await self.changes.wait(past: seen.0) }
            group.addTask { try? await self.manager.revisionChanges.wait(past: seen.1) }
            group.addTask { try? await Task.sleep(for: timeout) }
            await group.next()
            group.cancelAll()
        }
    }

    // MARK: - Transitions

    /// `TransactionStore.transition`, then the proposer hears of an outcome that concerns them.
    @discardableResult
    func move(
        _ id: String, to state: TransactionState, reason: String?, fields: Transaction.Update? = nil
    ) throws -> Transaction {
        let transaction = try store.transition(id, to: state, reason: reason, fields: fields)
        tellProposer(transaction)
        return transaction
    }

    /// Tells whoever proposed `transaction` (a Telegram user who is not an admin: the admins hear of it anyway)
    /// that it was staged or how it ended.
    func tellProposer(_ transaction: Transaction) {
        guard let text = Self.proposerMessage(transaction) else { return }
        let proposer = transaction.proposal.requestedBy
        guard proposer.hasPrefix("telegram:"), let user = Int64(proposer.dropFirst("telegram:".count)),
            !configuration.telegramAdmins.contains(user)
        else { return }
        manager.tell(user: user, text: text, id: "update-\(transaction.id)-\(transaction.state.rawValue)")
    }

    /// One message for the proposer, or nil for a state they need not hear of.
    static func proposerMessage(_ transaction: Transaction) -> String? {
        let name = "Your self-update \(transaction.id) (\(transaction.proposal.title))"
        let why = transaction.reason.map { ": \($0)" } ?? ""
        switch transaction.state {
        case .staged: return "\(name) was built and tested and waits for an admin's decision."
        case .buildFailed: return "\(name) did not build\(why)."
        case .testFailed: return "\(name) failed its tests\(why)."
        case .selfCheckFailed: return "\(name) failed its self-check\(why)."
        case .rejected: return "\(name) was rejected by an admin."
        case .expired: return "\(name) expired without a decision."
        case .superseded: return "\(name) was superseded\(why)."
        case .deployFailed: return "\(name) could not be deployed\(why)."
        case .promoted: return "\(name) passed probation and runs now."
        case .reverted: return "\(name) was reverted after it failed on probation\(why)."
        case .rolledBack: return "\(name) was rolled back\(why)."
        default: return nil
        }
    }

    // MARK: - The transaction's directory

    func directory(_ id: String) -> String { configuration.buildsDirectory + "/" + id }
    var patchesDirectory: String { configuration.buildsDirectory + "/patches" }
    func patchPath(_ sha256: String) -> String { patchesDirectory + "/" + sha256 + ".patch" }

    var bundlesDirectory: String { configuration.buildsDirectory + "/bundles" }

    /// `builds/` and its parts. The launcher binds as the sandbox's user, which must reach what it binds: so
    /// `builds/`, `bundles/` and each transaction's directory can be passed through (0711) but not listed;
    /// `patches/` stays private to the supervisor.
    func makeDirectories() throws {
        let modes: [(String, Int)] = [
            (configuration.buildsDirectory, 0o711), (patchesDirectory, 0o700), (bundlesDirectory, 0o711),
            (configuration.buildCacheDirectory, 0o711),
        ]
        for (directory, mode) in modes {
            try FileManager.default.createDirectory(
                atPath: directory, withIntermediateDirectories: true, attributes: [.posixPermissions: mode])
            chmod(directory, mode_t(mode))
        }
    }

    /// The last `count` lines of a log file (empty when there is none).
    static func tail(_ path: String, count: Int = 30) -> [String] {
        guard let handle = FileHandle(forReadingAtPath: path) else { return [] }
        defer { try? handle.close() }
        let size = (try? handle.seekToEnd()) ?? 0
        let start = size > 65536 ? size - 65536 : 0
        try? handle.seek(toOffset: start)
        let data = (try? handle.readToEnd()) ?? Data()
        var lines = String(decoding: data, as: UTF8.self).split(separator: "\n", omittingEmptySubsequences: true)
        if start > 0, !lines.isEmpty { lines.removeFirst() }
        return lines.suffix(count).map { String($0.prefix(500)) }
    }
}

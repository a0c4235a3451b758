import AutonousCore
import Foundation
import Subprocess
import SystemPackage

/// `$AUTONOUS_STATE_DIR/src`: a bare git repository of autonous itself, owned by the supervisor and out of the
/// worker's sight. Self-updates are committed to it (`refs/autonous/<tx>`); nothing in it is ever checked out here.
///
/// Git runs as the supervisor on this repository only, with no system or global configuration, so nothing the
/// agent wrote (a hook, a config in a working copy) ever runs with the supervisor's rights: patches arrive as text
/// and are applied to a temporary index, and the build gets a plain tree exported with `git archive`.
struct SourceRepository: Sendable {
    let directory: String

    /// A git failure, with what git said.
    struct GitError: Error, CustomStringConvertible {
        var message: String
        var description: String { message }
    }

    /// The environment every git call gets: nothing of the supervisor's, no user or system configuration.
    static let environment: [String: String] = [
        "PATH": "/usr/local/bin:/usr/bin:/bin", "HOME": "/nonexistent", "GIT_CONFIG_NOSYSTEM": "1",
        "GIT_CONFIG_GLOBAL": "/dev/null", "GIT_TERMINAL_PROMPT": "0", "LANG": "C.UTF-8", "TZ": "UTC",
    ]

    static func keyed(_ environment: [String: String]) -> [Environment.Key: String] {
        Dictionary(uniqueKeysWithValues: environment.map { (Environment.Key(stringLiteral: $0.key), $0.value) })
    }

    /// Most bytes of output kept from one git call.
    static let outputLimit = 64 << 20

    var exists: Bool {
        var isDirectory: ObjCBool = false
        return FileManager.default.fileExists(atPath: directory + "/HEAD", isDirectory: &isDirectory)
            && !isDirectory.boolValue
    }

    /// Seeds the repository from the checkout `seed` when it is missing, or moves its HEAD to the seed's HEAD when it
    /// exists. Returns the commit HEAD names afterwards.
    @discardableResult
    func seed(from seed: String) async throws -> String {
        // The checkout may belong to another user: git refuses such a repository unless told it is trusted.
        let trusted = ["-c", "safe.directory=*"]
        if !exists {
            let parent = URL(fileURLWithPath: directory).deletingLastPathComponent().path
            let staging = parent + "/.src-seeding"
            try? FileManager.default.removeItem(atPath: staging)
            _ = try await git(trusted + ["clone", "--bare", "--no-hardlinks", "--quiet", seed, staging], in: parent)
            guard rename(staging, directory) == 0 else {
                throw GitError(message: "cannot move the seeded repository to \(directory): \(Errno(errno, "rename"))")
            }
        } else {
            _ = try await git(trusted + ["fetch", "--quiet", "--no-tags", seed, "+HEAD:refs/autonous/seed"])
            let commit = try await resolve("refs/autonous/seed")
            _ = try await git(["update-ref", "--no-deref", "HEAD", commit])
        }
        chmod(directory, 0o700)
        return try await resolve("HEAD")
    }

    /// The full commit id `revision` names.
    func resolve(_ revision: String) async throws -> String {
        let output = try await git(["rev-parse", "--verify", "--quiet", revision + "^{commit}"])
        return output.trimmingCharacters(in: .whitespacesAndNewlines)
    }

    /// True when the repository holds `commit`.
    func has(_ commit: String) async -> Bool {
        (try? await resolve(commit)) != nil
    }

    /// Checks that `patch` applies to `base` without writing anything but a temporary index: the error says why
    /// it does not.
    func check(patch: String, base: String, scratch: String) async throws {
        let index = scratch + "/check-index"
        defer { unlink(index) }
        _ = try await git(["read-tree", base], extra: ["GIT_INDEX_FILE": index])
        _ = try await git(
            ["apply", "--cached", "--check", "--whitespace=nowarn", patch], extra: ["GIT_INDEX_FILE": index])
    }

    /// Applies `patch` to `base` in a temporary index, commits it as autonous with `message`, and names the commit
    /// `refs/autonous/<tx>` so it outlives pruning. Returns the commit id.
    func commit(patch: String, base: String, message: String, transaction: String, scratch: String) async throws
        -> String
    {
        let index = scratch + "/index"
        defer { unlink(index) }
        let indexEnvironment = ["GIT_INDEX_FILE": index]
        _ = try await git(["read-tree", base], extra: indexEnvironment)
        _ = try await git(["apply", "--cached", "--whitespace=nowarn", patch], extra: indexEnvironment)
        let tree = try await git(["write-tree"], extra: indexEnvironment).trimmingCharacters(
            in: .whitespacesAndNewlines)
        let author = [
            "GIT_AUTHOR_NAME": "autonous", "GIT_AUTHOR_EMAIL": "autonous@localhost", "GIT_COMMITTER_NAME": "autonous",
            "GIT_COMMITTER_EMAIL": "autonous@localhost",
        ]
        let messageFile = scratch + "/commit-message"
        try Data(message.utf8).write(to: URL(fileURLWithPath: messageFile))
        defer { unlink(messageFile) }
        let commit = try await git(["commit-tree", tree, "-p", base, "-F", messageFile], extra: author)
            .trimmingCharacters(in: .whitespacesAndNewlines)
        _ = try await git(["update-ref", "refs/autonous/" + transaction, commit])
        return commit
    }

    /// `git diff --stat` between two commits, summary line last.
    func diffstat(from base: String, to commit: String) async throws -> String {
        try await git(["diff", "--stat=100", base, commit]).trimmingCharacters(in: .whitespacesAndNewlines)
    }

    /// Writes the tree of `commit` into the empty directory `target`: plain files, no `.git`.
    func export(_ commit: String, to target: String, scratch: String) async throws {
        let archive = scratch + "/tree.tar"
        defer { unlink(archive) }
        _ = try await git(["archive", "--format=tar", "-o", archive, commit])
        let result = try await Subprocess.run(
            .path("/bin/tar"), arguments: ["-xf", archive, "-C", target, "--no-same-owner"],
            environment: .custom(Self.keyed(Self.environment)), input: .none, output: .discarded,
            error: .string(limit: 64 << 10))
        guard result.terminationStatus.isSuccess else {
            throw GitError(message: "cannot unpack the tree of \(commit): \(result.standardError)")
        }
    }

    /// Runs git on this repository and returns its standard output; throws with its standard error on failure.
    @discardableResult
    func git(_ arguments: [String], in workingDirectory: String? = nil, extra: [String: String] = [:]) async throws
        -> String
    {
        var environment = Self.environment
        environment.merge(extra) { _, new in new }
        let repository = workingDirectory == nil ? ["--git-dir=" + directory] : []
        let result = try await Subprocess.run(
            .path("/usr/bin/git"), arguments: Arguments(repository + arguments),
            environment: .custom(Self.keyed(environment)),
            workingDirectory: FilePath(workingDirectory ?? directory), input: .none,
            output: .string(limit: Self.outputLimit), error: .string(limit: 64 << 10))
        guard result.terminationStatus.isSuccess else {
            let said = result.standardError.trimmingCharacters(in: .whitespacesAndNewlines)
            throw GitError(
                message: "git \(arguments.first ?? "") failed: \(said.isEmpty ? "\(result.terminationStatus)" : said)")
        }
        return result.standardOutput
    }
}

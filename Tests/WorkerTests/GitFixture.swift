import Foundation

@testable import Worker

/// A workspace holding a git repository at `autonous/` with one commit (`base`), for the tests of the working copy's
/// diff. The workspace is open to the sandbox's unprivileged uid, as `BashToolTests.Workspace` is; git runs here
/// directly, as the test's own tool for building the fixture, never on a repository it did not make.
final class GitWorkingCopy {
    let workspace: String
    let path = "autonous"
    private(set) var base = ""

    var repository: String { workspace + "/" + path }

    init(files: [String: String] = ["README.md": "autonous\n", ".gitignore": "*.log\n"]) throws {
        var template = Array("/tmp/working-copy-XXXXXX".utf8CString)
        guard let made = mkdtemp(&template) else { throw POSIXError(.EIO) }
        workspace = String(cString: made)
        chmod(workspace, 0o777)
        try FileManager.default.createDirectory(atPath: repository, withIntermediateDirectories: true)
        try git("init", "-q", "-b", "main")
        for (name, content) in files { try write(name, content) }
        try git("add", "-A")
        try git("commit", "-q", "-m", "base")
        base = try git("rev-parse", "HEAD").trimmingCharacters(in: .whitespacesAndNewlines)
    }

    deinit { try? FileManager.default.removeItem(atPath: workspace) }

    /// Writes `content` to `name` in the repository, making its directories.
    func write(_ name: String, _ content: String) throws {
        try write(name, Data(content.utf8))
    }

    func write(_ name: String, _ data: Data) throws {
        let url = URL(fileURLWithPath: repository + "/" + name)
        try FileManager.default.createDirectory(
            at: url.deletingLastPathComponent(), withIntermediateDirectories: true)
        try data.write(to: url)
    }

    /// Runs git in the repository (or in `directory`) and returns its stdout; throws with its stderr when it fails.
    @discardableResult
    func git(_ arguments: String..., in directory: String? = nil) throws -> String {
        let (status, stdout, stderr) = try runProcess(
            "/usr/bin/git", ["-C", directory ?? repository] + arguments,
            environment: [
                "PATH": "/usr/bin:/bin", "HOME": workspace, "GIT_CONFIG_NOSYSTEM": "1",
                "GIT_AUTHOR_NAME": "test", "GIT_AUTHOR_EMAIL": "test@example.org", "GIT_COMMITTER_NAME": "test",
                "GIT_COMMITTER_EMAIL": "test@example.org",
            ])
        guard status == 0 else { throw GitFailure(arguments: arguments, stderr: stderr) }
        return stdout
    }

    struct GitFailure: Error, CustomStringConvertible {
        let arguments: [String]
        let stderr: String

        var description: String { "git \(arguments.joined(separator: " ")) failed: \(stderr)" }
    }

    /// The diff taker the tool would use here, with the real launcher.
    func differ(maxPatch: Int = 1 << 20) -> WorkingCopyDiff {
        WorkingCopyDiff(
            sandbox: SandboxCommand(launcher: TestBinaries.path("autonous-sandbox"), workspace: workspace),
            maxPatch: maxPatch, timeoutSeconds: 60)
    }
}

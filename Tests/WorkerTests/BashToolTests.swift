import Foundation
import Testing

@testable import Worker

/// The bash tool against the real launcher (`.build/debug/autonous-sandbox`, or `$AUTONOUS_TEST_BIN_DIR`): time
/// limit, output cap, closed stdin, scrubbed environment, exit codes.
@Suite(.serialized) struct BashToolTests {
    static let launcher = TestBinaries.path("autonous-sandbox")

    /// A workspace the sandbox's unprivileged uid may write.
    final class Workspace {
        let path: String
        init() throws {
            var template = Array("/tmp/bash-tool-XXXXXX".utf8CString)
            guard let made = mkdtemp(&template) else { throw POSIXError(.EIO) }
            path = String(cString: made)
            chmod(path, 0o777)
        }
        deinit { try? FileManager.default.removeItem(atPath: path) }
    }

    static func tool(_ workspace: Workspace, outputLimit: Int = 10_000) -> BashTool {
        BashTool(
            launcher: Self.launcher, workspace: workspace.path, outputLimit: outputLimit, timeout: .seconds(20),
            timeoutMax: .seconds(30))
    }

    @Test func aCommandPastItsTimeLimitIsStoppedAndSaysSo() async throws {
        let workspace = try Workspace()
        let result = await Self.tool(workspace).run(
            .init(command: "echo started; sleep 30", timeoutSeconds: 1, network: nil))
        #expect(result.ok == false)
        #expect(result.exitCode == 124)
        #expect(result.stdout == "started\n")
        #expect(result.stderr.hasSuffix("[the command was stopped after 1 s]"), "\(result.stderr)")
        #expect(result.tier == .exec)
    }

    @Test func outputBeyondTheCapIsCutAndFlagged() async throws {
        let workspace = try Workspace()
        let result = await Self.tool(workspace, outputLimit: 1000).run(
            .init(
                command: "head -c 50000 /dev/zero | tr '\\0' x; echo; echo oops >&2", timeoutSeconds: nil, network: nil)
        )
        #expect(result.ok)
        #expect(result.stdoutTruncated)
        #expect(result.stdout.utf8.count <= 1000)
        #expect(result.stderrTruncated == false)
        #expect(result.stderr == "oops\n")
    }

    @Test func stdinIsClosedTheEnvironmentScrubbedAndExitCodesKept() async throws {
        let workspace = try Workspace()
        setenv("AUTONOUS_BASH_TOOL_SECRET", "do-not-leak", 1)
        defer { unsetenv("AUTONOUS_BASH_TOOL_SECRET") }
        let result = await Self.tool(workspace).run(
            .init(
                command: "cat; env | cut -d= -f1 | sort | tr '\\n' ' '; echo; pwd; echo made > f.txt; exit 3",
                timeoutSeconds: nil, network: nil))
        #expect(result.ok == false)
        #expect(result.exitCode == 3)
        let lines = result.stdout.split(separator: "\n").map(String.init)
        #expect(lines.first?.contains("AUTONOUS_BASH_TOOL_SECRET") == false, "\(result.stdout)")
        #expect(
            lines.first?.split(separator: " ").allSatisfy {
                ["HOME", "LANG", "PATH", "PWD", "SHLVL", "_"].contains(String($0))
            } == true, "\(result.stdout)")
        #expect(lines.last == workspace.path)
        #expect(FileManager.default.contents(atPath: workspace.path + "/f.txt") == Data("made\n".utf8))
    }
}

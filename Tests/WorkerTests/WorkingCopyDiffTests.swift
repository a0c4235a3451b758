import Foundation
import Testing

@testable import Worker

/// Taking the working copy's diff with git in the real Exec sandbox (`.build/debug/autonous-sandbox`, or
/// `$AUTONOUS_TEST_BIN_DIR`), on real repositories: what the patch covers, what it leaves out, and that it applies.
@Suite(.serialized) struct WorkingCopyDiffTests {
    /// The patch `take` made, or a recorded issue.
    private func patch(_ copy: GitWorkingCopy, maxPatch: Int = 1 << 20) async throws -> String {
        let outcome = await copy.differ(maxPatch: maxPatch).take(path: copy.path, base: copy.base)
        guard case .patch(let text) = outcome else {
            Issue.record("no patch: \(outcome)")
            throw CancellationError()
        }
        return text
    }

    /// Applies `patch` to a fresh clone of the base and returns `git status --porcelain` there.
    private func applied(_ patch: String, to copy: GitWorkingCopy) throws -> String {
        let clone = copy.workspace + "/clone"
        try copy.git("clone", "-q", copy.repository, clone, in: copy.workspace)
        try copy.git("checkout", "-q", copy.base, in: clone)
        let file = copy.workspace + "/change.patch"
        try patch.write(toFile: file, atomically: true, encoding: .utf8)
        try copy.git("apply", "--index", file, in: clone)
        return try copy.git("status", "--porcelain", in: clone)
    }

    @Test func untrackedFilesAreInTheDiffAndIgnoredOnesAreNot() async throws {
        let copy = try GitWorkingCopy()
        try copy.write("README.md", "autonous, changed\n")
        try copy.write("Sources/New.swift", "let answer = 42\n")
        try copy.write("debug.log", "ignored\n")
        try copy.write("blob.bin", Data([0, 1, 2, 255, 0, 7]))
        let text = try await patch(copy)
        #expect(text.contains("diff --git a/README.md b/README.md"))
        #expect(text.contains("+autonous, changed"))
        #expect(text.contains("diff --git a/Sources/New.swift b/Sources/New.swift"))
        #expect(text.contains("GIT binary patch"))
        #expect(!text.contains("debug.log"))
        #expect(!text.contains("ignored"))
        let status = try applied(text, to: copy)
        #expect(status.contains("M  README.md"))
        #expect(status.contains("A  Sources/New.swift"))
        #expect(status.contains("A  blob.bin"))
    }

    @Test func commitsStagedChangesAndDeletionsAreInTheDiffAndTheWorkingCopyIsLeftAlone() async throws {
        let copy = try GitWorkingCopy(files: ["README.md": "one\n", "old.txt": "old\n", ".gitignore": "*.log\n"])
        try copy.write("committed.txt", "committed after the base\n")
        try copy.git("add", "committed.txt")
        try copy.git("commit", "-q", "-m", "the agent's commit")
        try copy.write("staged.txt", "staged\n")
        try copy.git("add", "staged.txt")
        try copy.write("forced.log", "force-added, though ignored\n")
        try copy.git("add", "-f", "forced.log")
        try copy.git("rm", "-q", "old.txt")
        try copy.write("README.md", "two\n")
        try copy.git("update-index", "--assume-unchanged", "README.md")
        let index = FileManager.default.contents(atPath: copy.repository + "/.git/index")
        let objects = try FileManager.default.subpathsOfDirectory(atPath: copy.repository + "/.git/objects")

        let text = try await patch(copy)
        #expect(text.contains("b/committed.txt"))
        #expect(text.contains("b/staged.txt"))
        #expect(text.contains("b/forced.log"))
        #expect(text.contains("deleted file mode 100644"))
        #expect(text.contains("+two"))
        let status = try applied(text, to: copy)
        for line in ["A  committed.txt", "A  staged.txt", "A  forced.log", "D  old.txt", "M  README.md"] {
            #expect(status.contains(line), "\(status)")
        }
        // The scratch index and objects lived in the sandbox's /tmp: nothing of the working copy changed.
        #expect(FileManager.default.contents(atPath: copy.repository + "/.git/index") == index)
        #expect(try FileManager.default.subpathsOfDirectory(atPath: copy.repository + "/.git/objects") == objects)
    }

    /// The agent controls the working copy's .git/config: a clean filter there runs when git adds a file, so git
    /// must run in the sandbox. Judged from the host: the filter ran (its mark in the workspace), and its write to a
    /// host directory outside the workspace never arrived.
    @Test func theWorkingCopysOwnGitConfigurationRunsOnlyInsideTheSandbox() async throws {
        let copy = try GitWorkingCopy()
        let outside = try TemporaryDirectory(prefix: "outside-")
        chmod(outside.path, 0o777)
        let command = "touch \(outside.path)/escaped; touch \(copy.workspace)/filter-ran; cat"
        try copy.git("config", "filter.probe.clean", command)
        try copy.write(".gitattributes", "*.txt filter=probe\n")
        try copy.write("notes.txt", "notes\n")
        let text = try await patch(copy)
        #expect(text.contains("b/notes.txt"))
        #expect(FileManager.default.fileExists(atPath: copy.workspace + "/filter-ran"))
        #expect(!FileManager.default.fileExists(atPath: outside.path + "/escaped"))
    }

    @Test func aWorkingCopyWithoutChangesGivesNoPatch() async throws {
        let copy = try GitWorkingCopy()
        try copy.write("debug.log", "ignored only\n")
        #expect(await copy.differ().take(path: copy.path, base: copy.base) == .empty)
    }

    @Test func aPatchOverTheLimitIsMeasuredAndNotReturned() async throws {
        let copy = try GitWorkingCopy()
        try copy.write("big.txt", String(repeating: "0123456789abcdef\n", count: 200))
        let outcome = await copy.differ(maxPatch: 1000).take(path: copy.path, base: copy.base)
        guard case .tooLarge(let bytes) = outcome else {
            Issue.record("not refused as too large: \(outcome)")
            return
        }
        #expect(bytes > 3400)
        let full = try await patch(copy)
        #expect(bytes == full.utf8.count)
    }

    /// The workspace is a repository too here: a directory below it that is not one must be refused, not diffed as
    /// part of the workspace's repository.
    @Test func aDirectoryThatIsNotARepositoryIsRefusedNotTakenForTheWorkspaces() async throws {
        let copy = try GitWorkingCopy()
        try copy.git("init", "-q", in: copy.workspace)
        try FileManager.default.createDirectory(
            atPath: copy.workspace + "/plain/sub", withIntermediateDirectories: true)
        let aside = "move it aside, and the next propose_update makes a fresh working copy there"
        #expect(
            await copy.differ().take(path: "plain/sub", base: copy.base)
                == .failed("plain/sub is not the top of a git repository; \(aside)"))
        #expect(
            await copy.differ().take(path: "missing", base: copy.base)
                == .failed("there is no directory missing in the workspace"))
        #expect(
            await copy.differ().take(path: "../etc", base: copy.base)
                == .failed("the working copy's path '../etc' is not a plain path inside the workspace"))
        let unknown = String(repeating: "0", count: 40)
        #expect(
            await copy.differ().take(path: copy.path, base: unknown)
                == .failed("the working copy at autonous does not have the base commit \(unknown); \(aside)"))
    }

    @Test func filesWhoseDiffIsNotUTF8AreNamed() {
        var patch = Array("diff --git a/ok.txt b/ok.txt\n+fine\n".utf8)
        patch += Array("diff --git a/latin1.txt b/latin1.txt\n+caf".utf8) + [0xE9, 0x0A]
        #expect(WorkingCopyDiff.nonUTF8Files(patch) == ["latin1.txt"])
    }
}

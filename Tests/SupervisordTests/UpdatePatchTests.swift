import Foundation
import Testing

@testable import Supervisord

/// What a proposed patch must be before a transaction exists, and the test counts read from a test run's log.
@Suite struct UpdatePatchTests {
    static let patch = """
        diff --git a/Sources/Worker/Reply.swift b/Sources/Worker/Reply.swift
        index 1111111..2222222 100644
        --- a/Sources/Worker/Reply.swift
        +++ b/Sources/Worker/Reply.swift
        @@ -1 +1 @@
        -let prefix = "a"
        +let prefix = "b"
        diff --git a/docs/new file.md b/docs/new file.md
        new file mode 100644
        --- /dev/null
        +++ b/docs/new file.md
        @@ -0,0 +1 @@
        +hello

        """

    @Test func aPatchInsideTheRepositoryNamesItsPaths() throws {
        #expect(
            try UpdatePatch.check(Self.patch, maxBytes: 1 << 20) == ["Sources/Worker/Reply.swift", "docs/new file.md"])
    }

    @Test(arguments: [
        ("", "the patch is empty"),
        ("   \n", "the patch is empty"),
        ("not a diff\n", "names no file"),
        (patch.replacingOccurrences(of: "Sources/Worker/Reply.swift", with: "../etc/passwd"), "outside the repository"),
        (patch.replacingOccurrences(of: "Sources/Worker/Reply.swift", with: "x/../../y"), "outside the repository"),
        (patch.replacingOccurrences(of: "Sources/Worker/Reply.swift", with: ".git/hooks/pre-commit"), "(.git)"),
        (patch.replacingOccurrences(of: "Sources/Worker/Reply.swift", with: "vendor/.git/config"), "(.git)"),
        (patch + "diff --git a/x b/y\nrename from x\nrename to /etc/shadow\n", "outside the repository"),
        (patch.replacingOccurrences(of: "+++ b/docs", with: "+++ docs"), "without git's a/ or b/ prefix"),
    ])
    func aPatchThatReachesOutIsRefused(patch: String, says: String) {
        #expect {
            _ = try UpdatePatch.check(patch, maxBytes: 1 << 20)
        } throws: { error in
            "\(error)".contains(says)
        }
    }

    @Test func aPatchOverTheLimitNamesItsSizeAndTheLimit() {
        let size = Self.patch.utf8.count
        #expect(
            throws: UpdatePatch.Refusal(
                message: "the patch is \(size) bytes, over the limit of 100 (AUTONOUS_UPDATE_MAX_PATCH)")
        ) {
            _ = try UpdatePatch.check(Self.patch, maxBytes: 100)
        }
    }

    @Test func quotedNamesAreUnquoted() throws {
        let patch =
            "diff --git \"a/na\\303\\257ve.txt\" \"b/na\\303\\257ve.txt\"\n--- \"a/na\\303\\257ve.txt\"\n"
            + "+++ \"b/na\\303\\257ve.txt\"\n@@ -1 +1 @@\n-a\n+b\n"
        #expect(try UpdatePatch.check(patch, maxBytes: 1 << 20) == ["naïve.txt"])
    }

    @Test func testCountsComeFromTheReportFirstThenTheSummaries() {
        let report = Data(#"{"passed": 7, "failed": 1}"#.utf8)
        #expect(UpdatePatch.testCounts(report: report, log: "")! == (7, 1))
        let xctest = """
            Test Suite 'A' passed at …
            \t Executed 2 tests, with 0 failures (0 unexpected) in 0.1 (0.1) seconds
            Test Suite 'All tests' failed at …
            \t Executed 5 tests, with 1 failure (0 unexpected) in 0.3 (0.3) seconds
            """
        #expect(UpdatePatch.testCounts(report: nil, log: xctest)! == (4, 1))
        let both = xctest + "\n✔ Test run with 12 tests in 3 suites passed after 1.2 seconds.\n"
        #expect(UpdatePatch.testCounts(report: nil, log: both)! == (16, 1))
        let failing = "✘ Test run with 10 tests in 2 suites failed after 3.0 seconds with 2 issues.\n"
        #expect(UpdatePatch.testCounts(report: nil, log: failing)! == (8, 2))
        #expect(UpdatePatch.testCounts(report: Data("garbage".utf8), log: "no summary") == nil)
    }
}

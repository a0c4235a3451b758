import Foundation
import Testing

/// SANDBOX-TESTS.md cases 11, 26 and 27 and the launcher's command-line contract: when the sandbox cannot be set
/// up or the profile is wrong, it exits 125 with an `autonous-sandbox: ` line naming the problem, and nothing runs.
@Suite("Failure to sandbox", .timeLimit(.minutes(3)))
struct FailureToSandboxTests {
    /// A required kernel feature, as the test-only `AUTONOUS_SANDBOX_SIMULATE_MISSING` switch names it, and the words
    /// the launcher's message must contain.
    enum Feature: String, CaseIterable, Sendable, CustomTestStringConvertible {
        case userNamespaces = "user-namespaces"
        case seccomp = "seccomp"

        var words: String {
            switch self {
            case .userNamespaces: return "user namespace"  // also matches "user namespaces"
            case .seccomp: return "seccomp"
            }
        }

        var testDescription: String { rawValue }
    }

    /// Case 26: with a required feature missing the launcher refuses to run the target (125, the feature named on
    /// stderr, the marker not created: no unsandboxed fallback), and `--check` fails naming it.
    @Test(arguments: Caller.allCases, Feature.allCases)
    func missingKernelFeatureRefusesToRunTheTarget(caller: Caller, feature: Feature) async throws {
        let fixture = try SandboxFixture()
        let marker = fixture.workspace + "/ran"
        let environment = ["AUTONOUS_SANDBOX_SIMULATE_MISSING": feature.rawValue]
        let run = try await sandbox(
            caller, fixture.arguments(profile: "exec", command: ["/usr/bin/touch", marker]), environment: environment)
        #expect(run.status == 125, "\(run)")
        #expect(run.refused(mentioning: [feature.words]), "stderr must name \(feature.words)\n\(run)")
        #expect(!HostFile.exists(marker), "the target ran without the sandbox\n\(run)")

        let check = try await sandbox(caller, ["--check"], environment: environment)
        #expect(check.status != 0, "--check passes although \(feature.words) are missing\n\(check)")
        #expect(
            (check.stdout + check.stderr).lowercased().contains(feature.words), "--check must name \(feature.words)")
    }

    /// A malformed invocation, what must be named in the error, and how to build it.
    enum Malformation: String, CaseIterable, Sendable, CustomTestStringConvertible {
        case unknownProfile
        case relativeWorkspace
        case missingWorkspace
        case nonexistentWorkspace

        var testDescription: String { rawValue }
    }

    /// Case 27: an unknown profile, a relative `--workspace`, a missing one and one that does not exist are each
    /// rejected with 125 and a message naming the problem, before any
    /// namespace exists: under strace the launcher never calls unshare, setns or clone with a CLONE_NEW* flag, and
    /// the marker command does not run.
    @Test(arguments: Caller.allCases, Malformation.allCases)
    func malformedProfileIsRejectedBeforeAnyNamespace(caller: Caller, malformation: Malformation) async throws {
        let fixture = try SandboxFixture()
        let marker: String
        let arguments: [String]
        let words: [String]
        switch malformation {
        case .unknownProfile:
            marker = fixture.workspace + "/ran"
            arguments = ["--profile", "no-such-tier", "--workspace", fixture.workspace]
            words = ["no-such-tier"]
        case .relativeWorkspace:
            marker = fixture.workspace + "/ran"
            arguments = ["--profile", "exec", "--workspace", "ws"]
            words = ["workspace"]
        case .missingWorkspace:
            marker = fixture.workspace + "/ran"
            arguments = ["--profile", "exec"]
            words = ["workspace"]
        case .nonexistentWorkspace:
            marker = fixture.root + "/missing/ran"
            arguments = ["--profile", "exec", "--workspace", fixture.root + "/missing"]
            words = [fixture.root + "/missing"]
        }
        let trace = fixture.scratch + "/trace"
        // From the fixture root the relative "ws" names the real workspace: it is refused for being relative.
        let run = try await sandbox(
            caller, arguments + ["--", "/usr/bin/touch", marker],
            wrapper: ["/usr/bin/strace", "-f", "-qq", "-o", trace, "-e", "trace=unshare,setns,clone,clone3"],
            workingDirectory: fixture.root)
        #expect(run.status == 125, "\(run)")
        #expect(run.refused(mentioning: words), "stderr must name \(words)\n\(run)")
        #expect(!HostFile.exists(marker), "the command ran\n\(run)")
        let calls = HostFile.contents(trace) ?? ""
        #expect(!calls.isEmpty || HostFile.exists(trace), "strace wrote no trace\n\(run)")
        let namespaceCalls = calls.split(separator: "\n").filter {
            $0.contains("unshare(") || $0.contains("setns(") || $0.contains("CLONE_NEW")
        }
        #expect(namespaceCalls.isEmpty, "namespace calls before the rejection: \(namespaceCalls)")
    }

    /// A bind the sandbox's own user cannot reach (under a root-only directory) fails inside the new namespaces,
    /// after pid 1 exists: the launcher still exits 125 with pid 1's message naming the path and the uid, and the
    /// command does not run. (The launcher used to die of SIGPIPE here, silently, writing to the dead pid 1.)
    @Test(arguments: Caller.allCases)
    func unreachableBindFailsWithAMessage(caller: Caller) async throws {
        try Caller.requireHostRoot(toMake: "a root-only directory above the bind")
        let fixture = try SandboxFixture()
        let locked = fixture.host + "/locked"
        try fixture.makeDirectory(locked, owner: 0, mode: 0o700)
        try fixture.makeDirectory(locked + "/inner", owner: 0)
        let marker = fixture.workspace + "/ran"
        let run = try await sandbox(
            caller,
            fixture.arguments(
                profile: "exec", options: ["--ro", locked + "/inner"], command: ["/usr/bin/touch", marker]))
        #expect(run.status == 125, "\(run)")
        #expect(run.refused(mentioning: [locked + "/inner", String(Caller.mappedID)]), "\(run)")
        #expect(!HostFile.exists(marker), "the command ran\n\(run)")
    }

    /// `--print-profile exec --workspace X` prints the resolved profile as one JSON object that has the workspace
    /// bind, and exits 0 without running anything.
    @Test(arguments: Caller.allCases)
    func printProfileShowsTheResolvedWorkspaceBind(caller: Caller) async throws {
        let fixture = try SandboxFixture()
        let run = try await sandbox(caller, ["--print-profile", "exec", "--workspace", fixture.workspace])
        #expect(run.status == 0, "\(run)")
        let profile = try #require(JSON.parse(run.stdout), "not JSON:\n\(run)")
        #expect(profile.object != nil, "not a JSON object:\n\(run.stdout)")
        let strings = profile.allStrings
        #expect(strings.contains(fixture.workspace), "the workspace bind is missing:\n\(run.stdout)")
        #expect(strings.contains("exec"), "the profile name is missing:\n\(run.stdout)")

        let invalid = try await sandbox(caller, ["--print-profile", "exec"])
        #expect(invalid.refused(mentioning: ["workspace"]), "\(invalid)")
    }

    /// `--check` passes on this machine, the one the suite runs on, which has every required feature.
    @Test(arguments: Caller.allCases)
    func checkPassesOnThisMachine(caller: Caller) async throws {
        let run = try await sandbox(caller, ["--check"])
        #expect(run.status == 0, "\(run)")
        #expect(!run.stdout.isEmpty, "--check printed nothing\n\(run)")
    }

    /// 127 for a command that does not exist, 126 for one that is not executable.
    @Test(arguments: Caller.allCases)
    func missingOrNonExecutableCommandIs127Or126(caller: Caller) async throws {
        let fixture = try SandboxFixture()
        let missing = try await sandbox(
            caller, fixture.arguments(profile: "exec", command: [fixture.workspace + "/no-such-command"]))
        #expect(missing.status == 127, "\(missing)")
        let plain = fixture.workspace + "/plain.txt"
        try fixture.writeFile(plain, "not a program\n", mode: 0o644)
        let notExecutable = try await sandbox(caller, fixture.arguments(profile: "exec", command: [plain]))
        #expect(notExecutable.status == 126, "\(notExecutable)")
    }
}

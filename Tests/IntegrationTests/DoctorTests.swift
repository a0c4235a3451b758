import AutonousCore
import Foundation
import Testing

/// `autonousctl doctor` against the real launcher's feature check.
@Suite("Doctor")
struct DoctorTests {
    @Test func doctorReportsEveryFeatureAndPassesOnThisHost() throws {
        let result = try runProcess(TestPaths.binary("autonousctl"), ["doctor", "--json"], environment: [:])
        #expect(result.status == 0, "\(result.stdout)\n\(result.stderr)")
        let findings = try JSONDecoder().decode([JSONValue].self, from: Data(result.stdout.utf8))
        let features = findings.compactMap { $0["feature"]?.stringValue }
        #expect(features == ["user namespaces", "seccomp", "seccomp user notification", "landlock", "cgroups"])
        #expect(findings.first?["available"] == .bool(true))
    }

    @Test func aMissingRequiredFeatureFailsWithAdvice() throws {
        let result = try runProcess(
            TestPaths.binary("autonousctl"), ["doctor"],
            environment: ["PATH": "/usr/bin:/bin", "AUTONOUS_SANDBOX_SIMULATE_MISSING": "user-namespaces"])
        #expect(result.status == 1)
        #expect(result.stdout.contains("MISSING  user namespaces"))
        #expect(result.stdout.contains("kernel.unprivileged_userns_clone"))
        #expect(result.stderr.contains("will not start a worker"))
    }

    @Test func anUnprivilegedUserSeesCgroupLimitsAsLimitedNotMissing() throws {
        let result = try runProcess(
            "/usr/bin/setpriv",
            ["--reuid=65534", "--regid=65534", "--clear-groups", TestPaths.binary("autonousctl"), "doctor"],
            environment: ["PATH": "/usr/bin:/bin"])
        #expect(result.status == 0, "\(result.stdout)\n\(result.stderr)")
        #expect(result.stdout.contains("limited  cgroups"), "\(result.stdout)")
        #expect(result.stdout.contains("Delegate=yes"))
    }
}

import AutonousCore
import Foundation
import Testing

@testable import Worker

/// The real binary (`.build/debug/autonous-worker`, or `$AUTONOUS_TEST_BIN_DIR`) as the supervisor runs it: exit
/// status and the JSON report on stdout.
@Suite(.serialized) struct SelfCheckProcessTests {
    static let binary = TestBinaries.path("autonous-worker")

    /// Runs the binary with `arguments` and a minimal environment; returns its status, stdout and stderr.
    static func run(_ arguments: [String], environment: [String: String]) throws -> (Int32, String, String) {
        try runProcess(binary, arguments, environment: environment)
    }

    @Test(.enabled(if: FileManager.default.isExecutableFile(atPath: binary), "needs the built autonous-worker"))
    func theBinaryPrintsAPassingReportAndExitsZero() throws {
        let scratch = try TemporaryDirectory(prefix: "self-check-")
        let started = ContinuousClock.now
        let (status, stdout, stderr) = try Self.run(
            ["--self-check", "--scratch", scratch.path],
            environment: ["AUTONOUS_STATE_DIR": scratch.path, "AUTONOUS_REVISION": "f00dfeed"])
        #expect(ContinuousClock.now - started < .seconds(10))
        #expect(status == 0, "stderr: \(stderr)")
        let report = try JSONCoding.decoder.decode(JSONValue.self, from: Data(stdout.utf8))
        #expect(report["ok"] == .bool(true))
        #expect(report["revision"] == .string("f00dfeed"))
        guard case .array(let checks)? = report["checks"] else {
            Issue.record("no checks in \(stdout)")
            return
        }
        #expect(checks.count == SelfCheck.Name.allCases.count)
        #expect(stderr.isEmpty)
    }

    @Test(.enabled(if: FileManager.default.isExecutableFile(atPath: binary), "needs the built autonous-worker"))
    func aCorruptDatabaseExitsOneAndABadArgumentSixtyFour() throws {
        let scratch = try TemporaryDirectory(prefix: "self-check-")
        try Data(repeating: 0x5a, count: 8192).write(to: URL(fileURLWithPath: scratch.path + "/worker.db"))
        let (status, stdout, stderr) = try Self.run(
            ["--self-check", "--scratch", scratch.path], environment: ["AUTONOUS_STATE_DIR": scratch.path])
        #expect(status == 1)
        let report = try JSONCoding.decoder.decode(JSONValue.self, from: Data(stdout.utf8))
        #expect(report["ok"] == .bool(false))
        #expect(report["revision"] == .null)
        #expect(stderr.contains("self-check migrations failed"))

        let (usage, usageOut, usageErr) = try Self.run(["--self-check", "--scratch", "relative"], environment: [:])
        #expect(usage == 64)
        #expect(usageOut.isEmpty)
        #expect(usageErr.contains("absolute"))
    }
}

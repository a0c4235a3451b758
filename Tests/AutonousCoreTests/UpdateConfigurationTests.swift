import Foundation
import Testing

@testable import AutonousCore

/// The self-update variables: who approves, how long a staged update waits, the largest patch, the commands.
@Suite struct UpdateConfigurationTests {
    private func configuration(_ extra: [String: String]) throws -> Configuration {
        try Configuration(environment: ["AUTONOUS_STATE_DIR": "/tmp/s"].merging(extra) { _, new in new })
    }

    private func failure(_ extra: [String: String]) -> ConfigurationError? {
        do {
            _ = try configuration(extra)
            return nil
        } catch {
            return error as? ConfigurationError
        }
    }

    @Test func theDefaultsAreTelegramOneDayAndOneMebibyte() throws {
        let defaults = try configuration([:])
        #expect(defaults.updateApproval == .telegram)
        #expect(defaults.updateApprovalTTL == .seconds(86400))
        #expect(defaults.updateMaxPatch == 1 << 20)
        #expect(defaults.updateBuildCommand == nil && defaults.updateTestCommand == nil)
    }

    @Test func goodValuesAreRead() throws {
        let custom = try configuration([
            "AUTONOUS_UPDATE_APPROVAL": "Shell", "AUTONOUS_UPDATE_APPROVAL_TTL": "1m",
            "AUTONOUS_UPDATE_MAX_PATCH": "512K", "AUTONOUS_UPDATE_BUILD_COMMAND": " make worker ",
            "AUTONOUS_UPDATE_TEST_COMMAND": "",
        ])
        #expect(custom.updateApproval == .shell)
        #expect(custom.updateApprovalTTL == .seconds(60))
        #expect(custom.updateMaxPatch == 512 * 1024)
        #expect(custom.updateBuildCommand == "make worker")
        #expect(custom.updateTestCommand == nil)
        #expect(try configuration(["AUTONOUS_UPDATE_APPROVAL_TTL": "720h"]).updateApprovalTTL == .seconds(30 * 86400))
    }

    @Test(arguments: [
        ("1M", 1 << 20), ("1m", 1 << 20), ("4M", 4 << 20), ("2MiB", 2 << 20), ("1K", 1024), ("100kb", 102_400),
        ("4096", 4096),
    ])
    func patchSizesParse(_ text: String, _ bytes: Int) throws {
        #expect(try Configuration.patchSize(text) == bytes)
    }

    @Test(arguments: [
        ("AUTONOUS_UPDATE_APPROVAL", "buttons", "must be one of telegram, shell, got 'buttons'"),
        ("AUTONOUS_UPDATE_APPROVAL_TTL", "59s", "must be a duration"),
        ("AUTONOUS_UPDATE_APPROVAL_TTL", "721h", "must be a duration"),
        ("AUTONOUS_UPDATE_APPROVAL_TTL", "1 day", "got '1 day'"),
        ("AUTONOUS_UPDATE_MAX_PATCH", "5M", "must be a size from 1K to 4M"),
        ("AUTONOUS_UPDATE_MAX_PATCH", "1023", "(got '1023')"),
        ("AUTONOUS_UPDATE_MAX_PATCH", "0", "(got '0')"),
        ("AUTONOUS_UPDATE_MAX_PATCH", "1G", "such as 512K or 1M (got '1G')"),
        ("AUTONOUS_UPDATE_MAX_PATCH", "-1M", "(got '-1M')"),
        ("AUTONOUS_UPDATE_MAX_PATCH", "1.5M", "(got '1.5M')"),
        ("AUTONOUS_UPDATE_MAX_PATCH", "99999999999999999999M", "(got '99999999999999999999M')"),
    ])
    func badValuesNameTheVariableAndSayWhy(_ variable: String, _ value: String, _ reason: String) {
        let error = failure([variable: value])
        #expect(error?.variable == variable)
        #expect(error?.message.contains(reason) == true, "\(error?.message ?? "no error")")
    }
}

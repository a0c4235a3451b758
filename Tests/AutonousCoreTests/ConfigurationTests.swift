import Foundation
import Testing

@testable import AutonousCore

@Suite struct ConfigurationTests {
    let base = ["AUTONOUS_STATE_DIR": "/tmp/s", "AUTONOUS_RUNTIME_DIR": "/tmp/r", "AUTONOUS_CONFIG_DIR": "/tmp/c"]

    func configuration(_ extra: [String: String]) throws -> Configuration {
        try Configuration(environment: base.merging(extra) { _, new in new })
    }

    func failure(_ extra: [String: String]) -> ConfigurationError? {
        do {
            _ = try configuration(extra)
            return nil
        } catch {
            return error as? ConfigurationError
        }
    }

    @Test func defaultsAreTheDocumentedOnes() throws {
        let configuration = try Configuration(environment: [:])
        #expect(configuration.stateDirectory == "/var/lib/autonous")
        #expect(configuration.runtimeDirectory == "/run/autonous")
        #expect(configuration.configDirectory == "/etc/autonous")
        #expect(configuration.telegramEnabled == false)
        #expect(configuration.telegramAPIURL.absoluteString == "https://api.telegram.org")
        #expect(configuration.openAIBaseURL.absoluteString == "https://api.openai.com/v1")
        #expect(configuration.modelConfigured == false)
        #expect(configuration.controlSocketPath == "/run/autonous/control.sock")
        #expect(configuration.workerSocketPath == "/run/autonous/worker.sock")
        #expect(configuration.workerHeartbeatTimeout == .seconds(30))
        #expect(configuration.retryAttempts == 5)
        #expect(configuration.maxConcurrentRuns == 4)
    }

    @Test func theModelProviderStreamingAndScriptAreChecked() throws {
        let defaults = try configuration([:])
        #expect(defaults.modelProvider == .openai)
        #expect(defaults.modelStream)
        #expect(defaults.model == "gpt-4o-mini")
        #expect(try configuration(["AUTONOUS_MODEL_STREAM": "off"]).modelStream == false)
        #expect(failure(["AUTONOUS_MODEL_STREAM": "maybe"])?.variable == "AUTONOUS_MODEL_STREAM")
        #expect(failure(["AUTONOUS_MODEL_PROVIDER": "anthropic"])?.variable == "AUTONOUS_MODEL_PROVIDER")

        let missing = failure(["AUTONOUS_MODEL_PROVIDER": "scripted"])
        #expect(missing?.variable == "AUTONOUS_MODEL_SCRIPT")
        #expect(missing?.message.hasPrefix("is required because AUTONOUS_MODEL_PROVIDER=scripted") == true)

        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("script-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: directory) }
        let good = directory.appendingPathComponent("good.json")
        try Data(#"[{"delay": 0.5}, {"pieces": ["Hel", "lo"]}, {"tool_calls": [{"name": "ls"}]}]"#.utf8).write(to: good)
        let scripted = try configuration(["AUTONOUS_MODEL_PROVIDER": "scripted", "AUTONOUS_MODEL_SCRIPT": good.path])
        #expect(scripted.modelConfigured)
        #expect(scripted.model == "scripted")
        #expect(scripted.modelScriptPath == good.path)
        #expect(scripted.modelScript?.steps.count == 3)
        #expect(scripted.modelScript?.steps.first == .delay(.milliseconds(500)))

        let bad = directory.appendingPathComponent("bad.json")
        try Data(#"{"steps": [{"text": "ok"}, {"txet": "typo"}]}"#.utf8).write(to: bad)
        let typo = failure(["AUTONOUS_MODEL_PROVIDER": "scripted", "AUTONOUS_MODEL_SCRIPT": bad.path])
        #expect(typo?.variable == "AUTONOUS_MODEL_SCRIPT")
        #expect(typo?.message.hasPrefix("\(bad.path): step 2: unknown key \"txet\"") == true)
        let absent = failure([
            "AUTONOUS_MODEL_PROVIDER": "scripted", "AUTONOUS_MODEL_SCRIPT": directory.path + "/absent.json",
        ])
        #expect(absent?.message.hasPrefix("cannot read the model script") == true)
        #expect(
            failure(["AUTONOUS_MODEL_PROVIDER": "scripted", "AUTONOUS_MODEL_SCRIPT": "script.json"])?.message
                .hasPrefix("must be an absolute path") == true)
        let conflict = failure(["AUTONOUS_MODEL_SCRIPT": good.path])
        #expect(conflict?.message.hasPrefix("is set but AUTONOUS_MODEL_PROVIDER is openai") == true)
    }

    @Test func aModelScriptNamesTheStepThatIsWrong() {
        func problem(_ json: String) -> String? {
            do {
                _ = try ModelScript(json: Data(json.utf8), source: "s.json")
                return nil
            } catch {
                return error.message
            }
        }
        #expect(problem("[]") == "s.json: has no steps")
        #expect(problem("{")?.hasPrefix("s.json: is not JSON") == true)
        #expect(
            problem(#"[{"error": {"status": 200}}]"#)
                == #"s.json: step 1: "error" needs a "status" from 400 to 599, or a "kind""#)
        #expect(
            problem(#"[{"text": "a"}, {"delay": -1}]"#)
                == #"s.json: step 2: "delay" must be a number of seconds from 0 to 3600"#)
        #expect(problem(#"[{"tool_calls": [{"arguments": {}}]}]"#) == #"s.json: step 1: tool call 1 needs a "name""#)
        #expect(problem(#"[{}]"#) == #"s.json: step 1: needs "text", "pieces", "tool_calls", "error" or "delay""#)
        #expect(problem(#"[{"error": {"kind": "timeout"}}, {"error": {"status": 429, "retry_after": 2}}]"#) == nil)
    }

    @Test func telegramIsOnWhenATokenAndUsersAreGiven() throws {
        let configuration = try configuration([
            "AUTONOUS_TELEGRAM_TOKEN": "123:ABC-def_g", "AUTONOUS_TELEGRAM_ALLOWED_USERS": "12, 34,12",
            "AUTONOUS_TELEGRAM_ADMINS": "34",
        ])
        #expect(configuration.telegramEnabled)
        #expect(configuration.telegramAllowedUsers == [12, 34])
        #expect(configuration.telegramAdmins == [34])
        #expect("\(configuration.telegramToken as Any)".contains("123:ABC") == false)
    }

    @Test func aTokenWithoutAllowedUsersFailsClosed() {
        let error = failure(["AUTONOUS_TELEGRAM_TOKEN": "123:abc"])
        #expect(error?.variable == "AUTONOUS_TELEGRAM_ALLOWED_USERS")
        #expect(error?.message.contains("refuses to run an open bot") == true)
    }

    @Test func telegramOnWithoutTokenNamesTheToken() {
        #expect(failure(["AUTONOUS_TELEGRAM": "on"])?.variable == "AUTONOUS_TELEGRAM_TOKEN")
    }

    @Test func telegramOffIgnoresTheToken() throws {
        let configuration = try configuration(["AUTONOUS_TELEGRAM": "off", "AUTONOUS_TELEGRAM_TOKEN": "1:a"])
        #expect(configuration.telegramEnabled == false)
    }

    @Test(arguments: [
        ("AUTONOUS_TELEGRAM_ALLOWED_USERS", "12,abc", "'abc' is not one"),
        ("AUTONOUS_TELEGRAM_ALLOWED_USERS", "-5", "'-5' is not one"),
        ("AUTONOUS_STATE_DIR", "var/lib", "must be an absolute path"),
        ("AUTONOUS_RUNTIME_DIR", "/run/../etc", "must not contain '..'"),
        ("AUTONOUS_TELEGRAM_API_URL", "api.telegram.org", "must be an http:// or https:// URL"),
        ("AUTONOUS_MODEL", "gpt 4", "without spaces"),
        ("AUTONOUS_RETRY_ATTEMPTS", "0", "from 1 to 100"),
        ("AUTONOUS_MAX_CONCURRENT_RUNS", "0", "from 1 to 64, got '0'"),
        ("AUTONOUS_MAX_CONCURRENT_RUNS", "65", "from 1 to 64, got '65'"),
        ("AUTONOUS_MAX_CONCURRENT_RUNS", "two", "from 1 to 64, got 'two'"),
        ("AUTONOUS_WORKER_HEARTBEAT_INTERVAL", "5 seconds", "must be a duration"),
        ("AUTONOUS_TELEGRAM", "maybe", "must be one of auto, on, off"),
        ("AUTONOUS_WORKER_BIN", "autonous-worker", "must be an absolute path"),
        ("AUTONOUS_TOOLS", "read,rm", "unknown tool 'rm'"),
        ("AUTONOUS_TIER_POLICY", "network=maybe", "'network=maybe' is not one"),
        ("AUTONOUS_TIER_POLICY", "admin=auto", "'admin=auto' is not one"),
        ("AUTONOUS_TIER_POLICY", "network", "'network' is not one"),
        ("AUTONOUS_APPROVAL_TIMEOUT", "0s", "must be a duration"),
        ("AUTONOUS_TOOL_OUTPUT_LIMIT", "10", "from 1024 to 4194304"),
        ("AUTONOUS_TOOL_TIMEOUT_MAX", "30s", "must not be shorter than AUTONOUS_TOOL_TIMEOUT"),
    ])
    func invalidValuesNameTheVariableAndSayWhy(_ variable: String, _ value: String, _ reason: String) {
        let error = failure([variable: value])
        #expect(error?.variable == variable)
        #expect(error?.message.contains(reason) == true, "\(error?.message ?? "no error")")
    }

    @Test func theToolAllowlistDefaultsToEveryToolAndMayBeEmpty() throws {
        #expect(try configuration([:]).tools == Configuration.toolNames)
        #expect(try configuration(["AUTONOUS_TOOLS": ""]).tools.isEmpty)
        #expect(try configuration(["AUTONOUS_TOOLS": "read, ls"]).tools == ["read", "ls"])
    }

    @Test func theTierPolicyAsksForNetworkByDefaultAndTakesOverrides() throws {
        let defaults = try configuration([:])
        #expect(defaults.toolPolicy.description == "read=auto,write=auto,exec=auto,network=ask")
        #expect(defaults.approvalTimeout == .seconds(300))
        #expect(defaults.toolTimeout == .seconds(60))
        #expect(defaults.toolTimeoutMax == .seconds(600))
        #expect(defaults.toolOutputLimit == 32 * 1024)
        let custom = try configuration(["AUTONOUS_TIER_POLICY": "Network=auto, exec=ASK,write=deny"])
        #expect(custom.toolPolicy.description == "read=auto,write=deny,exec=ask,network=auto")
        #expect(custom.toolPolicy.mode(for: "unknown") == .deny)
    }

    @Test func toolRootsAreExistingDirectoriesAwayFromTheDaemonsOwnState() throws {
        let base = FileManager.default.temporaryDirectory.appendingPathComponent("roots-" + UUID().uuidString).path
        try FileManager.default.createDirectory(atPath: base + "/a/b", withIntermediateDirectories: true)
        try FileManager.default.createDirectory(atPath: base + "/c", withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: base) }
        #expect(try configuration([:]).toolRoots.isEmpty)
        let roots = try configuration(["AUTONOUS_TOOL_ROOTS": "\(base)/a/, \(base)/c:ro"]).toolRoots
        #expect(roots == [ToolRoot(path: base + "/a", writable: true), ToolRoot(path: base + "/c", writable: false)])
        let cases: [(String, String)] = [
            ("relative/dir", "takes absolute directories"), ("\(base)/a/../c", "without '.' or '..'"),
            ("/", "must not name /"), ("\(base)/missing", "not an existing directory"),
            ("\(base)/a,\(base)/a/b", "overlaps the root \(base)/a"),
            ("/tmp", "overlaps /tmp/s"),
        ]
        for (value, reason) in cases {
            let error = failure(["AUTONOUS_TOOL_ROOTS": value])
            #expect(error?.variable == "AUTONOUS_TOOL_ROOTS", "\(value)")
            #expect(error?.message.contains(reason) == true, "\(value): \(error?.message ?? "no error")")
        }
    }

    @Test func concurrentRunsTakeAWholeNumberFromOneTo64() throws {
        #expect(try configuration(["AUTONOUS_MAX_CONCURRENT_RUNS": "1"]).maxConcurrentRuns == 1)
        #expect(try configuration(["AUTONOUS_MAX_CONCURRENT_RUNS": "64"]).maxConcurrentRuns == 64)
        #expect(try configuration(["AUTONOUS_MAX_CONCURRENT_RUNS": " "]).maxConcurrentRuns == 4)
    }

    @Test func anAdminMustAlsoBeAnAllowedUser() {
        let error = failure([
            "AUTONOUS_TELEGRAM_TOKEN": "1:a", "AUTONOUS_TELEGRAM_ALLOWED_USERS": "1", "AUTONOUS_TELEGRAM_ADMINS": "2",
        ])
        #expect(error?.variable == "AUTONOUS_TELEGRAM_ADMINS")
    }

    @Test func heartbeatTimeoutMustExceedTheInterval() {
        let error = failure(["AUTONOUS_WORKER_HEARTBEAT_INTERVAL": "5s", "AUTONOUS_WORKER_HEARTBEAT_TIMEOUT": "5s"])
        #expect(error?.variable == "AUTONOUS_WORKER_HEARTBEAT_TIMEOUT")
    }

    @Test func secretsComeFromSystemdCredentialsWhenNotInTheEnvironment() throws {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent(UUID().uuidString).path
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: directory) }
        try "42:credential-token\n".write(toFile: directory + "/telegram-token", atomically: true, encoding: .utf8)
        try "sk-from-credential".write(toFile: directory + "/openai-api-key", atomically: true, encoding: .utf8)
        let configuration = try configuration([
            "CREDENTIALS_DIRECTORY": directory, "AUTONOUS_TELEGRAM_ALLOWED_USERS": "7",
        ])
        #expect(configuration.telegramToken?.value == "42:credential-token")
        #expect(configuration.openAIKey?.value == "sk-from-credential")
        #expect(configuration.telegramEnabled)
        #expect(configuration.modelConfigured)
    }

    @Test func aLocalServerWithoutKeyCountsAsConfigured() throws {
        let configuration = try configuration(["AUTONOUS_OPENAI_BASE_URL": "http://127.0.0.1:8080/v1/"])
        #expect(configuration.modelConfigured)
        #expect(configuration.openAIBaseURL.absoluteString == "http://127.0.0.1:8080/v1")
    }

    @Test(arguments: [
        ("250ms", Duration.milliseconds(250)), ("5s", .seconds(5)), ("2m", .seconds(120)), ("1h", .seconds(3600)),
        ("1.5", .milliseconds(1500)), ("0", .zero),
    ])
    func durationsParse(_ text: String, _ expected: Duration) {
        #expect(EnvironmentReader.parseDuration(text) == expected)
    }

    @Test(arguments: ["", "5 s", "-1s", "abc", "1d", "nan"])
    func badDurationsAreRejected(_ text: String) {
        #expect(EnvironmentReader.parseDuration(text) == nil)
    }
}

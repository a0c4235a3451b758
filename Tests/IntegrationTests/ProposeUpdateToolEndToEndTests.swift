import AutonousCore
import Foundation
import Testing

/// `propose_update` with the real worker and the real supervisor: the model's tool calls make the working copy,
/// change it with bash, and propose it; the supervisor records the transaction with who asked and from which run.
@Suite("propose_update end to end", .serialized, .timeLimit(.minutes(3)))
struct ProposeUpdateToolEndToEndTests {
    @Test func theAgentsProposalBecomesATransactionNamingItsTelegramSender() async throws {
        let source = try SelfUpdateTests.Source()
        let commit = try source.git(["rev-parse", "HEAD"]).trimmingCharacters(in: .whitespacesAndNewlines)
        func call(_ id: String, _ name: String, _ arguments: [String: JSONValue]) -> JSONValue {
            .object([
                "tool_calls": .array([
                    .object(["id": .string(id), "name": .string(name), "arguments": .object(arguments)])
                ])
            ])
        }
        let fakes = try Fakes()
        try await fakes.scriptOpenAI([
            call("call_1", "propose_update", ["summary": .string("Add notes")]),
            call("call_2", "bash", ["command": .string("echo 'notes from the agent' > autonous/NOTES.md")]),
            call("call_3", "propose_update", ["summary": .string("Add notes\n\nSo the operator can read them.")]),
            .object(["content": .string("Proposed.")]),
        ])
        let daemon = try Daemon(
            fakes: fakes,
            overrides: [
                "AUTONOUS_SOURCE_REPO": source.path, "AUTONOUS_UPDATE_BUILD_COMMAND": SelfUpdateTests.buildCommand,
                "AUTONOUS_UPDATE_TEST_COMMAND": SelfUpdateTests.testCommand,
            ])
        #expect(await daemon.waitUntilReady() != nil, "\(daemon.log)")

        try await fakes.sendUserMessage(from: 111, text: "add some notes to yourself")
        #expect(try await fakes.waitForSent(1, timeout: 90), "\(daemon.log)")
        let requests = try await fakes.openAIRequests()
        guard case .array(let messages)? = requests.last?["body"]?["messages"] else {
            Issue.record("no messages in the last request: \(daemon.log)")
            return
        }
        let results = try messages.filter { $0["role"] == .string("tool") }.map {
            try JSONDecoder().decode(JSONValue.self, from: Data(($0["content"]?.stringValue ?? "").utf8))
        }
        try #require(results.count == 3, "\(results)")
        #expect(
            results[0]["stderr"]
                == .string(
                    "the working copy at autonous was just created from \(commit.prefix(12)) and has no changes "
                        + "yet; edit it, then propose again"))
        #expect(results[1]["ok"] == .bool(true), "\(results[1])")
        #expect(results[2]["ok"] == .bool(true), "\(results[2])")
        let stdout = try #require(results[2]["stdout"]?.stringValue)
        let tx = try #require(stdout.split(separator: "\n").first?.split(separator: " ").last.map(String.init))
        #expect(stdout.contains("\nstate: created\n"), "\(stdout)")

        let detail = try await SelfUpdateTests.transaction(daemon, tx)
        #expect(detail.transaction.requestedBy == "telegram:111")
        #expect(detail.transaction.title == "Add notes")
        #expect(detail.transaction.baseCommit == commit)
        let agent = try #require(try daemon.events("agent.started").first)
        #expect(detail.transaction.runId == agent.runID)
        await daemon.stop()
    }
}

import AutonousCore
import Foundation
import Testing

@testable import Worker

/// How calls are classified for the policy, and how button presses are read.
@Suite struct ToolPolicyTests {
    private let registry = ToolRegistry(
        workspace: "/nonexistent", allowlist: ToolRegistry.known, launcher: "/usr/local/bin/autonous-sandbox")

    private func prepared(_ name: String, _ arguments: String) -> ToolRegistry.PreparedCall? {
        try? registry.prepare(ToolCall(id: "c", name: name, arguments: arguments), origin: .local).get()
    }

    @Test func bashIsExecWithoutNetworkAndNetworkWithDestinations() throws {
        let exec = try #require(prepared("bash", #"{"command":"ls"}"#))
        #expect(exec.tier == .exec)
        #expect(exec.summary == "bash without network:\n$ ls")
        let network = try #require(prepared("bash", #"{"command":"curl x","network":["pypi.org:443","[::1]:80"]}"#))
        #expect(network.tier == .network)
        #expect(network.summary == "bash with network access to pypi.org:443, [::1]:80:\n$ curl x")
        #expect(
            network.arguments
                == .object([
                    "command": .string("curl x"), "network": .array([.string("pypi.org:443"), .string("[::1]:80")]),
                ]))
        #expect(try #require(prepared("bash", #"{"command":"ls","network":[]}"#)).tier == .exec)
    }

    @Test func nativeToolsHaveTheirTiers() throws {
        #expect(try #require(prepared("read", #"{"path":"a"}"#)).tier == .read)
        #expect(try #require(prepared("grep", #"{"pattern":"a"}"#)).tier == .read)
        #expect(try #require(prepared("find", #"{"path":"."}"#)).tier == .read)
        #expect(try #require(prepared("write", #"{"path":"a","content":""}"#)).tier == .write)
        #expect(try #require(prepared("edit", #"{"path":"a","old_text":"x","new_text":"y"}"#)).tier == .write)
    }

    @Test func badNetworkDestinationsAreRefusedBeforeAnythingRuns() async {
        let tool = BashTool(
            launcher: "/nonexistent", workspace: "/nonexistent", outputLimit: 100, timeout: .seconds(5),
            timeoutMax: .seconds(10))
        let bad = await tool.run(.init(command: "true", timeoutSeconds: nil, network: ["no port"]))
        #expect(bad.ok == false)
        #expect(bad.tier == .network)
        #expect(bad.stderr.hasPrefix("network: --net-allow takes HOST:PORT, got 'no port'"), "\(bad.stderr)")
        let many = await tool.run(
            .init(command: "true", timeoutSeconds: nil, network: Array(repeating: "a.b:1", count: 17)))
        #expect(many.stderr == "network names at most 16 destinations")
        let long = await tool.run(.init(command: "true", timeoutSeconds: 11, network: nil))
        #expect(long.stderr == "timeout_seconds must be from 1 to 10, got 11")
    }

    @Test func approvalButtonsAreParsedStrictly() {
        #expect(CallbackDesk.approvalDecision("approval:ab3k9xyz:approve")! == ("ab3k9xyz", true))
        #expect(CallbackDesk.approvalDecision("approval:ab3k9xyz:reject")! == ("ab3k9xyz", false))
        for bad in [
            "approval:ab3k9xyz", "approval:AB3K9XYZ:approve", "approval:../x:approve", "other:ab3k9xyz:approve",
            "approval:ab3k9xyz:approve:extra", "approval:ab3k9xyz:maybe", "",
        ] {
            #expect(CallbackDesk.approvalDecision(bad) == nil, "\(bad)")
        }
        #expect(CallbackDesk.approvalDecision(nil) == nil)
        let press = CallbackDesk.press(
            from: #"{"update_id":5,"callback_query":{"id":"q1","from":{"id":111,"username":"ann"},"data":"x"}}"#)
        #expect(press == CallbackDesk.Press(queryID: "q1", userID: 111, username: "ann", data: "x"))
        #expect(CallbackDesk.press(from: #"{"update_id":5,"callback_query":{"from":{"id":1}}}"#) == nil)
    }
}

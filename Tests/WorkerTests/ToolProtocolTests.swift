import AutonousCore
import Testing

@testable import Worker

/// Tools are types in a list: the registry offers the allowlisted ones the worker can run, and refuses to start
/// with a tool whose schema is broken, naming it.
struct ToolProtocolTests {
    /// A tool whose schema is whatever the test says.
    struct Probe: Tool {
        var name = "probe"
        var description = "A tool for tests."
        var schema = #"{"type":"object","properties":{}}"#
        func prepare(_ call: ToolCall, in environment: ToolEnvironment, origin: ToolCallOrigin) throws
            -> ToolRegistry.PreparedCall
        {
            try environment.prepared(call, tier: .read) {
                ToolResult(
                    ok: true, exitCode: nil, stdout: "probed", stderr: "", stdoutTruncated: false,
                    stderrTruncated: false, durationMs: 0, tier: .read, nextOffset: nil, hasMore: nil)
            }
        }
    }

    private let environment = ToolEnvironment(
        workspace: "/nonexistent", extraRoots: [], outputLimit: 1024, launcher: nil, timeout: .seconds(5),
        timeoutMax: .seconds(10), updates: nil, updateMaxPatch: 1024)

    @Test func aToolWhoseSchemaIsBrokenStopsStartupByName() throws {
        let broken = Probe(name: "broken", schema: #"{"type":"object","#)
        let notObject = Probe(name: "listy", schema: #"{"type":"array"}"#)
        let registry = ToolRegistry(
            tools: [Probe(), broken, notObject], environment: environment, allowlist: ["probe", "broken", "listy"])
        #expect(registry.definitions.count == 1, "the model would get only the good one")
        do {
            _ = try registry.validated()
            Issue.record("a registry with broken schemas was accepted")
        } catch {
            #expect(error.errors.map(\.tool) == ["broken", "listy"])
            #expect(
                error.description.contains(
                    "the tool 'listy' has no valid definition: its schema is not a JSON object "
                        + "of type 'object'"))
        }
    }

    @Test func onlyAllowlistedToolsTheWorkerCanRunAreOffered() async throws {
        let registry = ToolRegistry(workspace: "/nonexistent", allowlist: ["read", "bash", "probe"], launcher: nil)
        #expect(registry.allowed == ["read"], "bash needs the launcher; probe is not a native tool")
        let custom = ToolRegistry(tools: [Probe()], environment: environment, allowlist: ["probe"])
        let result = await custom.run(ToolCall(id: "1", name: "probe", arguments: "{}"))
        #expect(result.ok && result.stdout == "probed")
        let refused = await custom.run(ToolCall(id: "2", name: "read", arguments: "{}"))
        #expect(refused.stderr == "there is no tool named 'read' (available: probe)")
        let malformed = await custom.run(ToolCall(id: "3", name: "probe", arguments: "[1]"))
        #expect(malformed.stderr.contains("the arguments must be one JSON object"))
    }

    @Test func theNativeToolsAreOfferedInTheirDocumentedOrder() throws {
        #expect(ToolRegistry.known == ["ls", "find", "grep", "read", "write", "edit", "bash", "propose_update"])
        #expect(
            try ToolRegistry(workspace: "/w", allowlist: ToolRegistry.known, launcher: "/l").validated().allowed.count
                == 7)
    }
}

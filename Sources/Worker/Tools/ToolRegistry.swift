import AutonousCore
import Foundation
import Sandbox

/// The tools the model may call: a list of `Tool`s, their function definitions, and turning a call into a
/// `PreparedCall` (decoded arguments, tier, what an admin would be asked) with precise errors for bad arguments.
/// Only allowlisted tools are offered; an empty allowlist offers none (fail closed). Whether a prepared call runs is
/// the policy's decision (`ToolGate`).
struct ToolRegistry: Sendable {
    /// The native tools' names, in the order they are offered.
    static let known = NativeTools.names

    let environment: ToolEnvironment
    /// The offered tools, in order.
    let tools: [any Tool]

    var workspace: String { environment.workspace }
    /// The offered tools' names.
    var allowed: [String] { tools.map(\.name) }

    init(
        workspace: String, extraRoots: [ToolRoot] = [], allowlist: [String], launcher: String?,
        outputLimit: Int = 32 * 1024, timeout: Duration = .seconds(60), timeoutMax: Duration = .seconds(600),
        updates: (any UpdateProposing)? = nil, updateMaxPatch: Int = 1 << 20
    ) {
        let environment = ToolEnvironment(
            workspace: workspace, extraRoots: extraRoots, outputLimit: outputLimit, launcher: launcher,
            timeout: timeout, timeoutMax: timeoutMax, updates: updates, updateMaxPatch: updateMaxPatch)
        let native: [any Tool] = NativeTools.all.map { tool in
            tool is NativeTools.Bash ? NativeTools.Bash(timeoutMax: timeoutMax) : tool
        }
        self.init(tools: native, environment: environment, allowlist: allowlist)
    }

    /// The tools of `tools` that the allowlist names and the environment can run, in `tools`' order.
    init(tools: [any Tool], environment: ToolEnvironment, allowlist: [String]) {
        self.environment = environment
        self.tools = tools.filter { allowlist.contains($0.name) && $0.isAvailable(in: environment) }
        // Built once: every run offers them, and building one decodes its schema.
        definitionResults = self.tools.map { ($0.name, $0.definition) }
        offered = OfferedTools(definitionResults.compactMap { try? $0.definition.get() })
    }

    /// `definitions` with their estimated tokens, as every run offers them.
    let offered: OfferedTools

    /// A decoded call that has not run yet.
    struct PreparedCall: Sendable {
        let name: String
        let tier: ToolTier
        /// The decoded arguments as JSON: what an approval is bound to.
        let arguments: JSONValue
        /// What an admin is asked about, a few lines.
        let summary: String
        let execute: @Sendable () async -> ToolResult
    }

    /// The `tools` array of a chat-completions request. A tool whose schema does not build is left out (the model
    /// gets the others); `validated()` refuses such a registry at startup and `definitionResults` shows which failed
    /// and why, for `--self-check`.
    var definitions: [JSONValue] {
        definitionResults.compactMap { try? $0.definition.get() }
    }

    /// Why a tool's function definition could not be built.
    struct DefinitionError: Error, CustomStringConvertible, Sendable {
        let tool: String
        let reason: String

        var description: String { "the tool '\(tool)' has no valid definition: \(reason)" }
    }

    /// Every offered tool's definition problem at once: the worker refuses to start with any.
    struct InvalidDefinitions: Error, CustomStringConvertible {
        let errors: [DefinitionError]

        var description: String { errors.map(\.description).joined(separator: "; ") }
    }

    /// A tool that cannot run in this worker (bash without a launcher, say).
    struct Unavailable: Error, CustomStringConvertible {
        let tool: String

        var description: String { "the tool '\(tool)' is not available" }
    }

    /// Each offered tool's function definition, or why it could not be built.
    let definitionResults: [(name: String, definition: Result<JSONValue, DefinitionError>)]

    /// The registry when every offered tool's definition builds; otherwise the error naming each tool that fails.
    func validated() throws(InvalidDefinitions) -> ToolRegistry {
        let errors = definitionResults.compactMap { result -> DefinitionError? in
            if case .failure(let error) = result.definition { return error }
            return nil
        }
        guard errors.isEmpty else { throw InvalidDefinitions(errors: errors) }
        return self
    }

    /// Runs one call without any policy, as `auto` would; the agent goes through `ToolGate` instead.
    func run(_ call: ToolCall, origin: ToolCallOrigin = .local) async -> ToolResult {
        switch prepare(call, origin: origin) {
        case .success(let prepared): await prepared.execute()
        case .failure(let failure): failure.result
        }
    }

    /// A failed preparation, as the result the model reads.
    struct Refusal: Error {
        let result: ToolResult
    }

    /// Decodes a call made for `origin`. Unknown or disallowed tools and malformed arguments come back as failed
    /// results the model can read and correct, never as a crash.
    func prepare(_ call: ToolCall, origin: ToolCallOrigin) -> Result<PreparedCall, Refusal> {
        guard let tool = tools.first(where: { $0.name == call.name }) else {
            let offered = allowed.isEmpty ? "no tools are enabled" : "available: \(allowed.joined(separator: ", "))"
            return .failure(
                Refusal(result: .failure("there is no tool named '\(call.name)' (\(offered))", tier: .read)))
        }
        do {
            return .success(try tool.prepare(call, in: environment, origin: origin))
        } catch {
            return .failure(Refusal(result: .failure("\(error)", tier: .read)))
        }
    }
}

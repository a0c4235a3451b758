import AutonousCore
import Foundation
import Sandbox

/// A tool the model may call: its name, what the model is told about it, the JSON schema of its arguments, and how
/// a call becomes a `PreparedCall` (decoded arguments, tier, what an admin would be asked, what runs). The registry
/// is a list of these; `NativeTools` has the built-in ones.
protocol Tool: Sendable {
    var name: String { get }
    var description: String { get }
    /// The JSON schema of the arguments, as JSON text: a schema that does not parse fails startup and
    /// `--self-check`, naming the tool.
    var schema: String { get }
    /// Whether the worker can offer the tool at all (bash needs the sandbox launcher, say).
    func isAvailable(in environment: ToolEnvironment) -> Bool
    /// Decodes `call`'s arguments and returns what would run. Throws the error the model reads when the arguments
    /// are wrong.
    func prepare(_ call: ToolCall, in environment: ToolEnvironment, origin: ToolCallOrigin) throws
        -> ToolRegistry.PreparedCall
}

extension Tool {
    func isAvailable(in environment: ToolEnvironment) -> Bool { true }

    /// The chat-completions function definition, or why it cannot be built.
    var definition: Result<JSONValue, ToolRegistry.DefinitionError> {
        let parameters: JSONValue
        do {
            parameters = try JSONCoding.decoder.decode(JSONValue.self, from: Data(schema.utf8))
        } catch {
            return .failure(ToolRegistry.DefinitionError(tool: name, reason: "its schema is not JSON (\(error))"))
        }
        guard case .object = parameters, parameters["type"]?.stringValue == "object" else {
            return .failure(
                ToolRegistry.DefinitionError(tool: name, reason: "its schema is not a JSON object of type 'object'"))
        }
        return .success(
            .object([
                "type": .string("function"),
                "function": .object([
                    "name": .string(name), "description": .string(description), "parameters": parameters,
                ]),
            ]))
    }
}

/// What tools get from the worker: the roots they work under, their limits, the sandbox launcher and the
/// supervisor's update interface.
struct ToolEnvironment: Sendable {
    let workspace: String
    /// Further roots (`AUTONOUS_TOOL_ROOTS`): a path argument under one of them, written absolute, works there.
    let extraRoots: [ToolRoot]
    let outputLimit: Int
    /// The launcher for command tools; without it neither bash nor propose_update is offered.
    let launcher: String?
    /// bash's time limit when the model names none, and the most it may name; propose_update's git gets the first.
    let timeout: Duration
    let timeoutMax: Duration
    /// Who takes self-update proposals; without it propose_update is not offered.
    let updates: (any UpdateProposing)?
    /// The largest patch propose_update sends (`AUTONOUS_UPDATE_MAX_PATCH`).
    let updateMaxPatch: Int

    /// Decodes a call's arguments as `type`, with the precise error the model reads.
    func decode<T: Decodable>(_ type: T.Type, _ call: ToolCall) throws -> T {
        try ToolArgumentError.decode(type, tool: call.name, from: call.arguments)
    }

    /// A prepared call of `tier` whose approval is bound to the decoded arguments.
    func prepared(
        _ call: ToolCall, tier: ToolTier, summary: String? = nil,
        execute: @escaping @Sendable () async -> ToolResult
    ) throws -> ToolRegistry.PreparedCall {
        let decoded = try JSONValue.decodeArguments(call.arguments, tool: call.name)
        return ToolRegistry.PreparedCall(
            name: call.name, tier: tier, arguments: decoded,
            summary: summary ?? "\(call.name) \(decoded.jsonText.prefix(1500))", execute: execute)
    }

    /// Opens the root `path` lies in when the call runs (not while it waits for an approval) and runs `body` on it:
    /// the workspace for a relative path, or the extra root an absolute path names.
    func confined(
        _ tier: ToolTier, _ path: String?, _ body: @escaping @Sendable (ConfinedRoot) -> ToolResult
    ) -> @Sendable () -> ToolResult {
        { [workspace, extraRoots] in
            var root = ToolRoot(path: workspace, writable: true)
            var primary = true
            if let path, path.hasPrefix("/"), !ToolRoot.contains(workspace, path) {
                guard let extra = extraRoots.first(where: { ToolRoot.contains($0.path, path) }) else {
                    let roots = ([workspace] + extraRoots.map(\.path)).joined(separator: ", ")
                    return .failure("\(path) is outside the allowed roots (\(roots))", tier: tier)
                }
                root = extra
                primary = false
            }
            if tier == .write && !root.writable {
                return .failure("\(root.path) is a read-only root; \(path ?? "") cannot be changed", tier: tier)
            }
            do {
                return body(
                    try ConfinedRoot(path: root.path, writable: tier == .write, showsAbsolutePaths: !primary))
            } catch {
                return .failure("\(error)", tier: tier)
            }
        }
    }
}

extension JSONValue {
    /// The call's arguments as a JSON object, or the error the model reads.
    fileprivate static func decodeArguments(_ text: String, tool: String) throws -> JSONValue {
        guard let value = try? JSONValue(parsing: text),
            case .object = value
        else {
            throw ToolArgumentError(tool: tool, message: "the arguments must be one JSON object")
        }
        return value
    }
}

import AutonousCore
import Foundation
import Sandbox

/// The tools the model may call: their function definitions, and turning a call into a `PreparedCall` (decoded
/// arguments, tier, what an admin would be asked) with precise errors for bad arguments. Only allowlisted tools are
/// offered; an empty allowlist offers none (fail closed). Whether a prepared call runs is the policy's decision
/// (`ToolGate`).
struct ToolRegistry: Sendable {
    /// The native tools built so far, by name.
    static let known = [
        ListTool.name, FindTool.name, GrepTool.name, ReadTool.name, WriteTool.name, EditTool.name, BashTool.name,
        ProposeUpdateTool.name,
    ]

    let workspace: String
    /// Further roots (`AUTONOUS_TOOL_ROOTS`): a path argument under one of them, written absolute, works there.
    let extraRoots: [ToolRoot]
    let allowed: [String]
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

    init(
        workspace: String, extraRoots: [ToolRoot] = [], allowlist: [String], launcher: String?,
        outputLimit: Int = 32 * 1024, timeout: Duration = .seconds(60), timeoutMax: Duration = .seconds(600),
        updates: (any UpdateProposing)? = nil, updateMaxPatch: Int = 1 << 20
    ) {
        self.workspace = workspace
        self.extraRoots = extraRoots
        self.launcher = launcher
        self.allowed = allowlist.filter { name in
            switch name {
            case BashTool.name: launcher != nil
            case ProposeUpdateTool.name: launcher != nil && updates != nil
            default: Self.known.contains(name)
            }
        }
        self.outputLimit = outputLimit
        self.timeout = timeout
        self.timeoutMax = timeoutMax
        self.updates = updates
        self.updateMaxPatch = updateMaxPatch
    }

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
    /// gets the others); `definitionResults` shows which failed and why, for `--self-check`.
    var definitions: [JSONValue] {
        definitionResults.compactMap { try? $0.definition.get() }
    }

    /// Why a tool's function definition could not be built.
    struct DefinitionError: Error, CustomStringConvertible {
        let tool: String
        let reason: String

        var description: String { "the tool '\(tool)' has no valid definition: \(reason)" }
    }

    /// Each offered tool's function definition, or why it could not be built: an unknown name, or a schema that is
    /// not JSON.
    var definitionResults: [(name: String, definition: Result<JSONValue, DefinitionError>)] {
        allowed.map { name in (name, Self.definition(name, timeoutMax: timeoutMax)) }
    }

    private static func definition(_ name: String, timeoutMax: Duration) -> Result<JSONValue, DefinitionError> {
        let (description, schema): (String, String)
        switch name {
        case ReadTool.name: (description, schema) = (ReadTool.description, ReadTool.schema)
        case ListTool.name: (description, schema) = (ListTool.description, ListTool.schema)
        case FindTool.name: (description, schema) = (FindTool.description, FindTool.schema)
        case GrepTool.name: (description, schema) = (GrepTool.description, GrepTool.schema)
        case WriteTool.name: (description, schema) = (WriteTool.description, WriteTool.schema)
        case EditTool.name: (description, schema) = (EditTool.description, EditTool.schema)
        case BashTool.name: (description, schema) = (BashTool.description(timeoutMax), BashTool.schema(timeoutMax))
        case ProposeUpdateTool.name: (description, schema) = (ProposeUpdateTool.description, ProposeUpdateTool.schema)
        default: return .failure(DefinitionError(tool: name, reason: "no definition is known for it"))
        }
        let parameters: JSONValue
        do {
            parameters = try JSONCoding.decoder.decode(JSONValue.self, from: Data(schema.utf8))
        } catch {
            return .failure(DefinitionError(tool: name, reason: "its schema is not JSON (\(error))"))
        }
        return .success(
            .object([
                "type": .string("function"),
                "function": .object([
                    "name": .string(name), "description": .string(description), "parameters": parameters,
                ]),
            ]))
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
        guard allowed.contains(call.name) else {
            let offered = allowed.isEmpty ? "no tools are enabled" : "available: \(allowed.joined(separator: ", "))"
            return .failure(
                Refusal(result: .failure("there is no tool named '\(call.name)' (\(offered))", tier: .read)))
        }
        do {
            // Called after the typed decoding succeeded, whose errors are the precise ones.
            func prepared(
                _ tier: ToolTier, summary: String? = nil, execute: @escaping @Sendable () async -> ToolResult
            ) throws -> Result<PreparedCall, Refusal> {
                let decoded = try JSONValue.decodeArguments(call.arguments, tool: call.name)
                return .success(
                    PreparedCall(
                        name: call.name, tier: tier, arguments: decoded,
                        summary: summary ?? "\(call.name) \(decoded.jsonText.prefix(1500))", execute: execute))
            }
            switch call.name {
            case BashTool.name:
                guard let launcher else { break }
                let arguments = try decode(BashTool.Arguments.self, call)
                let tool = BashTool(
                    launcher: launcher, workspace: workspace, extraRoots: extraRoots, outputLimit: outputLimit,
                    timeout: timeout, timeoutMax: timeoutMax)
                return try prepared(arguments.tier, summary: BashTool.summary(arguments)) { await tool.run(arguments) }
            case ProposeUpdateTool.name:
                guard let launcher, let updates else { break }
                let arguments = try decode(ProposeUpdateTool.Arguments.self, call)
                let diff = WorkingCopyDiff(
                    sandbox: SandboxCommand(launcher: launcher, workspace: workspace), maxPatch: updateMaxPatch,
                    timeoutSeconds: Int(timeout.components.seconds))
                let tool = ProposeUpdateTool(supervisor: updates, diff: diff, origin: origin)
                // Exec: git runs the working copy's own configuration (filters, drivers) in the Exec sandbox.
                return try prepared(.exec, summary: ProposeUpdateTool.summary(arguments)) { await tool.run(arguments) }
            case WriteTool.name:
                let arguments = try decode(WriteTool.Arguments.self, call)
                return try prepared(
                    .write, execute: confined(.write, arguments.path) { WriteTool(root: $0).run(arguments) })
            case EditTool.name:
                let arguments = try decode(EditTool.Arguments.self, call)
                return try prepared(
                    .write, execute: confined(.write, arguments.path) { EditTool(root: $0).run(arguments) })
            case ReadTool.name:
                let arguments = try decode(ReadTool.Arguments.self, call)
                return try prepared(
                    .read,
                    execute: confined(.read, arguments.path) { [outputLimit] in
                        ReadTool(root: $0, outputLimit: outputLimit).run(arguments)
                    })
            case ListTool.name:
                let arguments = try decode(ListTool.Arguments.self, call)
                return try prepared(
                    .read,
                    execute: confined(.read, arguments.path) { [outputLimit] in
                        ListTool(root: $0, outputLimit: outputLimit).run(arguments)
                    })
            case FindTool.name:
                let arguments = try decode(FindTool.Arguments.self, call)
                return try prepared(
                    .read,
                    execute: confined(.read, arguments.path) { [outputLimit, timeout] in
                        FindTool(root: $0, outputLimit: outputLimit, timeLimit: timeout).run(arguments)
                    })
            case GrepTool.name:
                let arguments = try decode(GrepTool.Arguments.self, call)
                return try prepared(
                    .read,
                    execute: confined(.read, arguments.path) { [outputLimit, timeout] in
                        GrepTool(root: $0, outputLimit: outputLimit, timeLimit: timeout).run(arguments)
                    })
            default:
                break
            }
            return .failure(Refusal(result: .failure("the tool '\(call.name)' is not available", tier: .read)))
        } catch {
            return .failure(Refusal(result: .failure("\(error)", tier: .read)))
        }
    }

    /// Opens the root `path` lies in when the call runs (not while it waits for an approval) and runs `body` on it:
    /// the workspace for a relative path, or the extra root an absolute path names.
    private func confined(
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

    private func decode<T: Decodable>(_ type: T.Type, _ call: ToolCall) throws -> T {
        try ToolArgumentError.decode(type, tool: call.name, from: call.arguments)
    }
}

extension JSONValue {
    /// The call's arguments as a JSON object, or the error the model reads.
    fileprivate static func decodeArguments(_ text: String, tool: String) throws -> JSONValue {
        guard let value = try? JSONCoding.decoder.decode(JSONValue.self, from: Data(text.utf8)),
            case .object = value
        else {
            throw ToolArgumentError(tool: tool, message: "the arguments must be one JSON object")
        }
        return value
    }
}

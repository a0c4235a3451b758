import AutonousCore
import Foundation
import Sandbox

/// The tools the model may call: their function definitions, and running a call with precise errors for bad
/// arguments. Only allowlisted tools are offered; an empty allowlist offers none (fail closed).
struct ToolRegistry: Sendable {
    /// The native tools built so far, by name.
    static let known = [
        ListTool.name, FindTool.name, GrepTool.name, ReadTool.name, WriteTool.name, EditTool.name, BashTool.name,
    ]

    let workspace: String
    let allowed: [String]
    let outputLimit: Int
    /// The launcher for Exec-tier tools; without it bash is not offered.
    let launcher: String?

    init(workspace: String, allowlist: [String], launcher: String?, outputLimit: Int = 32 * 1024) {
        self.workspace = workspace
        self.launcher = launcher
        self.allowed = allowlist.filter { Self.known.contains($0) && ($0 != BashTool.name || launcher != nil) }
        self.outputLimit = outputLimit
    }

    /// The `tools` array of a chat-completions request.
    var definitions: [JSONValue] {
        allowed.compactMap { name -> JSONValue? in
            let (description, schema): (String, String)
            switch name {
            case ReadTool.name: (description, schema) = (ReadTool.description, ReadTool.schema)
            case ListTool.name: (description, schema) = (ListTool.description, ListTool.schema)
            case FindTool.name: (description, schema) = (FindTool.description, FindTool.schema)
            case GrepTool.name: (description, schema) = (GrepTool.description, GrepTool.schema)
            case WriteTool.name: (description, schema) = (WriteTool.description, WriteTool.schema)
            case EditTool.name: (description, schema) = (EditTool.description, EditTool.schema)
            case BashTool.name: (description, schema) = (BashTool.description, BashTool.schema)
            default: return nil
            }
            guard let parameters = try? JSONCoding.decoder.decode(JSONValue.self, from: Data(schema.utf8)) else {
                return nil
            }
            return .object([
                "type": .string("function"),
                "function": .object([
                    "name": .string(name), "description": .string(description), "parameters": parameters,
                ]),
            ])
        }
    }

    /// Runs one call. Unknown or disallowed tools and malformed arguments come back as failed results the model can
    /// read and correct, never as a crash.
    func run(_ call: ToolCall) -> ToolResult {
        guard allowed.contains(call.name) else {
            let offered = allowed.isEmpty ? "no tools are enabled" : "available: \(allowed.joined(separator: ", "))"
            return .failure("there is no tool named '\(call.name)' (\(offered))", tier: .read)
        }
        do {
            if call.name == BashTool.name, let launcher {
                let arguments = try ToolArgumentError.decode(
                    BashTool.Arguments.self, tool: call.name, from: call.arguments)
                return BashTool(launcher: launcher, workspace: workspace, outputLimit: outputLimit).run(arguments)
            }
            let writes = call.name == WriteTool.name || call.name == EditTool.name
            let root = try ConfinedRoot(path: workspace, writable: writes)
            switch call.name {
            case WriteTool.name:
                let arguments = try ToolArgumentError.decode(
                    WriteTool.Arguments.self, tool: call.name, from: call.arguments)
                return WriteTool(root: root).run(arguments)
            case EditTool.name:
                let arguments = try ToolArgumentError.decode(
                    EditTool.Arguments.self, tool: call.name, from: call.arguments)
                return EditTool(root: root).run(arguments)
            case ReadTool.name:
                let arguments = try ToolArgumentError.decode(
                    ReadTool.Arguments.self, tool: call.name, from: call.arguments)
                return ReadTool(root: root, outputLimit: outputLimit).run(arguments)
            case ListTool.name:
                let arguments = try ToolArgumentError.decode(
                    ListTool.Arguments.self, tool: call.name, from: call.arguments)
                return ListTool(root: root, outputLimit: outputLimit).run(arguments)
            default:
                return .failure("the tool '\(call.name)' is not implemented", tier: .read)
            }
        } catch {
            return .failure("\(error)", tier: .read)
        }
    }
}

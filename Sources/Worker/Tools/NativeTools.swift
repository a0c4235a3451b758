import AutonousCore
import Foundation
import Sandbox

/// The built-in tools, in the order they are offered. Each is a `Tool` over the type that does the work.
enum NativeTools {
    static let all: [any Tool] = [List(), Find(), Grep(), Read(), Write(), Edit(), Bash(), ProposeUpdate()]

    static var names: [String] { all.map(\.name) }

    struct List: Tool {
        var name: String { ListTool.name }
        var description: String { ListTool.description }
        var schema: String { ListTool.schema }
        func prepare(_ call: ToolCall, in environment: ToolEnvironment, origin: ToolCallOrigin) throws
            -> ToolRegistry.PreparedCall
        {
            try environment.reading(call, ListTool.Arguments.self, path: \.path) { root, arguments, environment in
                ListTool(root: root, outputLimit: environment.outputLimit).run(arguments)
            }
        }
    }

    struct Find: Tool {
        var name: String { FindTool.name }
        var description: String { FindTool.description }
        var schema: String { FindTool.schema }
        func prepare(_ call: ToolCall, in environment: ToolEnvironment, origin: ToolCallOrigin) throws
            -> ToolRegistry.PreparedCall
        {
            try environment.reading(call, FindTool.Arguments.self, path: \.path) { root, arguments, environment in
                FindTool(root: root, outputLimit: environment.outputLimit, timeLimit: environment.timeout)
                    .run(arguments)
            }
        }
    }

    struct Grep: Tool {
        var name: String { GrepTool.name }
        var description: String { GrepTool.description }
        var schema: String { GrepTool.schema }
        func prepare(_ call: ToolCall, in environment: ToolEnvironment, origin: ToolCallOrigin) throws
            -> ToolRegistry.PreparedCall
        {
            try environment.reading(call, GrepTool.Arguments.self, path: \.path) { root, arguments, environment in
                GrepTool(root: root, outputLimit: environment.outputLimit, timeLimit: environment.timeout)
                    .run(arguments)
            }
        }
    }

    struct Read: Tool {
        var name: String { ReadTool.name }
        var description: String { ReadTool.description }
        var schema: String { ReadTool.schema }
        func prepare(_ call: ToolCall, in environment: ToolEnvironment, origin: ToolCallOrigin) throws
            -> ToolRegistry.PreparedCall
        {
            try environment.reading(call, ReadTool.Arguments.self, path: \.path) { root, arguments, environment in
                ReadTool(root: root, outputLimit: environment.outputLimit).run(arguments)
            }
        }
    }

    struct Write: Tool {
        var name: String { WriteTool.name }
        var description: String { WriteTool.description }
        var schema: String { WriteTool.schema }
        func prepare(_ call: ToolCall, in environment: ToolEnvironment, origin: ToolCallOrigin) throws
            -> ToolRegistry.PreparedCall
        {
            let arguments = try environment.decode(WriteTool.Arguments.self, call)
            return try environment.prepared(
                call, tier: .write,
                execute: environment.confined(.write, arguments.path) { WriteTool(root: $0).run(arguments) })
        }
    }

    struct Edit: Tool {
        var name: String { EditTool.name }
        var description: String { EditTool.description }
        var schema: String { EditTool.schema }
        func prepare(_ call: ToolCall, in environment: ToolEnvironment, origin: ToolCallOrigin) throws
            -> ToolRegistry.PreparedCall
        {
            let arguments = try environment.decode(EditTool.Arguments.self, call)
            return try environment.prepared(
                call, tier: .write,
                execute: environment.confined(.write, arguments.path) { EditTool(root: $0).run(arguments) })
        }
    }

    /// bash: Exec, or Network when the call asks for hosts; each call in a new sandbox.
    struct Bash: Tool {
        var name: String { BashTool.name }
        /// The description and schema name the most time a call may ask for; the registry gives its own.
        var timeoutMax: Duration = .seconds(600)
        var description: String { BashTool.description(timeoutMax) }
        var schema: String { BashTool.schema(timeoutMax) }
        func isAvailable(in environment: ToolEnvironment) -> Bool { environment.launcher != nil }
        func prepare(_ call: ToolCall, in environment: ToolEnvironment, origin: ToolCallOrigin) throws
            -> ToolRegistry.PreparedCall
        {
            guard let launcher = environment.launcher else { throw ToolRegistry.Unavailable(tool: name) }
            let arguments = try environment.decode(BashTool.Arguments.self, call)
            let tool = BashTool(
                launcher: launcher, workspace: environment.workspace, extraRoots: environment.extraRoots,
                outputLimit: environment.outputLimit, timeout: environment.timeout,
                timeoutMax: environment.timeoutMax)
            return try environment.prepared(call, tier: arguments.tier, summary: BashTool.summary(arguments)) {
                await tool.run(arguments)
            }
        }
    }

    /// propose_update: Exec, because git runs the working copy's own configuration (filters, drivers) in the Exec
    /// sandbox.
    struct ProposeUpdate: Tool {
        var name: String { ProposeUpdateTool.name }
        var description: String { ProposeUpdateTool.description }
        var schema: String { ProposeUpdateTool.schema }
        func isAvailable(in environment: ToolEnvironment) -> Bool {
            environment.launcher != nil && environment.updates != nil
        }
        func prepare(_ call: ToolCall, in environment: ToolEnvironment, origin: ToolCallOrigin) throws
            -> ToolRegistry.PreparedCall
        {
            guard let launcher = environment.launcher, let updates = environment.updates else {
                throw ToolRegistry.Unavailable(tool: name)
            }
            let arguments = try environment.decode(ProposeUpdateTool.Arguments.self, call)
            let diff = WorkingCopyDiff(
                sandbox: SandboxCommand(launcher: launcher, workspace: environment.workspace),
                maxPatch: environment.updateMaxPatch, timeoutSeconds: Int(environment.timeout.components.seconds))
            let tool = ProposeUpdateTool(supervisor: updates, diff: diff, origin: origin)
            return try environment.prepared(call, tier: .exec, summary: ProposeUpdateTool.summary(arguments)) {
                await tool.run(arguments)
            }
        }
    }
}

extension ToolEnvironment {
    /// A Read-tier call on the root its `path` argument names.
    fileprivate func reading<Arguments: Decodable & Sendable>(
        _ call: ToolCall, _ type: Arguments.Type, path: (Arguments) -> String?,
        run: @escaping @Sendable (ConfinedRoot, Arguments, ToolEnvironment) -> ToolResult
    ) throws -> ToolRegistry.PreparedCall {
        let arguments = try decode(type, call)
        return try prepared(
            call, tier: .read, execute: confined(.read, path(arguments)) { [self] in run($0, arguments, self) }
        )
    }
}

import AutonousCore

/// The self-check's judgement of the tool registry's function definitions: each must build, have the
/// chat-completions shape with a parameters schema that is a JSON object of type "object", and carry a unique name;
/// and every native tool must be one the configuration can name (else no allowlist could ever offer it).
///
/// The registry itself still leaves a broken definition out, so the model gets the other tools; this check is where
/// such a tool fails a new revision instead, by name.
enum ToolDefinitionCheck {
    /// Returns a short note (tools checked, names the configuration knows that are not built yet), or throws one
    /// `SelfCheckFailure` naming every tool that is wrong and why.
    static func verify(
        _ results: [(name: String, definition: Result<JSONValue, ToolRegistry.DefinitionError>)],
        configured: [String],
        native: [String] = ToolRegistry.known
    ) throws -> String {
        var problems: [String] = []
        var seen: Set<String> = []
        for (name, definition) in results {
            switch definition {
            case .failure(let error):
                problems.append("\(name): \(error.reason)")
            case .success(let value):
                if let problem = shapeProblem(value, name: name) { problems.append("\(name): \(problem)") }
            }
            if !seen.insert(name).inserted { problems.append("\(name): the name is offered twice") }
        }
        for name in native where !configured.contains(name) {
            problems.append("\(name): not in Configuration.toolNames, so no AUTONOUS_TOOLS can enable it")
        }
        guard problems.isEmpty else {
            throw SelfCheckFailure("tool definitions are wrong: " + problems.joined(separator: "; "))
        }
        let notBuilt = configured.filter { name in !results.contains { $0.name == name } }
        return "\(results.count) tools"
            + (notBuilt.isEmpty ? "" : "; not built yet: \(notBuilt.joined(separator: ", "))")
    }

    /// What is wrong with one definition's shape, or nil.
    static func shapeProblem(_ definition: JSONValue, name: String) -> String? {
        guard definition["type"]?.stringValue == "function", let function = definition["function"] else {
            return "the definition is not {\"type\": \"function\", \"function\": …}"
        }
        guard function["name"]?.stringValue == name else {
            return "the definition is named '\(function["name"]?.stringValue ?? "nothing")'"
        }
        guard let parameters = function["parameters"], case .object = parameters else {
            return "its parameters schema is not a JSON object"
        }
        guard parameters["type"]?.stringValue == "object" else {
            return "its parameters schema has type '\(parameters["type"]?.stringValue ?? "none")', not 'object'"
        }
        return nil
    }
}

import Foundation

/// The answers of the scripted model provider (`AUTONOUS_MODEL_PROVIDER=scripted`), read from the JSON file
/// `AUTONOUS_MODEL_SCRIPT` and checked when the configuration is read.
///
/// The file is a list of steps, or an object `{"steps": [...]}`; each model call takes the next steps: any delays,
/// then one answer or error. Steps (unknown keys are refused, so a typo is caught at start):
/// - `{"text": "Hello"}` or `{"pieces": ["Hel", "lo"]}`: an answer, streamed as those pieces. With optional
///   `"reasoning": "…"`, `"finish_reason": "stop"`, `"usage": {"input_tokens": 10, "output_tokens": 2}`.
/// - `{"tool_calls": [{"name": "ls", "arguments": {"path": "."}, "id": "call_1"}]}`: tool calls (`id` optional,
///   `arguments` an object or its JSON text), with optional `text`/`pieces` beside them.
/// - `{"error": {"status": 429, "code": "rate_limit_exceeded", "message": "…", "retry_after": 2}}`: the API's
///   error; or `{"error": {"kind": "timeout" | "transport" | "malformed"}}`: a call that fails without one.
/// - `{"delay": 1.5}`: wait that many seconds before the next step.
public struct ModelScript: Sendable, Equatable {
    /// One step of the script.
    public enum Step: Sendable, Equatable {
        case answer(Answer)
        case failure(Failure)
        case delay(Duration)
    }

    /// A scripted answer: its text in stream pieces, reasoning, tool calls and usage.
    public struct Answer: Sendable, Equatable {
        public var pieces: [String]
        public var reasoning: String?
        public var toolCalls: [ToolCall]
        public var finishReason: String?
        public var inputTokens: Int?
        public var outputTokens: Int?

        /// The whole text.
        public var text: String { pieces.joined() }
    }

    /// A scripted tool call; `arguments` is JSON text.
    public struct ToolCall: Sendable, Equatable {
        public var id: String?
        public var name: String
        public var arguments: String
    }

    /// A scripted failure.
    public enum Failure: Sendable, Equatable {
        case api(status: Int, code: String?, message: String, retryAfter: Duration?)
        case timeout
        case transport
        case malformed
    }

    public var steps: [Step]

    public init(steps: [Step]) {
        self.steps = steps
    }

    /// Reads a script file.
    ///
    /// - Throws: `ConfigurationError` for `variable`, saying which step is wrong and how.
    public init(path: String, variable: String = "AUTONOUS_MODEL_SCRIPT") throws(ConfigurationError) {
        guard let data = FileManager.default.contents(atPath: path) else {
            throw ConfigurationError(variable: variable, message: "cannot read the model script \(path)")
        }
        try self.init(json: data, variable: variable, source: path)
    }

    /// Parses a script's JSON text.
    public init(json: Data, variable: String = "AUTONOUS_MODEL_SCRIPT", source: String = "the model script")
        throws(ConfigurationError)
    {
        func fail(_ message: String) -> ConfigurationError {
            ConfigurationError(variable: variable, message: "\(source): \(message)")
        }
        let root: JSONValue
        do {
            root = try JSONCoding.decoder.decode(JSONValue.self, from: json)
        } catch {
            throw fail("is not JSON (\(JSONCoding.describe(error)))")
        }
        let items: [JSONValue]
        switch root {
        case .array(let list): items = list
        case .object(let members) where Set(members.keys) == ["steps"]:
            guard case .array(let list)? = members["steps"] else { throw fail("\"steps\" must be a list") }
            items = list
        default: throw fail("must be a list of steps or {\"steps\": [...]}")
        }
        guard !items.isEmpty else { throw fail("has no steps") }
        var steps: [Step] = []
        for (index, item) in items.enumerated() {
            do {
                steps.append(try Self.step(item))
            } catch {
                throw fail("step \(index + 1): \(error.message)")
            }
        }
        self.steps = steps
    }

    private static func step(_ item: JSONValue) throws(ConfigurationError) -> Step {
        guard let fields = item.objectValue else { throw problem("must be an object") }
        if let delay = fields["delay"] {
            guard fields.count == 1 else { throw problem("a delay step has only \"delay\"") }
            guard let seconds = number(delay), seconds >= 0, seconds <= 3600 else {
                throw problem("\"delay\" must be a number of seconds from 0 to 3600")
            }
            return .delay(.milliseconds(Int64((seconds * 1000).rounded())))
        }
        if let error = fields["error"] {
            guard fields.count == 1 else { throw problem("an error step has only \"error\"") }
            return .failure(try failure(error))
        }
        let known: Set = ["text", "pieces", "reasoning", "tool_calls", "finish_reason", "usage"]
        if let unknown = fields.keys.sorted().first(where: { !known.contains($0) }) {
            throw problem("unknown key \"\(unknown)\" (known: delay, error, \(known.sorted().joined(separator: ", ")))")
        }
        var pieces: [String] = []
        if let text = fields["text"] {
            guard fields["pieces"] == nil else { throw problem("give \"text\" or \"pieces\", not both") }
            guard let text = text.stringValue else { throw problem("\"text\" must be a string") }
            pieces = [text]
        } else if let list = fields["pieces"] {
            let values: [JSONValue]
            if case .array(let list) = list { values = list } else { values = [] }
            let strings = values.compactMap(\.stringValue)
            guard strings.count == values.count, !strings.isEmpty else {
                throw problem("\"pieces\" must be a non-empty list of strings")
            }
            pieces = strings
        }
        var calls: [ToolCall] = []
        if let list = fields["tool_calls"] {
            guard case .array(let values) = list, !values.isEmpty else {
                throw problem("\"tool_calls\" must be a non-empty list")
            }
            for (index, value) in values.enumerated() {
                guard let name = value["name"]?.stringValue, !name.isEmpty else {
                    throw problem("tool call \(index + 1) needs a \"name\"")
                }
                let arguments: String
                switch value["arguments"] {
                case nil: arguments = "{}"
                case .string(let text)?: arguments = text
                case .object(let object)?: arguments = JSONValue.object(object).jsonText
                default: throw problem("tool call \(index + 1): \"arguments\" must be an object or JSON text")
                }
                calls.append(ToolCall(id: value["id"]?.stringValue, name: name, arguments: arguments))
            }
        }
        guard !pieces.isEmpty || !calls.isEmpty else {
            throw problem("needs \"text\", \"pieces\", \"tool_calls\", \"error\" or \"delay\"")
        }
        let usage = fields["usage"]
        return .answer(
            Answer(
                pieces: pieces, reasoning: fields["reasoning"]?.stringValue, toolCalls: calls,
                finishReason: fields["finish_reason"]?.stringValue,
                inputTokens: usage?["input_tokens"]?.intValue.map(Int.init),
                outputTokens: usage?["output_tokens"]?.intValue.map(Int.init)))
    }

    private static func failure(_ error: JSONValue) throws(ConfigurationError) -> Failure {
        if let kind = error["kind"] {
            switch kind.stringValue {
            case "timeout": return .timeout
            case "transport": return .transport
            case "malformed": return .malformed
            default: throw problem("\"error.kind\" must be timeout, transport or malformed")
            }
        }
        guard let status = error["status"]?.intValue, (400 ... 599).contains(status) else {
            throw problem("\"error\" needs a \"status\" from 400 to 599, or a \"kind\"")
        }
        var retryAfter: Duration?
        if let value = error["retry_after"] {
            guard let seconds = number(value), seconds >= 0 else {
                throw problem("\"error.retry_after\" must be a number of seconds")
            }
            retryAfter = .milliseconds(Int64((seconds * 1000).rounded()))
        }
        return .api(
            status: Int(status), code: error["code"]?.stringValue,
            message: error["message"]?.stringValue ?? "scripted error \(status)", retryAfter: retryAfter)
    }

    private static func number(_ value: JSONValue) -> Double? {
        switch value {
        case .int(let number): return Double(number)
        case .double(let number): return number.isFinite ? number : nil
        default: return nil
        }
    }

    private static func problem(_ message: String) -> ConfigurationError {
        ConfigurationError(variable: "", message: message)
    }
}

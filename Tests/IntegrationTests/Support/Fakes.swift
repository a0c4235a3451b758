import AutonousCore
import Foundation

#if canImport(FoundationNetworking)
import FoundationNetworking
#endif

/// The fake Telegram Bot API and fake OpenAI servers of Tests/Fixtures/fakes.py, on 127.0.0.1 ports of their own.
/// The process ends when this object goes away (its stdin pipe closes) or on `stop()`.
final class Fakes: @unchecked Sendable {
    static let telegramToken = "123456:TEST-token"
    static let openAIKey = "sk-test-key"

    let process = Process()
    let telegramPort: Int
    let openAIPort: Int
    private let stdinPipe = Pipe()

    var telegramURL: String { "http://127.0.0.1:\(telegramPort)" }
    var openAIURL: String { "http://127.0.0.1:\(openAIPort)/v1" }

    init() throws {
        let stdout = Pipe()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        process.arguments = ["python3", TestPaths.fixture("fakes.py")]
        process.standardInput = stdinPipe
        process.standardOutput = stdout
        try process.run()
        var line = Data()
        let handle = stdout.fileHandleForReading
        while !line.contains(UInt8(ascii: "\n")) {
            let chunk = handle.availableData
            if chunk.isEmpty { break }
            line.append(chunk)
        }
        guard let ports = try? JSONDecoder().decode([String: Int].self, from: line),
            let telegram = ports["telegram"], let openAI = ports["openai"]
        else {
            process.terminate()
            throw AutonousError(
                .unavailable, "fakes.py did not print its ports: \(String(decoding: line, as: UTF8.self))")
        }
        telegramPort = telegram
        openAIPort = openAI
    }

    deinit {
        stop()
    }

    /// SIGTERM, then SIGKILL if it is still there after five seconds.
    func stop() {
        guard process.isRunning else { return }
        process.terminate()
        let deadline = ContinuousClock.now + .seconds(5)
        while process.isRunning && ContinuousClock.now < deadline { usleep(20_000) }
        if process.isRunning {
            kill(process.processIdentifier, SIGKILL)
            process.waitUntilExit()
        }
    }

    // MARK: HTTP to the control endpoints

    @discardableResult
    func request(port: Int, _ method: String, _ path: String, _ body: JSONValue? = nil, timeout: Double = 130)
        async throws -> JSONValue
    {
        guard let url = URL(string: "http://127.0.0.1:\(port)\(path)") else {
            throw AutonousError(.invalidArgument, "bad fake path \(path)")
        }
        var request = URLRequest(url: url)
        request.httpMethod = method
        request.timeoutInterval = timeout
        if let body {
            request.httpBody = Data(body.jsonText.utf8)
            request.setValue("application/json", forHTTPHeaderField: "Content-Type")
        }
        let (data, _) = try await URLSession.shared.data(for: request)
        return try JSONDecoder().decode(JSONValue.self, from: data)
    }

    /// Enqueues a text message from `from` in chat `chat` (default: the private chat with that user).
    @discardableResult
    func sendUserMessage(from: Int64, chat: Int64? = nil, text: String) async throws -> JSONValue {
        try await request(
            port: telegramPort, "POST", "/_fake/message",
            .object(["from_id": .int(from), "chat_id": .int(chat ?? from), "text": .string(text)]))
    }

    /// Presses an inline button: a callback query from `from` with `data` (on the bot's last message in that chat).
    @discardableResult
    func pressButton(from: Int64, data: String) async throws -> JSONValue {
        try await request(
            port: telegramPort, "POST", "/_fake/callback", .object(["from_id": .int(from), "data": .string(data)]))
    }

    /// The bot's answerCallbackQuery calls, in order.
    func callbackAnswers() async throws -> [JSONValue] {
        guard case .array(let list) = try await request(port: telegramPort, "GET", "/_fake/callback_answers")
        else { return [] }
        return list
    }

    /// Waits until the fake Telegram has `count` items of `what` (sent, edited, callback_answers, requests).
    func waitForTelegram(_ what: String, count: Int, timeout: Int = 60) async throws -> Bool {
        let reply = try await request(
            port: telegramPort, "POST", "/_fake/wait",
            .object(["what": .string(what), "count": .int(Int64(count)), "timeout": .int(Int64(timeout))]))
        return reply["ok"] == .bool(true)
    }

    /// Requests the fake OpenAI server recorded for one path (any path, not only chat completions).
    func openAIRequests(path: String) async throws -> [JSONValue] {
        guard case .array(let list) = try await request(port: openAIPort, "GET", "/_fake/requests?path=\(path)")
        else { return [] }
        return list
    }

    /// Queues faults for a Bot API method (each call pops one).
    func scriptTelegram(_ method: String, _ faults: [JSONValue]) async throws {
        try await request(
            port: telegramPort, "POST", "/_fake/script", .object(["method": .string(method), "faults": .array(faults)]))
    }

    /// A scripted chat-completions answer that asks for `calls` (id, tool name, arguments), with `extra` entry keys
    /// (`usage`, `content` …).
    static func toolCallAnswer(
        _ calls: [(id: String, name: String, arguments: [String: JSONValue])], extra: [String: JSONValue] = [:]
    ) -> JSONValue {
        var entry = extra
        entry["tool_calls"] = .array(
            calls.map { .object(["id": .string($0.id), "name": .string($0.name), "arguments": .object($0.arguments)]) })
        return .object(entry)
    }

    /// Queues chat-completions responses (each call pops one).
    func scriptOpenAI(_ responses: [JSONValue]) async throws {
        try await request(port: openAIPort, "POST", "/_fake/script", .object(["responses": .array(responses)]))
    }

    /// Lets one chat completion scripted with `"hold": true` answer (the oldest held one).
    func releaseHeldModelAnswer() async throws {
        try await request(port: openAIPort, "POST", "/_fake/release", .object([:]))
    }

    /// The messages the bot sent, in order.
    func sentMessages() async throws -> [JSONValue] {
        guard case .array(let list) = try await request(port: telegramPort, "GET", "/_fake/sent") else { return [] }
        return list
    }

    /// One of the fake Telegram's lists: `sent`, `edited`, `drafts`, `callback_answers`, `pending`.
    func telegramList(_ name: String) async throws -> [JSONValue] {
        try await request(port: telegramPort, "GET", "/_fake/\(name)").arrayValue ?? []
    }

    /// Recorded Bot API calls of one method.
    func telegramRequests(_ method: String) async throws -> [JSONValue] {
        guard case .array(let list) = try await request(port: telegramPort, "GET", "/_fake/requests?method=\(method)")
        else { return [] }
        return list
    }

    /// Recorded chat-completions requests.
    func openAIRequests() async throws -> [JSONValue] {
        guard case .array(let list) = try await request(port: openAIPort, "GET", "/_fake/requests") else { return [] }
        return list
    }

    /// Waits until the bot has sent `count` messages.
    func waitForSent(_ count: Int, timeout: Int = 60) async throws -> Bool {
        let reply = try await request(
            port: telegramPort, "POST", "/_fake/wait",
            .object(["what": .string("sent"), "count": .int(Int64(count)), "timeout": .int(Int64(timeout))]))
        return reply["ok"] == .bool(true)
    }

    /// Waits until `count` chat-completions requests arrived.
    func waitForModelRequests(_ count: Int, timeout: Int = 60) async throws -> Bool {
        let reply = try await request(
            port: openAIPort, "POST", "/_fake/wait",
            .object(["count": .int(Int64(count)), "timeout": .int(Int64(timeout))]))
        return reply["ok"] == .bool(true)
    }
}

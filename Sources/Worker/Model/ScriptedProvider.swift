import AutonousCore
import Foundation
import Synchronization

/// Replays a `ModelScript`: each call takes any delay steps, then the next answer or error. For tests and the
/// offline demo (`AUTONOUS_MODEL_PROVIDER=scripted`).
///
/// An answer's pieces go to `onText` one by one, as a stream would deliver them. Calls made at once take their
/// steps in the order they ask; once the script has run out every call fails with a fatal error naming the script.
final class ScriptedProvider: ModelProvider {
    let name = "scripted"
    let model: String
    let script: ModelScript
    /// Where the script came from, for the error that says it ran out.
    let source: String
    private let clock: any Clock<Duration>
    private let cursor = Mutex(0)

    init(
        script: ModelScript, model: String = "scripted", source: String, clock: any Clock<Duration> = ContinuousClock()
    ) {
        self.script = script
        self.model = model
        self.source = source
        self.clock = clock
    }

    /// Steps not yet taken.
    var remainingSteps: Int { script.steps.count - cursor.withLock { $0 } }

    func complete(
        _ messages: [ChatMessage], tools: [JSONValue], onText: @escaping @Sendable (String) async -> Void
    ) async throws(ModelError) -> ChatCompletion {
        let (delays, step, number) = takeCall()
        for delay in delays {
            do {
                try await clock.sleep(for: delay)
            } catch {
                throw .transport(.cancelled)
            }
        }
        guard let step else {
            throw .misconfigured("the model script \(source) has run out (it has \(script.steps.count) steps)")
        }
        switch step {
        case .failure(.api(let status, let code, let message, let retryAfter)):
            throw .api(status: status, message: message, code: code, retryAfter: retryAfter)
        case .failure(.timeout): throw .transport(.timedOut)
        case .failure(.transport): throw .transport(.connectionFailed("scripted connection failure"))
        case .failure(.malformed): throw .malformed("scripted malformed answer")
        case .delay: throw .misconfigured("the model script \(source) ends with a delay")
        case .answer(let answer):
            for piece in answer.pieces where !piece.isEmpty { await onText(piece) }
            let calls = answer.toolCalls.enumerated().map { index, call in
                ToolCall(
                    id: call.id ?? "call_scripted_\(number)_\(index + 1)", name: call.name, arguments: call.arguments)
            }
            var completion = ChatCompletion(
                content: answer.text, toolCalls: calls,
                finishReason: answer.finishReason ?? (calls.isEmpty ? "stop" : "tool_calls"),
                inputTokens: answer.inputTokens ?? Self.estimateTokens(messages.map { $0.content ?? "" }.joined()),
                outputTokens: answer.outputTokens
                    ?? Self.estimateTokens(answer.text + calls.map { $0.name + $0.arguments }.joined()),
                cachedTokens: 0, httpStatus: 200)
            completion.reasoningContent = answer.reasoning
            completion.streamed = answer.pieces.count > 1
            return completion
        }
    }

    /// Takes, under the lock, the delays before the next answer or error and that step with its number (from 1);
    /// the step is nil when the script has run out.
    private func takeCall() -> (delays: [Duration], step: ModelScript.Step?, number: Int) {
        cursor.withLock { cursor in
            var delays: [Duration] = []
            while cursor < script.steps.count {
                let step = script.steps[cursor]
                cursor += 1
                if case .delay(let delay) = step {
                    delays.append(delay)
                } else {
                    return (delays, step, cursor)
                }
            }
            return (delays, nil, cursor)
        }
    }

    /// About four characters a token, at least one.
    private static func estimateTokens(_ text: String) -> Int { max(1, text.utf8.count / 4) }
}

import ArgumentParser
import AutonousCore
import Foundation

/// `autonousctl trace RUN`: one agent run as a tree.
struct TraceCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "trace",
        abstract: "Show one agent run as a tree: turns, model calls, tool calls and approvals.",
        discussion: """
            The first line sums the run up: id, conversation, status/stop reason, turns, tokens (input, output, \
            cached, reasoning), cost, duration and provider/model. Under it each turn shows its model call \
            (latency, time to first token, tokens, outcome) and its tool calls (tier, outcome, duration), and each \
            tool call the approvals it waited for. autonousctl runs lists the run ids; --json prints the same tree.
            """)

    @Argument(help: "The run id (autonousctl runs lists them).") var id: String
    @OptionGroup var options: GlobalOptions

    func validate() throws {
        guard !id.isEmpty, id.utf8.count <= 256 else { throw ValidationError("a run id is 1 to 256 bytes long") }
    }

    func run() throws {
        let response = try callControl(options) { client in
            try client.call(
                "io.autonous.Control.TraceRun", ControlInterface.TraceRunRequest(id: id),
                as: ControlInterface.TraceRunResponse.self)
        }
        print(
            options.json
                ? prettyJSON(response.trace)
                : Self.render(response.trace, nowMs: Int64(Date().timeIntervalSince1970 * 1000)))
    }

    /// The header line, then the turns as a tree drawn with box characters.
    static func render(_ trace: RunTrace, nowMs: Int64) -> String {
        var lines = [header(trace.run, nowMs: nowMs)]
        for (index, turn) in trace.turns.enumerated() {
            let lastTurn = index == trace.turns.count - 1
            lines.append((lastTurn ? "└─ " : "├─ ") + describe(turn, nowMs: nowMs))
            let indent = lastTurn ? "   " : "│  "
            var children: [(String, [String])] = []
            if let call = turn.modelCall { children.append((describe(call), [])) }
            for tool in turn.toolCalls {
                children.append((describe(tool), tool.approvals.map(describe)))
            }
            for (position, child) in children.enumerated() {
                let lastChild = position == children.count - 1
                lines.append(indent + (lastChild ? "└─ " : "├─ ") + child.0)
                let inner = indent + (lastChild ? "   " : "│  ")
                for (number, approval) in child.1.enumerated() {
                    lines.append(inner + (number == child.1.count - 1 ? "└─ " : "├─ ") + approval)
                }
            }
        }
        if trace.turns.isEmpty { lines.append("└─ no turns") }
        return lines.joined(separator: "\n")
    }

    /// `run ID  conversation C  status/stop  N turns  tokens in … out … cached … reasoning …  cost $…  took …
    /// provider/model`.
    static func header(_ run: RunRecord, nowMs: Int64) -> String {
        var parts = [
            "run \(run.id)", "conversation \(run.conversationID)", RunFormat.status(run),
            "\(run.turns) turn\(run.turns == 1 ? "" : "s")",
            "tokens "
                + RunFormat.tokens(
                    input: run.inputTokens, output: run.outputTokens, cached: run.cachedTokens,
                    reasoning: run.reasoningTokens),
            "cost \(RunFormat.dollars(run.costUSD))",
            (run.endedMs == nil ? "running for " : "took ") + RunFormat.milliseconds(run.durationMs(nowMs: nowMs)),
            "\(run.provider ?? "-")/\(run.model ?? "-")",
        ]
        if let error = run.error { parts.append("error: \(truncated(error, to: 120))") }
        return parts.joined(separator: "  ")
    }

    static func describe(_ turn: RunTrace.Turn, nowMs: Int64) -> String {
        var text = "turn \(turn.turn)  \(turn.outcome)"
        if let reason = turn.stopReason { text += " (\(reason))" }
        return text + "  " + RunFormat.milliseconds(max(0, (turn.endedMs ?? nowMs) - turn.startedMs))
    }

    static func describe(_ call: RunTrace.ModelCall) -> String {
        var parts = ["model \(call.status)", RunFormat.milliseconds(call.latencyMs)]
        if let first = call.timeToFirstTokenMs { parts.append("first token \(RunFormat.milliseconds(first))") }
        if call.retries > 0 { parts.append("\(call.retries) retr\(call.retries == 1 ? "y" : "ies")") }
        if call.streamed { parts.append("streamed") }
        parts.append(
            "tokens "
                + RunFormat.tokens(
                    input: call.inputTokens, output: call.outputTokens, cached: call.cachedTokens,
                    reasoning: call.reasoningTokens))
        if let finish = call.finishReason { parts.append("finish \(finish)") }
        if call.status != "ok" {
            let http = call.httpStatus.map { ", HTTP \($0)" } ?? ""
            parts.append("\(call.errorClass ?? "error")\(http): \(truncated(call.error ?? "-", to: 120))")
        }
        return parts.joined(separator: "  ")
    }

    static func describe(_ tool: RunTrace.ToolCall) -> String {
        var parts = ["tool \(tool.tool)" + (tool.tier.map { " [\($0)]" } ?? ""), tool.outcome]
        if let duration = tool.durationMs { parts.append(RunFormat.milliseconds(duration)) }
        if let error = tool.error, tool.outcome != "ok" { parts.append(truncated(error, to: 100)) }
        return parts.joined(separator: "  ")
    }

    static func describe(_ approval: RunTrace.Approval) -> String {
        var text = "approval \(approval.id)  \(approval.status)"
        if let by = approval.decidedBy { text += " by \(by)" }
        if let via = approval.decidedVia { text += " via \(via)" }
        if let decided = approval.decidedMs {
            text += "  after \(RunFormat.milliseconds(max(0, decided - approval.requestedMs)))"
        }
        return text
    }
}

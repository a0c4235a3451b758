import AutonousCore
import Foundation

/// One tool call of an iteration and what it returned, as the no-progress rule compares them.
struct ToolStep: Sendable, Hashable {
    /// The tool's name.
    var name: String
    /// The arguments as canonical JSON (sorted keys, compact), so `{"a":1,"b":2}` and `{"b": 2, "a": 1}` are one.
    var arguments: String
    /// The SHA-256 of the result text the model reads.
    var resultDigest: String

    /// A step from the arguments text the model sent (kept as written when it is not JSON) and the result text.
    init(name: String, arguments: String, result: String) {
        self.name = name
        if let value = try? JSONValue(parsing: arguments) {
            self.arguments = value.jsonText
        } else {
            self.arguments = arguments
        }
        resultDigest = SHA256.hex(Array(result.utf8))
    }
}

/// Stops a run that goes round in circles.
///
/// An iteration is one model answer that asked for tools, together with those tools' results. An iteration
/// *repeats* the one before it when both made the same tool calls (name and canonical JSON arguments) and got the
/// same results, as multisets: order does not matter, counts do (two identical `ls` calls differ from one). The
/// run has stalled when `limit` iterations in a row are the same (with the default 3: the same calls and results
/// three times, which is two repeats). An iteration without tool calls is an answer, not a step, and starts the
/// count again; so does any iteration that differs from the one before it.
struct NoProgressDetector: Sendable {
    /// Identical iterations in a row that mean the run has stalled (at least 2).
    let limit: Int
    private var previous: [ToolStep]?
    /// Identical iterations in a row so far, the latest included (0 before the first iteration with tools).
    private(set) var streak = 0

    init(limit: Int) {
        self.limit = max(2, limit)
    }

    /// Records one iteration; true when it makes the run stalled.
    mutating func record(_ steps: [ToolStep]) -> Bool {
        guard !steps.isEmpty else {
            previous = nil
            streak = 0
            return false
        }
        let sorted = steps.sorted {
            ($0.name, $0.arguments, $0.resultDigest) < ($1.name, $1.arguments, $1.resultDigest)
        }
        streak = sorted == previous ? streak + 1 : 1
        previous = sorted
        return streak >= limit
    }
}

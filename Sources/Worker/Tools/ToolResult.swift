import AutonousCore
import Foundation

/// The risk tier a tool runs under (ARCHITECTURE.md, "Risk tiers").
enum ToolTier: String, Codable, Sendable, CaseIterable {
    case read, write, exec, network
}

/// The result envelope every tool call returns to the model, whatever the tool.
struct ToolResult: Codable, Sendable, Equatable {
    var ok: Bool
    var exitCode: Int?
    var stdout: String
    var stderr: String
    var stdoutTruncated: Bool
    var stderrTruncated: Bool
    var durationMs: Int64
    var tier: ToolTier
    /// For paged tools: where the next page starts, and whether there is one.
    var nextOffset: Int?
    var hasMore: Bool?

    enum CodingKeys: String, CodingKey {
        case ok
        case exitCode = "exit_code"
        case stdout, stderr
        case stdoutTruncated = "stdout_truncated"
        case stderrTruncated = "stderr_truncated"
        case durationMs = "duration_ms"
        case tier
        case nextOffset = "next_offset"
        case hasMore = "has_more"
    }

    /// The envelope as the JSON text the model reads: what `JSONCoding.encoder` writes for it (sorted keys, nil
    /// fields left out), built directly, since every tool call writes it twice (ToolResultTextTests compares).
    var jsonText: String {
        var object: [String: JSONValue] = [
            "ok": .bool(ok), "stdout": .string(stdout), "stderr": .string(stderr),
            "stdout_truncated": .bool(stdoutTruncated), "stderr_truncated": .bool(stderrTruncated),
            "duration_ms": .int(durationMs), "tier": .string(tier.rawValue),
        ]
        if let exitCode { object["exit_code"] = .int(Int64(exitCode)) }
        if let nextOffset { object["next_offset"] = .int(Int64(nextOffset)) }
        if let hasMore { object["has_more"] = .bool(hasMore) }
        return JSONValue.object(object).jsonText
    }

    /// A failed call with a message the model can act on.
    static func failure(_ message: String, tier: ToolTier, durationMs: Int64 = 0) -> ToolResult {
        ToolResult(
            ok: false, exitCode: nil, stdout: "", stderr: message, stdoutTruncated: false, stderrTruncated: false,
            durationMs: durationMs, tier: tier, nextOffset: nil, hasMore: nil)
    }
}

/// Measures a tool call's duration for the envelope.
struct Stopwatch {
    private let started = ContinuousClock.now

    /// Whole milliseconds since the stopwatch was made.
    var milliseconds: Int64 { (ContinuousClock.now - started).wholeMilliseconds }
}

/// Caps newline-terminated lines at `limit` UTF-8 bytes, keeping whole lines only, so a paged tool's next page
/// starts exactly at the first line not shown. Returns the text, whether it cut, and how many lines it kept.
func cappedLines(_ text: String, limit: Int) -> (text: String, truncated: Bool, lines: Int) {
    var (output, truncated) = capped(text, limit: limit)
    if truncated {
        if let lastNewline = output.lastIndex(of: "\n") {
            output = String(output[...lastNewline])
        } else {
            output = ""
        }
    }
    return (output, truncated, output.filter { $0 == "\n" }.count)
}

/// Caps text at `limit` UTF-8 bytes without cutting a character; says whether it cut.
func capped(_ text: String, limit: Int) -> (text: String, truncated: Bool) {
    guard text.utf8.count > limit else { return (text, false) }
    var result = ""
    var used = 0
    for character in text {
        let size = character.utf8.count
        if used + size > limit { break }
        result.append(character)
        used += size
    }
    return (result, true)
}

/// Why a tool's arguments were rejected: which field, and what was expected.
struct ToolArgumentError: Error, Equatable, CustomStringConvertible {
    let tool: String
    let message: String

    var description: String { "invalid arguments for \(tool): \(message)" }

    /// Decodes the model's JSON arguments into `T`, turning any mismatch into a sentence naming the field.
    static func decode<T: Decodable>(_ type: T.Type, tool: String, from json: String) throws -> T {
        guard let data = json.data(using: .utf8), !json.trimmingCharacters(in: .whitespaces).isEmpty else {
            throw ToolArgumentError(tool: tool, message: "the arguments are empty; send a JSON object")
        }
        do {
            return try JSONDecoder().decode(type, from: data)
        } catch let error as DecodingError {
            throw ToolArgumentError(tool: tool, message: JSONCoding.describe(error))
        }
    }
}

import AutonousCore
import Foundation
import Testing

@testable import Worker

/// `ToolResult.jsonText` is what the model reads and what no-progress detection compares; it replaced encoding the
/// envelope with `JSONCoding.encoder` and must stay byte for byte what that wrote.
@Suite struct ToolResultTextTests {
    @Test func theEnvelopeIsWrittenAsTheEncoderWritesIt() throws {
        let results = [
            ToolResult.failure("no tools are enabled", tier: .read),
            ToolResult(
                ok: true, exitCode: 0, stdout: "a/b.txt:3: needle \"quoted\"\n\ttab\u{1}", stderr: "",
                stdoutTruncated: true, stderrTruncated: false, durationMs: 12, tier: .exec, nextOffset: 4096,
                hasMore: true),
            ToolResult(
                ok: false, exitCode: 127, stdout: "", stderr: "é 中 🦀 /path", stdoutTruncated: false,
                stderrTruncated: true, durationMs: 30_001, tier: .network, nextOffset: nil, hasMore: false),
            ToolResult(
                ok: true, exitCode: nil, stdout: String(repeating: "x", count: 5000), stderr: "",
                stdoutTruncated: false, stderrTruncated: false, durationMs: 0, tier: .write, nextOffset: 0,
                hasMore: nil),
        ]
        for result in results {
            let encoded = String(decoding: try JSONCoding.encoder.encode(result), as: UTF8.self)
            #expect(result.jsonText == encoded)
        }
    }
}

import Foundation
import Testing

@testable import AutonousCore

/// `JSONValue.jsonText` is written directly, and approvals hash its bytes: it must stay byte for byte what
/// `JSONCoding.encoder` writes, which it replaced.
@Suite struct JSONValueTextTests {
    /// What the encoder writes, or "null" when it refuses the value (what `jsonText` wrote before).
    static func encoderText(_ value: JSONValue) -> String {
        guard let data = try? JSONCoding.encoder.encode(value) else { return "null" }
        return String(decoding: data, as: UTF8.self)
    }

    @Test func everyControlCharacterAndEscapeIsWrittenAsTheEncoderWritesIt() {
        for scalar in 0 ..< 0x80 {
            let value = JSONValue.string("a\(Character(Unicode.Scalar(UInt8(scalar))))b")
            #expect(value.jsonText == Self.encoderText(value), "U+\(String(scalar, radix: 16))")
        }
        for text in ["", "/path/to/file", "quote \" and \\ backslash", "é ü 中文 🦀 \u{2028}\u{2029}", "\u{7F}\u{FEFF}"] {
            #expect(JSONValue.string(text).jsonText == Self.encoderText(.string(text)))
        }
    }

    @Test func keysAreSortedByTheirBytesAsTheEncoderSortsThem() {
        let keys = ["b", "a", "B", "A", "a10", "a9", "_", "é", "e", "z", "", "aa", "a", "🦀", "Z1", "ß"]
        let object = JSONValue.object(Dictionary(keys.map { ($0, .string($0)) }, uniquingKeysWith: { a, _ in a }))
        #expect(object.jsonText == Self.encoderText(object))
    }

    @Test func numbersAreWrittenAsTheEncoderWritesThem() async throws {
        var doubles: [Double] = [
            0, -0.0, 1, -1, 0.5, 1.5, 100, 1e-7, 1e-5, 0.1, 0.2, 1 / 3, 123_456_789.125, 1e15, 1e16, 1e17, 1e21,
            1e22, 1.7976931348623157e308, 5e-324, 2.2250738585072014e-308, -123.456, 9_007_199_254_740_993,
        ]
        var generator = SystemRandomNumberGenerator()
        for _ in 0 ..< 2000 {
            let bits = generator.next() as UInt64
            let value = Double(bitPattern: bits)
            if value.isFinite { doubles.append(value) }
            doubles.append(Double(Int64.random(in: -1_000_000 ... 1_000_000)) / 100)
        }
        let values = doubles
        // On a thread of its own: thousands of encodes keep a debug build busy, and the concurrency pool's two
        // threads must stay free for the suites running at the same time.
        let mismatches = try await onOwnThread { () -> [Double] in
            values.filter { JSONValue.double($0).jsonText != Self.encoderText(.double($0)) }
        }
        #expect(mismatches.isEmpty, "\(mismatches.prefix(5))")
        for number in [Int64.min, -1, 0, 1, 42, Int64.max] {
            #expect(JSONValue.int(number).jsonText == Self.encoderText(.int(number)))
        }
    }

    @Test func aValueTheEncoderRefusesIsNull() {
        for number in [Double.nan, .infinity, -.infinity] {
            let value = JSONValue.object(["ok": .int(1), "bad": .array([.double(number)])])
            #expect(value.jsonText == "null")
            #expect(Self.encoderText(value) == "null")
        }
    }

    @Test func nestingIsWrittenOrRefusedAtTheEncodersDepth() async throws {
        let mismatches = try await onOwnThread { () -> [Int] in
            [1, 2, 100, 511, 512, 513].filter { depth in
                var value = JSONValue.int(1)
                for level in 0 ..< depth { value = level % 2 == 0 ? .array([value]) : .object(["k": value]) }
                return value.jsonText != Self.encoderText(value)
            }
        }
        #expect(mismatches.isEmpty, "depths \(mismatches)")
    }

    @Test func mixedPayloadsMatchTheEncoder() {
        let payload = JSONValue.object([
            "tool": .string("bash"), "arguments": .object(["command": .string("ls -la /tmp && echo \"done\"\n")]),
            "nested": .array([.null, .bool(true), .bool(false), .int(-3), .double(2.5), .array([]), .object([:])]),
            "url": .string("https://example.org/a/b?c=d&e=f"),
        ])
        #expect(payload.jsonText == Self.encoderText(payload))
        // And it reads back as the same value.
        let decoded = try? JSONCoding.decoder.decode(JSONValue.self, from: Data(payload.jsonText.utf8))
        #expect(decoded == payload)
    }
}

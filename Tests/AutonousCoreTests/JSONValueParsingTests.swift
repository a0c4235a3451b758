import Foundation
import Testing

@testable import AutonousCore

/// `JSONValue(parsing:)` replaced `JSONCoding.decoder.decode(JSONValue.self, from:)`: it must accept what the
/// decoder accepts, refuse what it refuses, and give the same value.
@Suite struct JSONValueParsingTests {
    static func decoded(_ text: String) -> JSONValue? {
        try? JSONCoding.decoder.decode(JSONValue.self, from: Data(text.utf8))
    }

    static let valid = [
        "null", "true", "false", "0", "-0", "1", "-1", "42", "1.0", "-1.5", "1e2", "1E+2", "1e-2", "0.1", "-0.0",
        "9223372036854775807", "-9223372036854775808", "9223372036854775808", "-9223372036854775809",
        "123456789012345678901234567890", "1.7976931348623157e308", "5e-324", "1e-400", "100000000000000000000.0",
        #""""#, #""plain""#, #""a\"b\\c\/d\b\f\n\r\t""#, #""\u0041\u00e9\u4e2d\ud83e\udd80""#, #""é 中 🦀""#,
        "[]", "{}", "[1,2,3]", #"{"a":1,"b":[true,false,null],"c":{"d":"e"}}"#,
        " \t\n\r{ \"spaced\" : [ 1 , 2 ] } \n", #"{"dup":1,"dup":2}"#, #"[[[[[]]]]]"#,
        #"{"ok":true,"result":[{"update_id":1,"message":{"text":"hi","chat":{"id":-100123}}}]}"#,
        // The decoder allows a trailing comma and a leading byte order mark.
        "[1,]", "{\"a\":1,}", "\u{FEFF}1",
    ]

    static let invalid = [
        "", " ", "nul", "tru", "True", "01", "-", "1.", ".5", "1e", "1e+", "+1", "0x10", "NaN", "Infinity", "1e400",
        #""unterminated"#, "\"tab\there\"", #""\x""#, #""\u12""#, #""\ud83e""#, #""\udd80""#, #""\ud83e\u0041""#,
        "[,1]", "[1,,]", "{,}", "[,]", "{\"a\" 1}", "{a:1}", "[1 2]", "{\"a\":1}}", "[1]]", "1 2", "\u{FEFF}\u{FEFF}1",
        "// comment\n1", "[1,/*x*/2]", "'single'",
    ]

    @Test(arguments: valid)
    func validTextGivesTheDecodersValue(_ text: String) throws {
        let expected = try #require(Self.decoded(text), "the decoder refused \(text)")
        #expect(try JSONValue(parsing: text) == expected, "\(text)")
        #expect(try JSONValue(parsing: Data(text.utf8)) == expected, "\(text)")
    }

    @Test(arguments: invalid)
    func invalidTextIsRefusedAsTheDecoderRefusesIt(_ text: String) {
        #expect(Self.decoded(text) == nil, "the decoder accepted \(text)")
        #expect(throws: JSONParseError.self, "\(text)") { try JSONValue(parsing: text) }
    }

    @Test func invalidUTF8IsRefused() {
        for bytes: [UInt8] in [[0x22, 0xFF, 0x22], [0x22, 0xC3, 0x22], [0x22, 0xED, 0xA0, 0x80, 0x22]] {
            #expect(throws: JSONParseError.self) { try JSONValue(parsing: bytes) }
            #expect((try? JSONCoding.decoder.decode(JSONValue.self, from: Data(bytes))) == nil)
        }
    }

    /// The decoder accepts 512 levels of nesting and refuses 513 (compared once with the decoder itself, which
    /// needs seconds of CPU for that depth in a debug build: every unit suite shares the process's two cores);
    /// shallow nesting is still compared.
    @Test func nestingIsAcceptedAndRefusedAtTheDecodersDepth() throws {
        func nested(_ depth: Int) -> String {
            String(repeating: "[", count: depth) + String(repeating: "]", count: depth)
        }
        for depth in [1, 2, 50] {
            #expect(try JSONValue(parsing: nested(depth)) == Self.decoded(nested(depth)), "depth \(depth)")
        }
        #expect((try? JSONValue(parsing: nested(512))) != nil)
        #expect(throws: JSONParseError.self) { try JSONValue(parsing: nested(513)) }
    }

    @Test func whatJSONTextWritesParsesBackToTheSameValue() async throws {
        var generator = SystemRandomNumberGenerator()
        func random(_ depth: Int) -> JSONValue {
            switch Int.random(in: 0 ..< (depth > 3 ? 5 : 7), using: &generator) {
            case 0: return .null
            case 1: return .bool(Bool.random(using: &generator))
            case 2: return .int(Int64.random(in: .min ... .max, using: &generator))
            case 3: return .double(Double.random(in: -1e6 ... 1e6, using: &generator))
            case 4:
                let scalars = (0 ..< Int.random(in: 0 ..< 12, using: &generator)).map { _ in
                    Unicode.Scalar(UInt32.random(in: 0 ..< 0xD800, using: &generator)) ?? "x"
                }
                return .string(String(String.UnicodeScalarView(scalars)))
            case 5: return .array((0 ..< Int.random(in: 0 ..< 4, using: &generator)).map { _ in random(depth + 1) })
            default:
                return .object(
                    Dictionary(
                        (0 ..< Int.random(in: 0 ..< 4, using: &generator)).map { ("k\($0)", random(depth + 1)) },
                        uniquingKeysWith: { a, _ in a }))
            }
        }
        let texts = (0 ..< 500).map { _ in random(0).jsonText }
        // On a thread of its own, like the nesting test: 500 decodes keep a debug build busy for a while.
        let mismatches = try await onOwnThread { () -> [String] in
            texts.filter { text in (try? JSONValue(parsing: text)) != Self.decoded(text) }
        }
        #expect(mismatches.isEmpty, "\(mismatches.prefix(3))")
    }
}

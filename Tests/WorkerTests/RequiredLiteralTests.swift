import Testing

@testable import Worker

@Suite struct RequiredLiteralTests {
    /// A literal as text, for comparing.
    struct Found: Equatable {
        let text: String
        let whole: Bool
    }

    private func literal(_ pattern: String) -> Found? {
        RequiredLiteral(regex: pattern).map {
            Found(text: String(decoding: $0.bytes, as: UTF8.self), whole: $0.isWholePattern)
        }
    }

    @Test func aPatternOfPlainCharactersIsItsOwnLiteral() {
        #expect(literal("TODO") == Found(text: "TODO", whole: true))
        #expect(literal("TODO\\(needle\\)") == Found(text: "TODO(needle)", whole: true))
        #expect(literal("a\\.b\\_c d") == Found(text: "a.b_c d", whole: true))
    }

    @Test func theLongestRunOutsideQuantifiersGroupsAndClassesIsTaken() {
        #expect(literal("func \\w+\\(") == Found(text: "func ", whole: false))
        #expect(literal("colou?r") == Found(text: "colo", whole: false))
        #expect(literal("ab*cd") == Found(text: "cd", whole: false))
        #expect(literal("xy+z") == Found(text: "xy", whole: false))
        #expect(literal("a{2}bc") == Found(text: "bc", whole: false))
        #expect(literal("^import Foundation$") == Found(text: "import Foundation", whole: false))
        #expect(literal("(optional)?required") == Found(text: "required", whole: false))
        #expect(literal("[A-Z]\\w*Error") == Found(text: "Error", whole: false))
        #expect(literal("[[:alpha:]]x[a-z&&[^q]]yz") == Found(text: "yz", whole: false))
        #expect(literal("caf\u{E9}s") == Found(text: "caf", whole: false))
    }

    @Test func whatTheReaderDoesNotFollowGivesNoLiteral() {
        #expect(literal("TODO|FIXME") == nil)
        #expect(literal("(?i)todo") == nil)
        #expect(literal("(?x) t o d o") == nil)
        #expect(literal("\\Qa.b\\E") == nil)
        #expect(literal("\\x41BC") == nil)
        #expect(literal("\\p{L}abc") == nil)
        #expect(literal("[]a]bc") == nil)
        #expect(literal("\\d+") == nil)
        #expect(literal(".*") == nil)
    }
}

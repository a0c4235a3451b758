import Foundation

/// Decides whether a line matches grep's pattern. A byte search for a literal settles most lines; the lines it
/// cannot settle are decoded and given the full test grep has always used: `range(of:options:)` for a fixed string
/// (which sees canonical equivalents, so "K" matches the Kelvin sign, and folds case beyond ASCII) and
/// NSRegularExpression for a pattern.
struct LineMatcher {
    /// Bytes every matching line contains, lowercased ASCII when `foldsCase`; empty when there are none to rely on.
    let literal: [UInt8]
    /// True when `literal` is to be looked for in the line with its ASCII letters lowercased.
    let foldsCase: Bool
    /// True when, on a line the bytes may settle, containing `literal` is the whole test.
    let literalDecides: Bool
    /// True when a line with a non-ASCII byte always goes to the full test, its bytes being no guide.
    let fullTestForNonASCII: Bool
    private let fullTest: (String) -> Bool

    /// The matcher for grep's arguments; nil when the pattern is meant as a regular expression and
    /// NSRegularExpression does not accept it.
    init?(pattern: String, fixedString: Bool, ignoreCase: Bool) {
        foldsCase = ignoreCase
        if fixedString {
            let options: String.CompareOptions = ignoreCase ? [.caseInsensitive] : []
            fullTest = { $0.range(of: pattern, options: options) != nil }
            let ascii = pattern.utf8.allSatisfy { $0 < 0x80 }
            literal = ascii ? Self.prepared(Array(pattern.utf8), foldsCase: ignoreCase) : []
            literalDecides = true
            fullTestForNonASCII = true
        } else {
            guard
                let regex = try? NSRegularExpression(
                    pattern: pattern, options: ignoreCase ? [.caseInsensitive] : [])
            else { return nil }
            fullTest = { text in regex.firstMatch(in: text, range: NSRange(text.startIndex..., in: text)) != nil }
            let required = RequiredLiteral(regex: pattern)
            literal = required.map { Self.prepared($0.bytes, foldsCase: ignoreCase) } ?? []
            literalDecides = required?.isWholePattern ?? false
            // Without case folding ICU compares code points, and an ASCII byte in UTF-8 is always that character
            // (never part of another, and kept as is where invalid bytes decode to U+FFFD): the bytes are a guide on
            // every line. With it, the Kelvin sign matches "k" and "ß" matches "ss": only ASCII lines are settled.
            fullTestForNonASCII = ignoreCase
        }
    }

    /// True when `line` (its text, without the line ending) matches; `searchable` holds the same bytes, with ASCII
    /// letters lowercased when `foldsCase`.
    func matches(_ line: UnsafeBufferPointer<UInt8>, searchable: UnsafeBufferPointer<UInt8>) -> Bool {
        if !literal.isEmpty, !fullTestForNonASCII || ByteScan.isASCII(line) {
            guard ByteScan.firstIndex(of: literal, in: searchable) != nil else { return false }
            if literalDecides { return true }
        }
        return fullTest(String(decoding: line, as: UTF8.self))
    }

    private static func prepared(_ bytes: [UInt8], foldsCase: Bool) -> [UInt8] {
        foldsCase ? bytes.map(ByteScan.lowercasedASCII) : bytes
    }
}

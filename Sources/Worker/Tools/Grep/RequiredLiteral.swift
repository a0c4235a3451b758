/// The longest run of ASCII characters that every match of a regular expression contains, so grep can pass over
/// lines without it by a byte search instead of running NSRegularExpression on each of them.
///
/// The pattern is read the way ICU (NSRegularExpression's engine) reads it, but cautiously: only characters outside
/// every group and class, not made optional or repeated by a quantifier, count. Whatever the reader does not follow
/// exactly (alternation, inline options such as `(?i)` or `(?x)`, `\Q` quoting, escapes with arguments such as
/// `\x41` or `\p{L}`) yields no literal at all, and then every line goes to the regex.
struct RequiredLiteral: Equatable {
    /// The characters' bytes; never empty.
    var bytes: [UInt8]
    /// True when the pattern is nothing but this literal, so a line matches exactly when it contains it.
    var isWholePattern: Bool

    /// Escapes of a letter that stand for one character class or one zero-width assertion and take no argument.
    private static let plainEscapes = Set("dDwWsSbBAZzGntrfeaRXhHvV".utf8)

    /// Returns nil when the pattern has no such literal or is beyond the cautious reading.
    init?(regex pattern: String) {
        let source = Array(pattern.utf8)
        let pairs = zip(source, source.dropFirst())
        guard !source.contains(UInt8(ascii: "|")),
            !pairs.contains(where: { $0 == (UInt8(ascii: "("), UInt8(ascii: "?")) }),
            !pairs.contains(where: { $0 == (UInt8(ascii: "\\"), UInt8(ascii: "Q")) })
        else { return nil }
        var longest: [UInt8] = []
        var run: [UInt8] = []
        var whole = true
        var depth = 0
        var index = 0
        // Ends the current run: the characters after this point are not adjacent to it in every match.
        func endRun() {
            if run.count > longest.count { longest = run }
            run = []
            whole = false
        }
        while index < source.count {
            let byte = source[index]
            index += 1
            switch byte {
            case UInt8(ascii: "\\"):
                guard index < source.count else { return nil }
                let escaped = source[index]
                index += 1
                if escaped >= 0x80 { return nil }
                if Self.isLetterOrDigit(escaped) {
                    // A class or an assertion; any other letter or digit starts an escape with an argument.
                    guard Self.plainEscapes.contains(escaped) else { return nil }
                    endRun()
                } else if depth == 0 {
                    // An escaped punctuation character is that character.
                    run.append(escaped)
                }
            case UInt8(ascii: "("):
                endRun()
                depth += 1
            case UInt8(ascii: ")"):
                endRun()
                depth -= 1
            case UInt8(ascii: "["):
                guard let end = Self.endOfClass(source, from: index) else { return nil }
                index = end
                endRun()
            case UInt8(ascii: "*"), UInt8(ascii: "?"):
                // The character before may be absent from a match.
                run.removeLast(min(1, run.count))
                endRun()
            case UInt8(ascii: "{"):
                // {n,m}: treated as possibly zero repetitions, which is never wrong.
                guard let close = source[index...].firstIndex(of: UInt8(ascii: "}")) else { return nil }
                index = close + 1
                run.removeLast(min(1, run.count))
                endRun()
            case UInt8(ascii: "+"), UInt8(ascii: "."), UInt8(ascii: "^"), UInt8(ascii: "$"), UInt8(ascii: "]"),
                UInt8(ascii: "}"):
                endRun()
            default:
                if byte >= 0x80 || depth > 0 {
                    endRun()
                } else {
                    run.append(byte)
                }
            }
        }
        let onlyLiteral = whole
        endRun()
        guard !longest.isEmpty else { return nil }
        bytes = longest
        isWholePattern = onlyLiteral
    }

    private static func isLetterOrDigit(_ byte: UInt8) -> Bool {
        (UInt8(ascii: "0") ... UInt8(ascii: "9")).contains(byte)
            || (UInt8(ascii: "a") ... UInt8(ascii: "z"))
                .contains(byte | 0x20)
    }

    /// The index just past the `]` that closes the class whose `[` is just before `start`, counting nested classes
    /// (`[[:alpha:]]`, `[a-z&&[^q]]`); nil for a class that opens with `]`, which ICU takes as a member.
    private static func endOfClass(_ source: [UInt8], from start: Int) -> Int? {
        var index = start
        if index < source.count, source[index] == UInt8(ascii: "^") { index += 1 }
        guard index < source.count, source[index] != UInt8(ascii: "]") else { return nil }
        var depth = 1
        while index < source.count {
            switch source[index] {
            case UInt8(ascii: "\\"): index += 1
            case UInt8(ascii: "["): depth += 1
            case UInt8(ascii: "]"):
                depth -= 1
                if depth == 0 { return index + 1 }
            default: break
            }
            index += 1
        }
        return nil
    }
}

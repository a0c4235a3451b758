/// Inline Markdown of one block (bold, italic, strikethrough, code, links) rendered as Telegram HTML.
///
/// Emphasis follows CommonMark's delimiter algorithm, with one rule stricter: a `*` or `_` run opens only when no
/// letter or digit is right before it, and closes only when none is right after it. So `snake_case_names` and
/// `2*3*4` stay text, as does any delimiter without a partner; matched pairs always nest properly, so the HTML is
/// well formed. Nothing inside a code span is formatted. `~~` is strikethrough; a single `~` is text.
struct InlineMarkdown {
    /// Renders `text`; `insideBold` when it goes inside `<b>` already (a heading), so no `<b>` is nested in it.
    static func render(_ text: String, insideBold: Bool = false) -> String {
        var parser = InlineMarkdown(characters: Array(text), insideLink: false)
        var span = parser.parse()
        span.matchEmphasis()
        var open: [Emphasis: Int] = insideBold ? [.bold: 1] : [:]
        var html = ""
        span.render(into: &html, open: &open, insideLink: false)
        return html
    }

    private let characters: [Character]
    private let insideLink: Bool
    private var position = 0

    private init(characters: [Character], insideLink: Bool) {
        self.characters = characters
        self.insideLink = insideLink
    }

    private func character(at index: Int) -> Character? {
        index >= 0 && index < characters.count ? characters[index] : nil
    }

    private func runLength(at index: Int) -> Int {
        var end = index
        while end < characters.count, characters[end] == characters[index] { end += 1 }
        return end - index
    }

    /// Reads the characters into text, code, links and delimiter runs.
    private mutating func parse() -> InlineSpan {
        var span = InlineSpan()
        var text = ""
        func flush() {
            if !text.isEmpty { span.tokens.append(.text(text)) }
            text = ""
        }
        while position < characters.count {
            let current = characters[position]
            switch current {
            case "\\":
                if let next = character(at: position + 1), next.isASCII, next.isPunctuation || next.isSymbol {
                    text.append(next)
                    position += 2
                } else {
                    text.append(current)
                    position += 1
                }
            case "`":
                let length = runLength(at: position)
                if let (code, end) = codeSpan(at: position, length: length) {
                    flush()
                    span.tokens.append(.code(code))
                    position = end
                } else {
                    text += String(repeating: "`", count: length)
                    position += length
                }
            case "*", "_", "~":
                let length = runLength(at: position)
                let run = delimiter(at: position, length: length)
                if run.canOpen || run.canClose {
                    flush()
                    span.delimiters.append(run)
                    span.tokens.append(.delimiter(span.delimiters.count - 1))
                } else {
                    text += String(repeating: current, count: length)
                }
                position += length
            case "[" where !insideLink, "!" where !insideLink && character(at: position + 1) == "[":
                let bracket = current == "!" ? position + 1 : position
                if let link = link(at: bracket) {
                    flush()
                    span.tokens.append(.link(url: link.url, text: link.text))
                    position = link.end
                } else {
                    text.append(current)
                    position += 1
                }
            case "<" where !insideLink:
                if let (url, end) = autolink(at: position) {
                    flush()
                    span.tokens.append(.link(url: url, text: InlineSpan(tokens: [.text(url)])))
                    position = end
                } else {
                    text.append(current)
                    position += 1
                }
            default:
                text.append(current)
                position += 1
            }
        }
        flush()
        return span
    }

    /// A code span opened by `length` backticks at `start`: its text and the index after its closing run.
    private func codeSpan(at start: Int, length: Int) -> (String, Int)? {
        var index = start + length
        while index < characters.count {
            guard characters[index] == "`" else {
                index += 1
                continue
            }
            let closing = runLength(at: index)
            if closing == length {
                var code = String(characters[(start + length) ..< index]).replacing("\n", with: " ")
                if code.count >= 2, code.first == " ", code.last == " ", !code.allSatisfy({ $0 == " " }) {
                    code = String(code.dropFirst().dropLast())
                }
                return (code, index + closing)
            }
            index += closing
        }
        return nil
    }

    /// The run of `*`, `_` or `~` at `start`, and whether it may open or close emphasis.
    private func delimiter(at start: Int, length: Int) -> Delimiter {
        let marker = characters[start]
        let before = character(at: start - 1)
        let after = character(at: start + length)
        func isSpace(_ character: Character?) -> Bool { character?.isWhitespace ?? true }
        func isPunctuation(_ character: Character?) -> Bool {
            character.map { $0.isPunctuation || $0.isSymbol } ?? false
        }
        func isWordCharacter(_ character: Character?) -> Bool {
            character.map { $0.isLetter || $0.isNumber } ?? false
        }
        let leftFlanking =
            !isSpace(after) && (!isPunctuation(after) || isSpace(before) || isPunctuation(before))
        let rightFlanking =
            !isSpace(before) && (!isPunctuation(before) || isSpace(after) || isPunctuation(after))
        // Strikethrough is exactly two tildes.
        let usable = marker != "~" || length == 2
        // `__init__.py`: an underscore run before punctuation that runs on into a word is part of a name.
        let insideName = marker == "_" && isPunctuation(after) && isWordCharacter(character(at: start + length + 1))
        return Delimiter(
            marker: marker, length: length, remaining: length,
            canOpen: usable && leftFlanking && !isWordCharacter(before),
            canClose: usable && rightFlanking && !isWordCharacter(after) && !insideName)
    }

    /// `[text](url "title")` with its `[` at `start`: the parsed text, the URL, and the index after the `)`.
    /// Nil when it is not a link or the URL's scheme is not one Telegram may open.
    private func link(at start: Int) -> (text: InlineSpan, url: String, end: Int)? {
        var index = start + 1
        var depth = 0
        while index < characters.count {
            let current = characters[index]
            if current == "\\" {
                index += 2
                continue
            }
            if current == "[" { depth += 1 }
            if current == "]" {
                if depth == 0 { break }
                depth -= 1
            }
            index += 1
        }
        let textEnd = index
        guard textEnd > start + 1, character(at: textEnd + 1) == "(" else { return nil }
        index = textEnd + 2
        while character(at: index) == " " { index += 1 }
        var url = ""
        if character(at: index) == "<" {
            index += 1
            while let current = character(at: index), current != ">", current != "\n" {
                url.append(current)
                index += 1
            }
            guard character(at: index) == ">" else { return nil }
            index += 1
        } else {
            var parentheses = 0
            while let current = character(at: index), !current.isWhitespace {
                if current == "(" { parentheses += 1 }
                if current == ")" {
                    if parentheses == 0 { break }
                    parentheses -= 1
                }
                if current == "\\", let next = character(at: index + 1), next.isASCII, next.isPunctuation {
                    url.append(next)
                    index += 2
                    continue
                }
                url.append(current)
                index += 1
            }
        }
        while let current = character(at: index), current.isWhitespace { index += 1 }
        if let quote = character(at: index), quote == "\"" || quote == "'" {
            index += 1
            while let current = character(at: index), current != quote { index += 1 }
            guard character(at: index) == quote else { return nil }
            index += 1
            while let current = character(at: index), current.isWhitespace { index += 1 }
        }
        guard character(at: index) == ")", TelegramHTML.isAllowedLinkURL(url) else { return nil }
        var inner = InlineMarkdown(characters: Array(characters[(start + 1) ..< textEnd]), insideLink: true)
        var text = inner.parse()
        text.matchEmphasis()
        return (text, url, index + 1)
    }

    /// `<https://…>` at `start`: the URL and the index after the `>`.
    private func autolink(at start: Int) -> (String, Int)? {
        var index = start + 1
        var url = ""
        while let current = character(at: index), current != ">" {
            if current == "<" || current.isWhitespace { return nil }
            url.append(current)
            index += 1
        }
        guard character(at: index) == ">", TelegramHTML.isAllowedLinkURL(url) else { return nil }
        return (url, index + 1)
    }
}

/// The styles emphasis can give.
enum Emphasis: Hashable {
    case bold
    case italic
    case strikethrough

    var tag: String {
        switch self {
        case .bold: "b"
        case .italic: "i"
        case .strikethrough: "s"
        }
    }
}

/// A run of `*`, `_` or `~` that may open or close emphasis.
private struct Delimiter {
    /// One pair of delimiters matched: its style, and an id that ties the opening to the closing.
    struct Match {
        var style: Emphasis
        var id: Int
    }

    var marker: Character
    var length: Int
    /// Characters not used by a match; they are shown as text.
    var remaining: Int
    var canOpen: Bool
    var canClose: Bool
    /// Styles this run opens, innermost first.
    var opens: [Match] = []
    /// Styles this run closes, innermost first.
    var closes: [Match] = []
}

/// A piece of inline content.
private enum InlineToken {
    case text(String)
    case code(String)
    case link(url: String, text: InlineSpan)
    /// An index into the span's delimiters.
    case delimiter(Int)
}

/// A sequence of inline tokens with its delimiter runs; a link's text is a span of its own.
private struct InlineSpan {
    var tokens: [InlineToken] = []
    var delimiters: [Delimiter] = []

    /// Pairs openers with closers (CommonMark's "process emphasis"): for each closer from left to right, the
    /// nearest opener of the same marker. The openers between a matched pair are dropped, so pairs never overlap.
    mutating func matchEmphasis() {
        var openers: [Int] = []
        var nextID = 0
        for closer in delimiters.indices {
            if delimiters[closer].canClose {
                var candidate = openers.count - 1
                while candidate >= 0, delimiters[closer].remaining > 0 {
                    let opener = openers[candidate]
                    guard matches(opener, closer) else {
                        candidate -= 1
                        continue
                    }
                    let used: Int
                    let style: Emphasis
                    if delimiters[closer].marker == "~" {
                        (used, style) = (2, .strikethrough)
                    } else if delimiters[opener].remaining >= 2, delimiters[closer].remaining >= 2 {
                        (used, style) = (2, .bold)
                    } else {
                        (used, style) = (1, .italic)
                    }
                    let match = Delimiter.Match(style: style, id: nextID)
                    nextID += 1
                    delimiters[opener].opens.append(match)
                    delimiters[opener].remaining -= used
                    delimiters[closer].closes.append(match)
                    delimiters[closer].remaining -= used
                    openers.removeSubrange((candidate + 1)...)
                    if delimiters[opener].remaining == 0 { openers.removeLast() }
                    candidate = openers.count - 1
                }
            }
            if delimiters[closer].canOpen, delimiters[closer].remaining > 0 { openers.append(closer) }
        }
    }

    private func matches(_ opener: Int, _ closer: Int) -> Bool {
        let open = delimiters[opener]
        let close = delimiters[closer]
        guard open.marker == close.marker, open.remaining > 0 else { return false }
        if open.marker == "~" { return open.remaining == 2 && close.remaining == 2 }
        // CommonMark's rule of three, for runs that could both open and close.
        if open.canClose || close.canOpen, (open.length + close.length) % 3 == 0,
            open.length % 3 != 0 || close.length % 3 != 0
        {
            return false
        }
        return true
    }

    /// Appends the HTML; `open` counts the styles open around this span, so a style is never nested in itself
    /// (such a pair is left out, its text kept). Inside a link, code is plain text: Telegram cannot nest them.
    func render(into html: inout String, open: inout [Emphasis: Int], insideLink: Bool) {
        var leftOut: Set<Int> = []
        for token in tokens {
            switch token {
            case .text(let text):
                html += TelegramHTML.escape(text)
            case .code(let code):
                html += insideLink ? TelegramHTML.escape(code) : "<code>\(TelegramHTML.escape(code))</code>"
            case .link(let url, let text):
                html += "<a href=\"\(TelegramHTML.escape(url, attribute: true))\">"
                text.render(into: &html, open: &open, insideLink: true)
                html += "</a>"
            case .delimiter(let index):
                let run = delimiters[index]
                for match in run.closes {
                    if leftOut.remove(match.id) != nil { continue }
                    html += "</\(match.style.tag)>"
                    open[match.style, default: 1] -= 1
                }
                html += String(repeating: run.marker, count: run.remaining)
                for match in run.opens.reversed() {
                    if open[match.style, default: 0] > 0 {
                        leftOut.insert(match.id)
                    } else {
                        html += "<\(match.style.tag)>"
                        open[match.style, default: 0] += 1
                    }
                }
            }
        }
    }
}

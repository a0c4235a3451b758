/// Converts the model's Markdown into the HTML subset that Telegram's `parse_mode: "HTML"` accepts.
///
/// Telegram knows only b, strong, i, em, u, ins, s, strike, del, span class="tg-spoiler", tg-spoiler, a, code, pre
/// and blockquote, and the entities `&lt;` `&gt;` `&amp;` `&quot;`. The output uses b, i, s, a, code, pre and
/// blockquote, escapes `<`, `>` and `&` in all text, and is always well formed: Markdown that does not parse
/// (a lone `*`, `snake_case_names`, `2*3*4`, an unclosed code fence) comes out as the text it is.
///
/// - Bold (`**x**`, `__x__`), italic (`*x*`, `_x_`), strikethrough (`~~x~~`), inline code and links
///   (`InlineMarkdown`). Only http, https, tg and mailto links become `<a href>`; others stay text.
/// - Fenced code blocks become `<pre><code class="language-…">`, or `<pre>` without a language.
/// - Headings become bold lines; bullet and numbered lists become "• item" and "1. item" lines, indented by four
///   spaces per level; block quotes become `<blockquote>` (Telegram cannot nest them, so inner quotes join the outer).
/// - A horizontal rule becomes a line of dashes; a single line break stays a line break.
///
/// Long results are cut into messages by `TelegramHTMLSplitter`.
enum TelegramHTML {
    /// The value of `parse_mode` for this format.
    static let parseMode = "HTML"

    /// Renders Markdown as Telegram HTML.
    static func render(_ markdown: String) -> String {
        let lines = markdown.replacing("\r\n", with: "\n").split(separator: "\n", omittingEmptySubsequences: false)
            .map { String($0) }
        let blocks = MarkdownBlocks.parse(lines[...])
        return render(blocks, insideQuote: false)
    }

    /// Escapes text for Telegram HTML: `&`, `<` and `>`, and `"` too when `attribute`.
    static func escape(_ text: some StringProtocol, attribute: Bool = false) -> String {
        var result = ""
        result.reserveCapacity(text.utf8.count)
        for scalar in text.unicodeScalars {
            switch scalar {
            case "&": result += "&amp;"
            case "<": result += "&lt;"
            case ">": result += "&gt;"
            case "\"" where attribute: result += "&quot;"
            default: result.unicodeScalars.append(scalar)
            }
        }
        return result
    }

    /// The text Telegram shows for `html`: the tags removed and the entities decoded. A chunk Telegram refuses to
    /// parse is sent again as this.
    static func visibleText(_ html: String) -> String {
        HTMLToken.tokenize(html).map(\.visible).joined()
    }

    /// True for a link target Telegram may open: http, https, tg and mailto URLs without spaces or controls.
    static func isAllowedLinkURL(_ url: String) -> Bool {
        let lowered = url.lowercased()
        let schemes = ["http://", "https://", "tg://", "mailto:"]
        guard let scheme = schemes.first(where: { lowered.hasPrefix($0) }), url.count > scheme.count else {
            return false
        }
        return !url.unicodeScalars.contains { $0.properties.isWhitespace || $0.value < 0x20 || $0.value == 0x7F }
    }

    private static func render(_ blocks: [MarkdownBlock], insideQuote: Bool) -> String {
        var result = ""
        var previousIsBox = false
        for block in blocks {
            guard let html = render(block, insideQuote: insideQuote), !html.isEmpty else { continue }
            // pre and blockquote show as boxes of their own: one line break around them is enough.
            let isBox = block.isBox && !insideQuote
            if !result.isEmpty { result += isBox || previousIsBox ? "\n" : "\n\n" }
            result += html
            previousIsBox = isBox
        }
        return result
    }

    private static func render(_ block: MarkdownBlock, insideQuote: Bool) -> String? {
        switch block {
        case .paragraph(let lines):
            return InlineMarkdown.render(lines.joined(separator: "\n"))
        case .heading(let text):
            let inner = InlineMarkdown.render(text, insideBold: true)
            return inner.isEmpty ? nil : "<b>\(inner)</b>"
        case .code(let language, let lines):
            let code = escape(lines.joined(separator: "\n"))
            guard !code.isEmpty else { return nil }
            guard let language else { return "<pre>\(code)</pre>" }
            return "<pre><code class=\"language-\(escape(language, attribute: true))\">\(code)</code></pre>"
        case .list(let items):
            return items.map(render).joined(separator: "\n")
        case .quote(let inner):
            let html = render(inner, insideQuote: true)
            guard !html.isEmpty else { return nil }
            return insideQuote ? html : "<blockquote>\(html)</blockquote>"
        case .rule:
            return "———"
        }
    }

    private static func render(_ item: MarkdownListItem) -> String {
        let indent = String(repeating: " ", count: 4 * item.level)
        let marker = item.number.map { "\($0)." } ?? "•"
        let continuation = "\n" + indent + String(repeating: " ", count: marker.count + 1)
        return indent + marker + " " + InlineMarkdown.render(item.lines.joined(separator: continuation))
    }
}

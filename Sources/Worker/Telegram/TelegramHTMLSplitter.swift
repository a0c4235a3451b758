/// Splits Telegram HTML into messages whose visible text fits Telegram's limit.
///
/// Telegram measures a message after parsing its entities: the visible text, in UTF-16 code units, at most 4096.
/// Tags count nothing and `&amp;` counts one. A chunk that ends inside tags closes them, and the next chunk opens
/// them again with the same attributes (`<pre><code class="language-swift">`, `<a href="…">`), so each chunk is
/// well formed on its own. Cuts prefer a paragraph break, then a line break, then a space, in the second half of
/// what fits; they never fall inside a tag, an entity, a surrogate pair or a character. The separators stay at
/// the end of the chunk before the cut, so the chunks' visible texts joined are the whole visible text. For plain
/// text, `MessageSplitter` does the same.
enum TelegramHTMLSplitter {
    static func split(_ html: String, limit: Int = MessageSplitter.telegramLimit) -> [String] {
        let tokens = HTMLToken.tokenize(html)
        var chunks: [String] = []
        var reopened: [HTMLToken] = []
        var start = 0
        while start < tokens.count {
            let cut = cutIndex(tokens, from: start, limit: limit)
            var chunk = reopened.map(\.raw).joined()
            var open = reopened
            for token in tokens[start ..< cut] {
                chunk += token.raw
                switch token.kind {
                case .start: open.append(token)
                case .end(let name):
                    if let last = open.lastIndex(where: { $0.kind == .start(name: name) }) { open.remove(at: last) }
                case .text: break
                }
            }
            for token in open.reversed() {
                if case .start(let name) = token.kind { chunk += "</\(name)>" }
            }
            // A chunk with nothing to see would be refused ("message text is empty").
            if tokens[start ..< cut].contains(where: { !$0.visible.allSatisfy(\.isWhitespace) }) {
                chunks.append(chunk)
            }
            reopened = open
            start = cut
        }
        return chunks.isEmpty ? [html] : chunks
    }

    /// Where the chunk that starts at `start` ends: after as many tokens as fit, cut back to the last separator.
    private static func cutIndex(_ tokens: [HTMLToken], from start: Int, limit: Int) -> Int {
        var units = 0
        var end = start
        // The last place after a paragraph break, a line break and a space, each with the units before it.
        var separators: [(index: Int, units: Int)?] = [nil, nil, nil]
        var previous = ""
        while end < tokens.count, units + tokens[end].units <= limit {
            let token = tokens[end]
            units += token.units
            end += 1
            if token.kind != .text || token.visible.isEmpty { continue }
            if token.visible == "\n" {
                if previous == "\n" { separators[0] = (end, units) }
                separators[1] = (end, units)
            } else if token.visible == " " {
                separators[2] = (end, units)
            }
            previous = token.visible
        }
        guard end < tokens.count else { return tokens.count }
        var cut = end
        if let separator = separators.compactMap({ $0 }).first(where: { $0.units > units / 2 }) {
            cut = separator.index
        }
        // Tags that open at the cut go with the next chunk; tags that close there stay with this one.
        while cut > start + 1, case .start = tokens[cut - 1].kind { cut -= 1 }
        while cut < tokens.count, case .end = tokens[cut].kind { cut += 1 }
        if !tokens[start ..< cut].contains(where: { $0.units > 0 }) {
            // Nothing visible fits (one character wider than the limit): take the next visible token anyway.
            cut = (tokens[start...].firstIndex { $0.units > 0 } ?? tokens.count - 1) + 1
        }
        return cut
    }
}

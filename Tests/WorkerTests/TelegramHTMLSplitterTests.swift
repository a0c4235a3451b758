import Testing

@testable import Worker

@Suite struct TelegramHTMLSplitterTests {
    /// Splits, and checks what every split must keep: each chunk well formed and at most `limit` visible UTF-16
    /// units, and the chunks' visible texts joined equal to the whole visible text.
    private func split(_ html: String, limit: Int = 4096) -> [String] {
        let chunks = TelegramHTMLSplitter.split(html, limit: limit)
        for chunk in chunks {
            #expect(TelegramMarkup.problem(in: chunk) == nil, "\(chunk)")
            #expect(TelegramHTML.visibleText(chunk).utf16.count <= limit)
        }
        #expect(chunks.map(TelegramHTML.visibleText).joined() == TelegramHTML.visibleText(html))
        return chunks
    }

    @Test func shortHTMLIsOneChunk() {
        #expect(split("<b>hello</b> &amp; bye") == ["<b>hello</b> &amp; bye"])
        // 4096 visible characters fit, however long the markup.
        let full = "<i>" + String(repeating: "&lt;", count: 4096) + "</i>"
        #expect(split(full) == [full])
    }

    @Test func longCodeBlockIsReopenedWithItsLanguageInEachChunk() {
        let lines = (1 ... 600).map { "let value\($0) = a < b && c > d" }
        let markdown = "Intro\n\n```swift\n" + lines.joined(separator: "\n") + "\n```\n\nOutro"
        let chunks = split(TelegramHTML.render(markdown))
        #expect(chunks.count >= 5)
        for chunk in chunks.dropFirst().dropLast() {
            #expect(chunk.hasPrefix("<pre><code class=\"language-swift\">let value"), "\(chunk.prefix(60))")
            #expect(chunk.hasSuffix("</code></pre>"))
        }
        // Cuts fall at line ends inside the code: every chunk ends with a whole line.
        for chunk in chunks.dropLast() {
            #expect(TelegramHTML.visibleText(chunk).hasSuffix("\n"))
        }
        #expect(chunks.last?.hasSuffix("Outro") == true)
    }

    @Test func cutsPreferParagraphsThenLinesThenSpaces() {
        let paragraph = String(repeating: "x", count: 3000)
        #expect(split("<b>\(paragraph)</b>\n\n\(paragraph)") == ["<b>\(paragraph)</b>\n\n", paragraph])
        let line = String(repeating: "y", count: 3000)
        #expect(split("\(line)\n\(line)") == ["\(line)\n", line])
        let words = Array(repeating: "<i>word</i>", count: 2000).joined(separator: " ")
        let chunks = split(words)
        #expect(chunks.count == 3)
        #expect(chunks.dropLast().allSatisfy { $0.hasSuffix("</i> ") })
        #expect(chunks.dropFirst().allSatisfy { $0.hasPrefix("<i>word</i>") })
    }

    @Test func aCutInsideTagsClosesAndReopensThem() {
        let open = "<blockquote><b><a href=\"https://x.org/?a=1&amp;b=2\">"
        let chunks = split(open + String(repeating: "z", count: 100) + "</a></b></blockquote>", limit: 40)
        #expect(chunks.count == 3)
        #expect(chunks.allSatisfy { $0.hasPrefix(open) && $0.hasSuffix("</a></b></blockquote>") })
    }

    @Test func neverCutsAnEntityASurrogatePairOrACharacter() {
        let entities = String(repeating: "&amp;&lt;", count: 3000)
        let chunks = split(entities)
        #expect(chunks.count == 2)
        #expect(chunks.allSatisfy { $0.hasPrefix("&") && $0.hasSuffix(";") })
        let emoji = "<b>" + String(repeating: "😀", count: 3000) + "</b>"
        let emojiChunks = split(emoji)
        #expect(emojiChunks.count == 2)
        #expect(emojiChunks.map { TelegramHTML.visibleText($0).utf16.count } == [4096, 1904])
        // A family is one character of 11 UTF-16 units: it stays whole.
        let family = String(repeating: "👨‍👩‍👧‍👦", count: 500)
        #expect(split(family).allSatisfy { TelegramHTML.visibleText($0).count * 11 == $0.utf16.count })
    }

    @Test func renderedRepliesSplitWithTheirVisibleTextIntact() {
        let paragraph = "Some **bold**, some `code < 3`, a [link](https://example.com) and _more_ words. "
        let markdown = (1 ... 30).map { "## Part \($0)\n\n" + String(repeating: paragraph, count: 5) }
            .joined(separator: "\n\n")
        let rendered = TelegramHTML.render(markdown)
        let chunks = split(rendered)
        #expect(chunks.count > 1)
        // Cuts fall at paragraph breaks here: no tag needs reopening.
        #expect(chunks.dropFirst().allSatisfy { $0.hasPrefix("<b>Part") || $0.hasPrefix("Some") })
    }

    @Test func aReplyIsStoredAsHTMLUnlessItsHTMLWouldShowNothing() {
        let formatted = TelegramCommander.replyChunks("**hi** & bye")
        #expect(formatted.chunks == ["<b>hi</b> &amp; bye"])
        #expect(formatted.parseMode == .html)
        let empty = TelegramCommander.replyChunks("```\n```")
        #expect(empty.chunks == ["```\n```"])
        #expect(empty.parseMode == nil)
    }
}

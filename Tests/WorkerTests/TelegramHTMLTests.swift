import Testing

@testable import Worker

@Suite struct TelegramHTMLTests {
    private func html(_ markdown: String) -> String {
        let rendered = TelegramHTML.render(markdown)
        #expect(TelegramMarkup.problem(in: rendered) == nil, "\(rendered)")
        return rendered
    }

    @Test func eachInlineStyleBecomesItsTag() {
        #expect(html("**bold** and __bold__") == "<b>bold</b> and <b>bold</b>")
        #expect(html("*italic* and _italic_") == "<i>italic</i> and <i>italic</i>")
        #expect(html("~~gone~~") == "<s>gone</s>")
        #expect(html("run `swift build` now") == "run <code>swift build</code> now")
        #expect(html("``a ` b``") == "<code>a ` b</code>")
        #expect(html("***both***") == "<i><b>both</b></i>")
    }

    @Test func stylesNest() {
        #expect(html("**bold _italic_**") == "<b>bold <i>italic</i></b>")
        #expect(html("*a **b** c*") == "<i>a <b>b</b> c</i>")
        #expect(html("~~**x**~~") == "<s><b>x</b></s>")
        // A style inside itself is left out, its text kept.
        #expect(html("**a **b** c**") == "<b>a b c</b>")
    }

    @Test func textIsEscapedEverywhereAndCodeIsNeverFormatted() {
        #expect(html("a < b && c > d") == "a &lt; b &amp;&amp; c &gt; d")
        #expect(html("`if a < b && **c** > d`") == "<code>if a &lt; b &amp;&amp; **c** &gt; d</code>")
        #expect(html("<b>not a tag</b>") == "&lt;b&gt;not a tag&lt;/b&gt;")
        let block = html("```swift\nlet x = a < b && c > d // **not bold** _no_\n```")
        #expect(
            block
                == "<pre><code class=\"language-swift\">let x = a &lt; b &amp;&amp; c &gt; d // **not bold** _no_"
                + "</code></pre>")
        #expect(html("```\nplain < code\n```") == "<pre>plain &lt; code</pre>")
        #expect(html("~~~python\nx = 1\n~~~") == "<pre><code class=\"language-python\">x = 1</code></pre>")
    }

    @Test func linksOnlyWithSchemesTelegramOpens() {
        #expect(
            html("[docs](https://example.com/a?b=1&c=\"2\")")
                == #"<a href="https://example.com/a?b=1&amp;c=&quot;2&quot;">docs</a>"#)
        #expect(html("[**bold** link](http://x.org)") == #"<a href="http://x.org"><b>bold</b> link</a>"#)
        #expect(
            html("[me](tg://user?id=1) [mail](mailto:a@b.c)")
                == #"<a href="tg://user?id=1">me</a> <a href="mailto:a@b.c">mail</a>"#)
        #expect(
            html("[wiki](https://en.wikipedia.org/wiki/Swift_(language))")
                == #"<a href="https://en.wikipedia.org/wiki/Swift_(language)">wiki</a>"#)
        #expect(html("<https://example.com>") == #"<a href="https://example.com">https://example.com</a>"#)
        // Code in a link is plain text: Telegram cannot nest code in a link.
        #expect(html("[`x`](https://x.org)") == #"<a href="https://x.org">x</a>"#)
        // Anything else stays text.
        #expect(html("[click](javascript:alert(1))") == "[click](javascript:alert(1))")
        #expect(html("[file](README.md)") == "[file](README.md)")
        #expect(html("[a](ftp://x)") == "[a](ftp://x)")
        #expect(html("[no url]") == "[no url]")
        #expect(html("<not a link>") == "&lt;not a link&gt;")
    }

    @Test func headingsAreBoldLines() {
        #expect(html("# Title\nText") == "<b>Title</b>\n\nText")
        #expect(html("### A **bold** word ###") == "<b>A bold word</b>")
        #expect(html("#hashtag") == "#hashtag")
    }

    @Test func listsAreBulletAndNumberLinesIndentedWhenNested() {
        #expect(html("- one\n- **two**\n* three") == "• one\n• <b>two</b>\n• three")
        #expect(html("1. first\n2. second\n10) tenth") == "1. first\n2. second\n10. tenth")
        let nested = html("- top\n  - inner\n    1. deep\n- back\n  lazy line")
        #expect(nested == "• top\n    • inner\n        1. deep\n• back\n  lazy line")
        #expect(html("Steps:\n1. a\n2. b\n\nAfter.") == "Steps:\n\n1. a\n2. b\n\nAfter.")
        #expect(html("- a\n\n- b") == "• a\n• b")
    }

    @Test func codeBlocksInListsAndQuotes() {
        let inList = html("1. Run:\n   ```bash\n   make\n     indented\n   ```\n2. Done")
        #expect(inList == "1. Run:\n<pre><code class=\"language-bash\">make\n  indented</code></pre>\n2. Done")
        #expect(html("> quoted **bold**\n> second") == "<blockquote>quoted <b>bold</b>\nsecond</blockquote>")
        #expect(html("> outer\n> > inner") == "<blockquote>outer\n\ninner</blockquote>")
        #expect(html("before\n> q\nafter") == "before\n<blockquote>q</blockquote>\nafter")
    }

    @Test func oddMarkdownStaysText() {
        #expect(html("a lone * star") == "a lone * star")
        #expect(html("snake_case_names and __init__ms") == "snake_case_names and __init__ms")
        #expect(html("__init__.py, but __bold__.") == "__init__.py, but <b>bold</b>.")
        #expect(html("**kwargs and *args") == "**kwargs and *args")
        #expect(html("2*3*4 = 24") == "2*3*4 = 24")
        #expect(html("**unclosed bold") == "**unclosed bold")
        #expect(html("*a **b c") == "*a **b c")
        #expect(html("~single~ tilde") == "~single~ tilde")
        #expect(html("\\*not italic\\*") == "*not italic*")
        #expect(html("`unclosed code") == "`unclosed code")
        #expect(html("```swift\nlet x = *y*\nno end") == "```swift\nlet x = <i>y</i>\nno end")
        #expect(html("---") == "———")
        #expect(html("a & b; &amp;") == "a &amp; b; &amp;amp;")
    }

    @Test func visibleTextRemovesTagsAndDecodesEntities() {
        let rendered = TelegramHTML.render("**a** < `b & c` [l](https://x.org/?a=1&b=2)")
        #expect(TelegramHTML.visibleText(rendered) == "a < b & c l")
        #expect(TelegramHTML.visibleText("x &quot;&#60;&#x3E;&nope; & y") == "x \"<>&nope; & y")
    }
}

/// An independent check of Telegram's HTML rules: only its tags, each closed in order, and no `<`, `>` or `&`
/// outside tags and the entities `&lt;` `&gt;` `&amp;` `&quot;`.
enum TelegramMarkup {
    static let tags: Set<String> = [
        "b", "strong", "i", "em", "u", "ins", "s", "strike", "del", "span", "tg-spoiler", "a", "code", "pre",
        "blockquote",
    ]

    static func problem(in html: String) -> String? {
        var open: [String] = []
        var rest = Substring(html)
        while let first = rest.first {
            if first == "<" {
                guard let close = rest.firstIndex(of: ">") else { return "unclosed tag" }
                let tag = rest[rest.index(after: rest.startIndex) ..< close]
                rest = rest[rest.index(after: close)...]
                if tag.hasPrefix("/") {
                    guard open.popLast() == String(tag.dropFirst()) else { return "unmatched </\(tag.dropFirst())>" }
                } else {
                    let name = String(tag.prefix { $0 != " " })
                    guard tags.contains(name) else { return "unsupported <\(name)>" }
                    open.append(name)
                }
            } else if first == "&" {
                guard let entity = ["&lt;", "&gt;", "&amp;", "&quot;"].first(where: { rest.hasPrefix($0) }) else {
                    return "bare &"
                }
                rest = rest.dropFirst(entity.count)
            } else if first == ">" {
                return "bare >"
            } else {
                rest = rest.dropFirst()
            }
        }
        return open.isEmpty ? nil : "unclosed <\(open.joined(separator: "><"))>"
    }
}

import Foundation

/// A block of a Markdown reply, as `TelegramHTML` renders it.
enum MarkdownBlock: Equatable {
    /// Lines of inline Markdown, each line break kept.
    case paragraph([String])
    case heading(String)
    /// A closed fenced code block; `language` is the first word of its info string, if it is a plain name.
    case code(language: String?, lines: [String])
    /// The items of one list, nested ones included, in order.
    case list([MarkdownListItem])
    case quote([MarkdownBlock])
    case rule

    /// True for blocks Telegram draws as a box of their own (pre, blockquote).
    var isBox: Bool {
        switch self {
        case .code, .quote: true
        default: false
        }
    }
}

/// One item of a bullet or numbered list.
struct MarkdownListItem: Equatable {
    /// 0 for a top-level item, 1 for an item nested in it, and so on.
    var level: Int
    /// The number as written ("3" for "3. item"), or nil for a bullet.
    var number: String?
    /// The item's text: its first line and its continuation lines.
    var lines: [String]
}

/// Splits Markdown into blocks, line by line: fenced code, headings, rules, block quotes, lists and paragraphs.
///
/// A subset of CommonMark that covers what models write. Indented code blocks, tables and HTML blocks are not
/// recognised and come out as paragraphs. A code fence that is never closed is an ordinary line of text.
enum MarkdownBlocks {
    static func parse(_ lines: ArraySlice<String>) -> [MarkdownBlock] {
        var blocks: [MarkdownBlock] = []
        var index = lines.startIndex
        while index < lines.endIndex {
            let line = lines[index]
            if line.allSatisfy(\.isWhitespace) {
                index += 1
                continue
            }
            if let fence = Fence(line), let close = fence.closingLine(in: lines[(index + 1)...]) {
                let body = lines[(index + 1) ..< close].map { fence.removingIndent(from: $0) }
                blocks.append(.code(language: fence.language, lines: body))
                index = close + 1
            } else if let heading = heading(line) {
                blocks.append(.heading(heading))
                index += 1
            } else if isRule(line) {
                blocks.append(.rule)
                index += 1
            } else if let first = quoteContent(line) {
                var inner = [first]
                index += 1
                while index < lines.endIndex, let more = quoteContent(lines[index]) {
                    inner.append(more)
                    index += 1
                }
                blocks.append(.quote(parse(inner[...])))
            } else if ListMarker(line) != nil {
                let (items, next) = list(lines, from: index)
                blocks.append(.list(items))
                index = next
            } else {
                var paragraph = [trimmingTrailingWhitespace(line)]
                index += 1
                while index < lines.endIndex, !startsAnotherBlock(lines[index], in: lines, at: index) {
                    paragraph.append(trimmingTrailingWhitespace(lines[index]))
                    index += 1
                }
                blocks.append(.paragraph(paragraph))
            }
        }
        return blocks
    }

    /// True when `line` ends a paragraph: a blank line or the start of another kind of block.
    private static func startsAnotherBlock(_ line: String, in lines: ArraySlice<String>, at index: Int) -> Bool {
        if line.allSatisfy(\.isWhitespace) || heading(line) != nil || isRule(line) || quoteContent(line) != nil
            || ListMarker(line) != nil
        {
            return true
        }
        if let fence = Fence(line) { return fence.closingLine(in: lines[(index + 1)...]) != nil }
        return false
    }

    /// The items of the list starting at `start`, and the index of the first line after it.
    ///
    /// An item's level follows its marker's indentation. A line that is not an item continues the item before it
    /// when it is indented or follows it directly; a blank line ends the list unless an item or an indented line
    /// comes next. A code fence ends the list (the code block follows it).
    private static func list(_ lines: ArraySlice<String>, from start: Int) -> ([MarkdownListItem], Int) {
        var items: [MarkdownListItem] = []
        var indents: [Int] = []
        var index = start
        while index < lines.endIndex {
            let line = lines[index]
            if !isRule(line), let marker = ListMarker(line) {
                while let last = indents.last, marker.indent < last { indents.removeLast() }
                if indents.last.map({ marker.indent > $0 }) ?? true { indents.append(marker.indent) }
                items.append(MarkdownListItem(level: indents.count - 1, number: marker.number, lines: [marker.text]))
                index += 1
                continue
            }
            if line.allSatisfy(\.isWhitespace) {
                var next = index + 1
                while next < lines.endIndex, lines[next].allSatisfy(\.isWhitespace) { next += 1 }
                guard next < lines.endIndex, ListMarker(lines[next]) != nil || leadingSpaces(lines[next]) >= 2,
                    Fence(lines[next]) == nil
                else { break }
                index = next
                continue
            }
            let indented = leadingSpaces(line) >= 2
            if Fence(line) != nil || (!indented && startsAnotherBlock(line, in: lines, at: index)) { break }
            if !indented, index > start, lines[index - 1].allSatisfy(\.isWhitespace) { break }
            items[items.count - 1].lines.append(
                trimmingTrailingWhitespace(String(line.drop(while: { $0 == " " || $0 == "\t" }))))
            index += 1
        }
        return (items, index)
    }

    /// The text of an ATX heading ("## Title"), or nil.
    private static func heading(_ line: String) -> String? {
        let trimmed = line.drop(while: { $0 == " " })
        guard line.count - trimmed.count <= 3 else { return nil }
        let hashes = trimmed.prefix(while: { $0 == "#" })
        guard (1 ... 6).contains(hashes.count) else { return nil }
        let rest = trimmed.dropFirst(hashes.count)
        guard rest.isEmpty || rest.first == " " || rest.first == "\t" else { return nil }
        var text = trimmingTrailingWhitespace(String(rest)).drop(while: { $0 == " " || $0 == "\t" })
        // A closing sequence of #s after a space is not part of the title.
        let closing = text.reversed().prefix(while: { $0 == "#" }).count
        if closing > 0, closing == text.count || text.dropLast(closing).last == " " {
            text = text.dropLast(closing)
        }
        return trimmingTrailingWhitespace(String(text))
    }

    /// True for a thematic break: three or more of the same `-`, `*` or `_`, spaces allowed between.
    private static func isRule(_ line: String) -> Bool {
        let marks = line.filter { $0 != " " && $0 != "\t" }
        guard let first = marks.first, "-*_".contains(first), marks.count >= 3 else { return false }
        return marks.allSatisfy { $0 == first } && leadingSpaces(line) <= 3
    }

    /// A block quote line's content after `>` and one optional space, or nil.
    private static func quoteContent(_ line: String) -> String? {
        let trimmed = line.drop(while: { $0 == " " })
        guard line.count - trimmed.count <= 3, trimmed.first == ">" else { return nil }
        let rest = trimmed.dropFirst()
        return String(rest.first == " " ? rest.dropFirst() : rest)
    }

    static func leadingSpaces(_ line: some StringProtocol) -> Int {
        var count = 0
        for character in line {
            if character == " " {
                count += 1
            } else if character == "\t" {
                count += 4
            } else {
                break
            }
        }
        return count
    }

    static func trimmingTrailingWhitespace(_ line: String) -> String {
        var result = Substring(line)
        while let last = result.last, last.isWhitespace { result = result.dropLast() }
        return String(result)
    }
}

/// The marker of a list item: "- ", "* ", "+ ", or a number and "." or ")" and a space.
struct ListMarker {
    var indent: Int
    var number: String?
    var text: String

    init?(_ line: String) {
        let body = line.drop(while: { $0 == " " || $0 == "\t" })
        indent = MarkdownBlocks.leadingSpaces(line)
        let digits = body.prefix(while: { $0.isASCII && $0.isNumber })
        let rest: Substring
        if let first = body.first, "-*+".contains(first) {
            number = nil
            rest = body.dropFirst()
        } else if (1 ... 9).contains(digits.count), let dot = body.dropFirst(digits.count).first,
            dot == "." || dot == ")"
        {
            number = String(digits)
            rest = body.dropFirst(digits.count + 1)
        } else {
            return nil
        }
        guard rest.first == " " || rest.first == "\t" else { return nil }
        let content = MarkdownBlocks.trimmingTrailingWhitespace(String(rest.drop(while: { $0 == " " || $0 == "\t" })))
        guard !content.isEmpty else { return nil }
        text = content
    }
}

/// The opening line of a fenced code block: three or more backticks or tildes, then an optional info string.
struct Fence {
    var character: Character
    var length: Int
    var indent: Int
    var language: String?

    init?(_ line: String) {
        let body = line.drop(while: { $0 == " " })
        guard let first = body.first, first == "`" || first == "~" else { return nil }
        let run = body.prefix(while: { $0 == first })
        guard run.count >= 3 else { return nil }
        let info = body.dropFirst(run.count).trimmingCharacters(in: .whitespaces)
        // A backtick fence's info string has no backticks (else the line is inline code).
        if first == "`", info.contains("`") { return nil }
        character = first
        length = run.count
        indent = line.count - body.count
        let word = info.prefix(while: { !$0.isWhitespace && $0 != "{" })
        let plainName = word.allSatisfy { $0.isASCII && ($0.isLetter || $0.isNumber || "+#._-".contains($0)) }
        language = !word.isEmpty && plainName ? String(word) : nil
    }

    /// The index of the line that closes this fence, or nil when it is never closed.
    func closingLine(in lines: ArraySlice<String>) -> Int? {
        lines.firstIndex { line in
            let body = line.drop(while: { $0 == " " })
            let run = body.prefix(while: { $0 == character })
            return run.count >= length && body.dropFirst(run.count).allSatisfy(\.isWhitespace)
        }
    }

    /// A code line with the fence's own indentation removed, so code in a list item is not shifted right.
    func removingIndent(from line: String) -> String {
        let spaces = line.prefix(while: { $0 == " " }).count
        return String(line.dropFirst(min(spaces, indent)))
    }
}

/// One piece of Telegram HTML: a start tag, an end tag, or one visible character (written as itself or as an
/// entity such as `&amp;`).
struct HTMLToken: Equatable {
    enum Kind: Equatable {
        case start(name: String)
        case end(name: String)
        case text
    }

    var kind: Kind
    /// The token as written in the HTML.
    var raw: String
    /// What Telegram shows for it: empty for a tag, the decoded character for an entity.
    var visible: String

    /// Telegram's measure of the visible text: UTF-16 code units.
    var units: Int { visible.utf16.count }

    /// Cuts HTML into tags, entities and characters. Text is cut into whole characters (grapheme clusters), so no
    /// cut between tokens splits an entity, a surrogate pair or a character. A `<` without a `>` and an `&` that
    /// starts no entity are text, as Telegram reads them.
    static func tokenize(_ html: String) -> [HTMLToken] {
        var tokens: [HTMLToken] = []
        let scalars = html.unicodeScalars
        var index = scalars.startIndex
        var textStart = index
        func flushText(upTo end: String.Index) {
            for character in html[textStart ..< end] {
                tokens.append(HTMLToken(kind: .text, raw: String(character), visible: String(character)))
            }
        }
        while index < scalars.endIndex {
            let scalar = scalars[index]
            if scalar == "<", let close = scalars[index...].firstIndex(of: ">") {
                flushText(upTo: index)
                let raw = String(html[index ... close])
                tokens.append(HTMLToken(kind: tagKind(raw), raw: raw, visible: ""))
                index = scalars.index(after: close)
                textStart = index
            } else if scalar == "&", let (end, decoded) = entity(in: scalars, at: index) {
                flushText(upTo: index)
                tokens.append(HTMLToken(kind: .text, raw: String(html[index ..< end]), visible: decoded))
                index = end
                textStart = index
            } else {
                index = scalars.index(after: index)
            }
        }
        flushText(upTo: scalars.endIndex)
        return tokens
    }

    /// A tag's kind and lowercased name: `<b>`, `<a href="…">`, `</code>`.
    private static func tagKind(_ raw: String) -> Kind {
        let inner = raw.dropFirst().dropLast()
        let closing = inner.first == "/"
        let name = (closing ? inner.dropFirst() : inner).prefix { !$0.isWhitespace && $0 != "/" && $0 != ">" }
            .lowercased()
        return closing ? .end(name: name) : .start(name: name)
    }

    /// The entity at `start` (`&lt;`, `&#60;`, `&#x3C;`): where it ends and the character it stands for.
    private static func entity(in scalars: String.UnicodeScalarView, at start: String.Index)
        -> (String.Index, String)?
    {
        var index = scalars.index(after: start)
        var name = ""
        while index < scalars.endIndex, name.count <= 10 {
            let scalar = scalars[index]
            if scalar == ";" { break }
            guard scalar.isASCII, scalar.properties.isAlphabetic || ("0" ... "9").contains(scalar) || scalar == "#"
            else { return nil }
            name.unicodeScalars.append(scalar)
            index = scalars.index(after: index)
        }
        guard index < scalars.endIndex, scalars[index] == ";" else { return nil }
        let end = scalars.index(after: index)
        let named = ["lt": "<", "gt": ">", "amp": "&", "quot": "\""]
        if let decoded = named[name] { return (end, decoded) }
        guard name.hasPrefix("#") else { return nil }
        let digits = name.dropFirst()
        let value =
            digits.first == "x" || digits.first == "X"
            ? UInt32(digits.dropFirst(), radix: 16) : UInt32(digits, radix: 10)
        guard let value, let scalar = Unicode.Scalar(value) else { return nil }
        return (end, String(scalar))
    }
}

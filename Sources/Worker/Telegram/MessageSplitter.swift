import Foundation

/// Splits a reply into Telegram-sized messages.
///
/// Telegram counts a message's length in UTF-16 code units and rejects more than 4096. Splits prefer a paragraph
/// break, then a line break, then a space, and never cut inside a character.
enum MessageSplitter {
    static let telegramLimit = 4096

    static func split(_ text: String, limit: Int = telegramLimit) -> [String] {
        var chunks: [String] = []
        var rest = Substring(text)
        while rest.utf16.count > limit {
            // The longest prefix of whole characters that fits.
            var end = rest.startIndex
            var units = 0
            for index in rest.indices {
                let width = rest[index].utf16.count
                if units + width > limit { break }
                units += width
                end = rest.index(after: index)
            }
            let window = rest[rest.startIndex ..< end]
            var cut = end
            for separator in ["\n\n", "\n", " "] {
                if let range = window.range(of: separator, options: .backwards),
                    window.distance(from: window.startIndex, to: range.lowerBound) > window.count / 2
                {
                    cut = range.upperBound
                    break
                }
            }
            if cut == rest.startIndex { cut = rest.index(after: rest.startIndex) }
            let chunk = rest[rest.startIndex ..< cut].trimmingTrailingWhitespace()
            if !chunk.isEmpty { chunks.append(String(chunk)) }
            rest = rest[cut...]
            while let first = rest.first, first == "\n" { rest = rest.dropFirst() }
        }
        let last = rest.trimmingTrailingWhitespace()
        if !last.isEmpty || chunks.isEmpty { chunks.append(String(last)) }
        return chunks
    }
}

extension Substring {
    fileprivate func trimmingTrailingWhitespace() -> Substring {
        var result = self
        while let last = result.last, last.isWhitespace { result = result.dropLast() }
        return result
    }
}

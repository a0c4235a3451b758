import Testing

@testable import Worker

@Suite struct MessageSplitterTests {
    @Test func shortTextIsOneChunk() {
        #expect(MessageSplitter.split("hello") == ["hello"])
        #expect(MessageSplitter.split(String(repeating: "a", count: 4096)).count == 1)
    }

    @Test func splitsPreferParagraphsThenLinesThenSpaces() {
        let paragraph = String(repeating: "x", count: 3000)
        #expect(MessageSplitter.split(paragraph + "\n\n" + paragraph) == [paragraph, paragraph])
        let words = Array(repeating: "word", count: 2000).joined(separator: " ")
        let chunks = MessageSplitter.split(words)
        #expect(chunks.count == 3)
        #expect(chunks.allSatisfy { $0.utf16.count <= 4096 && !$0.hasPrefix(" ") && !$0.hasSuffix(" ") })
        #expect(chunks.joined(separator: " ") == words)
    }

    @Test func neverCutsACharacterAndCountsUTF16LikeTelegram() {
        // Each emoji is two UTF-16 units: 3000 of them are 6000 units, so two chunks.
        let emoji = String(repeating: "😀", count: 3000)
        let chunks = MessageSplitter.split(emoji)
        #expect(chunks.count == 2)
        #expect(chunks.allSatisfy { $0.utf16.count <= 4096 })
        #expect(chunks.joined() == emoji)
        // A family emoji is one character of 11 UTF-16 units; it stays whole.
        let family = String(repeating: "👨‍👩‍👧‍👦", count: 500)
        #expect(MessageSplitter.split(family).joined() == family)
    }

    @Test func textWithoutBreaksIsCutAtTheLimit() {
        let text = String(repeating: "y", count: 9000)
        #expect(MessageSplitter.split(text).map(\.count) == [4096, 4096, 808])
    }
}

import Foundation
import Testing

@testable import Worker

@Suite struct SSEParserTests {
    /// Feeds `pieces` in order and returns every event, finishing the stream.
    private func parse(_ pieces: [[UInt8]], limit: Int = SSEParser.defaultMaximumEventSize) throws -> [SSEEvent] {
        var parser = SSEParser(maximumEventSize: limit)
        var events: [SSEEvent] = []
        for piece in pieces { events += try parser.feed(piece) }
        return events + parser.finish()
    }

    @Test func eventsSplitAtEveryByteComeOutWhole() throws {
        let text = "data: {\"a\":\"é🙂\"}\n\ndata: second\n\n"
        let bytes = Array(text.utf8)
        let whole = try parse([bytes])
        #expect(whole.map(\.data) == ["{\"a\":\"é🙂\"}", "second"])
        // One byte a piece: every line and every UTF-8 sequence is split.
        #expect(try parse(bytes.map { [$0] }) == whole)
        // Every two-way split.
        for cut in 1 ..< bytes.count {
            #expect(try parse([Array(bytes[..<cut]), Array(bytes[cut...])]) == whole, "cut at \(cut)")
        }
    }

    @Test func crlfLfAndCrAllEndLinesEvenWhenCRLFIsSplit() throws {
        let expected = ["one", "two", "three"]
        #expect(try parse([Array("data: one\r\n\r\ndata: two\n\ndata: three\r\r".utf8)]).map(\.data) == expected)
        // CR at the end of one piece, LF at the start of the next: one line end, not an empty line in between.
        let events = try parse([Array("data: a\r".utf8), Array("\ndata: b\r\n\r".utf8), Array("\n".utf8)])
        #expect(events.map(\.data) == ["a\nb"])
    }

    @Test func commentsAreSkippedAndDataLinesJoin() throws {
        let events = try parse([
            Array(": keep-alive\n\n: another\ndata: first line\ndata:second line\ndata\n\n".utf8)
        ])
        #expect(events.count == 1)
        #expect(events.first?.data == "first line\nsecond line\n")
    }

    @Test func eventAndIDFieldsAreKept() throws {
        let events = try parse([
            Array("\u{FEFF}event: error\nid: 7\ndata: {\"x\":1}\n\nevent: \ndata: plain\n\nid: 8\n\n".utf8)
        ])
        #expect(
            events == [
                SSEEvent(type: "error", data: "{\"x\":1}", lastEventID: "7"),
                SSEEvent(type: "message", data: "plain", lastEventID: "7"),
            ])
    }

    @Test func anEventWithoutItsEmptyLineIsDroppedAtTheEnd() throws {
        #expect(try parse([Array("data: whole\n\ndata: cut off".utf8)]).map(\.data) == ["whole"])
    }

    @Test func anOversizedEventIsAClearError() throws {
        let line = Array("data: ".utf8) + [UInt8](repeating: UInt8(ascii: "x"), count: 2000) + [10]
        #expect(throws: SSEError.eventTooLarge(limit: 1024)) {
            try parse([line], limit: 1024)
        }
        // Many small data lines of one event add up.
        let small = Array(String(repeating: "data: 0123456789\n", count: 200).utf8)
        #expect(throws: SSEError.eventTooLarge(limit: 1024)) {
            try parse([small], limit: 1024)
        }
        #expect("\(SSEError.eventTooLarge(limit: 8 << 20))" == "a server-sent event is larger than 8 MiB")
        // Events below the limit, however many, pass.
        let many = Array(String(repeating: "data: 0123456789\n\n", count: 500).utf8)
        #expect(try parse([many], limit: 1024).count == 500)
    }
}

import Foundation

/// One server-sent event: its type (`message` unless an `event:` field named another), its data and the last id.
struct SSEEvent: Sendable, Equatable {
    var type: String = "message"
    /// The `data:` fields of the event joined with line feeds.
    var data: String
    /// The last `id:` field seen so far in the stream, as the EventSource standard keeps it.
    var lastEventID: String?
}

/// Why a stream of server-sent events cannot be read on.
enum SSEError: Error, Sendable, Equatable, CustomStringConvertible {
    /// One event (its lines so far) is larger than the parser's limit.
    case eventTooLarge(limit: Int)

    var description: String {
        switch self {
        case .eventTooLarge(let limit): return "a server-sent event is larger than \(limit >> 20) MiB"
        }
    }
}

/// An incremental parser of `text/event-stream` bodies, fed with bytes as they arrive.
///
/// Follows the WHATWG EventSource parsing rules: lines end with CRLF, LF or CR (a CRLF split across two pieces is
/// one line end); a line starting with `:` is a comment (`: keep-alive`); `data:` fields of one event join with
/// `\n`; an empty line dispatches the event, and an event without data is dropped; one space after the colon is
/// removed; a byte-order mark at the very start is skipped. Lines are kept as bytes until they are whole, so a piece
/// may end in the middle of a UTF-8 sequence. An event still open when the body ends is dropped (`finish()`).
struct SSEParser: Sendable {
    /// The default limit of one event: far above any chat-completion chunk, far below the memory a runaway
    /// stream could take.
    static let defaultMaximumEventSize = 8 << 20

    let maximumEventSize: Int
    private var line: [UInt8] = []
    private var data: [UInt8] = []
    private var hasData = false
    private var eventType: String?
    private var lastEventID: String?
    /// The previous piece ended with CR: a LF at the start of the next one ends no second line.
    private var afterCR = false
    private var firstLine = true

    init(maximumEventSize: Int = SSEParser.defaultMaximumEventSize) {
        self.maximumEventSize = maximumEventSize
    }

    /// Takes the next piece of the body and returns the events it completed, in order.
    ///
    /// - Throws: `SSEError.eventTooLarge` once an event grows past `maximumEventSize`; the parser is then spent.
    mutating func feed(_ bytes: some Sequence<UInt8>) throws(SSEError) -> [SSEEvent] {
        var events: [SSEEvent] = []
        for byte in bytes { try take(byte, into: &events) }
        return events
    }

    /// Ends the stream: an event without its closing empty line is dropped, as the standard says.
    mutating func finish() -> [SSEEvent] {
        line.removeAll()
        data.removeAll()
        hasData = false
        eventType = nil
        return []
    }

    private mutating func take(_ byte: UInt8, into events: inout [SSEEvent]) throws(SSEError) {
        switch byte {
        case UInt8(ascii: "\n"):
            if afterCR {
                afterCR = false
                return
            }
            endLine(into: &events)
        case UInt8(ascii: "\r"):
            endLine(into: &events)
            afterCR = true
        default:
            afterCR = false
            guard line.count + data.count < maximumEventSize else { throw .eventTooLarge(limit: maximumEventSize) }
            line.append(byte)
        }
    }

    private mutating func endLine(into events: inout [SSEEvent]) {
        defer { line.removeAll(keepingCapacity: true) }
        if firstLine {
            firstLine = false
            if line.starts(with: [0xEF, 0xBB, 0xBF]) { line.removeFirst(3) }
        }
        guard !line.isEmpty else {
            dispatch(into: &events)
            return
        }
        if line[0] == UInt8(ascii: ":") { return }
        let name: String
        var value: ArraySlice<UInt8>
        if let colon = line.firstIndex(of: UInt8(ascii: ":")) {
            name = String(decoding: line[..<colon], as: UTF8.self)
            value = line[(colon + 1)...]
            if value.first == UInt8(ascii: " ") { value = value.dropFirst() }
        } else {
            name = String(decoding: line, as: UTF8.self)
            value = []
        }
        switch name {
        case "data":
            if hasData { data.append(UInt8(ascii: "\n")) }
            data.append(contentsOf: value)
            hasData = true
        case "event": eventType = String(decoding: value, as: UTF8.self)
        case "id" where !value.contains(0): lastEventID = String(decoding: value, as: UTF8.self)
        default: break  // `retry:` and unknown fields are ignored.
        }
    }

    private mutating func dispatch(into events: inout [SSEEvent]) {
        defer {
            data.removeAll(keepingCapacity: true)
            hasData = false
            eventType = nil
        }
        guard hasData else { return }
        let type = eventType.flatMap { $0.isEmpty ? nil : $0 } ?? "message"
        events.append(SSEEvent(type: type, data: String(decoding: data, as: UTF8.self), lastEventID: lastEventID))
    }
}

/// Cuts a byte stream into lines: without their `\n` (and a `\r` before it), a line longer than `limit` bytes in
/// pieces of at most `limit` bytes cut between UTF-8 characters, and what is left at the end as a last line.
public struct LineSplitter: Sendable {
    public let limit: Int
    private var pending: [UInt8] = []

    /// - Parameter limit: the longest piece, in bytes (at least 4, so one character always fits).
    public init(limit: Int) {
        self.limit = max(limit, 4)
    }

    /// Adds bytes; returns the lines (and pieces of long lines) they complete.
    public mutating func feed<Bytes: Collection<UInt8>>(_ bytes: Bytes) -> [String] {
        var lines: [String] = []
        for byte in bytes {
            if byte == UInt8(ascii: "\n") {
                if pending.last == UInt8(ascii: "\r") { pending.removeLast() }
                lines.append(String(decoding: pending, as: UTF8.self))
                pending.removeAll(keepingCapacity: true)
                continue
            }
            pending.append(byte)
            // One byte over the limit: cut before it, or earlier where it continues a character.
            if pending.count > limit {
                var cut = limit
                while cut > 0 && pending[cut] & 0xC0 == 0x80 { cut -= 1 }
                if cut == 0 { cut = limit }
                lines.append(String(decoding: pending[..<cut], as: UTF8.self))
                pending.removeFirst(cut)
            }
        }
        return lines
    }

    /// The last line when the stream ended without a newline, or nil.
    public mutating func finish() -> String? {
        defer { pending.removeAll() }
        return pending.isEmpty ? nil : String(decoding: pending, as: UTF8.self)
    }
}

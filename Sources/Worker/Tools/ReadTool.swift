import Foundation
import Sandbox

/// `read {path, offset?, limit?}`: lines of a text file under the workspace, numbered, a page at a time.
struct ReadTool {
    struct Arguments: Decodable, Equatable {
        var path: String
        /// The first line to return, counting from 1.
        var offset: Int?
        /// How many lines at most.
        var limit: Int?
    }

    static let name = "read"
    static let description =
        "Read a text file from the workspace, with line numbers. Pages by lines: offset is "
        + "the first line (1-based), limit the number of lines (default 200)."
    static let schema = """
        {"type":"object","properties":{"path":{"type":"string","description":"file path relative to the workspace"},\
        "offset":{"type":"integer","minimum":1},"limit":{"type":"integer","minimum":1,"maximum":2000}},\
        "required":["path"],"additionalProperties":false}
        """

    static let defaultLimit = 200
    static let maximumLimit = 2000
    /// How much of the file is read at a time; files of any size are paged without loading them whole.
    static let chunkSize = 1 << 20

    let root: ConfinedRoot
    let outputLimit: Int
    /// Tests make the chunks small so that lines cross chunk boundaries.
    var chunkSize = Self.chunkSize

    func run(_ arguments: Arguments) -> ToolResult {
        let stopwatch = Stopwatch()
        let offset = arguments.offset ?? 1
        let limit = arguments.limit ?? Self.defaultLimit
        guard offset >= 1 else { return .failure("offset must be 1 or more, got \(offset)", tier: .read) }
        guard (1 ... Self.maximumLimit).contains(limit) else {
            return .failure("limit must be from 1 to \(Self.maximumLimit), got \(limit)", tier: .read)
        }
        let fd: Int32
        do {
            fd = try root.open(arguments.path, flags: O_RDONLY)
        } catch {
            return .failure("\(error)", tier: .read, durationMs: stopwatch.milliseconds)
        }
        defer { close(fd) }
        var info = stat()
        guard fstat(fd, &info) == 0, info.st_mode & S_IFMT == S_IFREG else {
            return .failure("\(arguments.path) is not a regular file", tier: .read, durationMs: stopwatch.milliseconds)
        }
        // Room for the line number and the cut note, so a cut line always fits a page.
        var page = LinePage(window: offset ..< offset + limit, lineCap: max(outputLimit - 96, outputLimit / 2))
        var buffer = [UInt8](repeating: 0, count: max(chunkSize, 1))
        var first = true
        while !page.complete {
            let count = buffer.withUnsafeMutableBytes { Glibc.read(fd, $0.baseAddress, $0.count) }
            if count < 0 && errno == EINTR { continue }
            guard count >= 0 else {
                return .failure(
                    "\(arguments.path): read failed (errno \(errno))", tier: .read, durationMs: stopwatch.milliseconds)
            }
            if first && buffer[0 ..< min(count, 8192)].contains(0) {
                return .failure(
                    "\(arguments.path) is a binary file (\(info.st_size) bytes); read shows text only",
                    tier: .read, durationMs: stopwatch.milliseconds)
            }
            first = false
            if count == 0 {
                page.end()
                break
            }
            page.consume(buffer[0 ..< count])
        }
        guard page.complete || offset <= max(page.linesSeen, 1) else {
            return .failure(
                "offset \(offset) is past the end: \(arguments.path) has \(page.linesSeen) lines", tier: .read,
                durationMs: stopwatch.milliseconds)
        }
        let last = offset - 1 + page.lines.count
        let width = String(max(last, 1)).count
        var text = ""
        for (index, line) in page.lines.enumerated() {
            let number = String(offset + index)
            text += String(repeating: " ", count: width - number.count) + number + "\t" + line + "\n"
        }
        let (output, truncated, shown) = cappedLines(text, limit: outputLimit)
        let nextLine = offset + shown
        let hasMore = shown < page.lines.count || page.moreAfterWindow
        return ToolResult(
            ok: true, exitCode: 0, stdout: output, stderr: "", stdoutTruncated: truncated, stderrTruncated: false,
            durationMs: stopwatch.milliseconds, tier: .read, nextOffset: hasMore ? nextLine : nil, hasMore: hasMore)
    }
}

/// Splits a file's bytes into lines as they stream in and keeps only the lines of one window: a file of any size
/// pages in bounded memory. Lines end at "\n" bytes (a "\r" before it is not shown: splitting decoded text would
/// keep "\r\n", one Character in Swift, inside a line); a last line without "\n" counts; a line longer than
/// `lineCap` bytes is cut there with a note, so that one huge line cannot block paging.
struct LinePage {
    let window: Range<Int>
    let lineCap: Int
    /// The window's lines, decoded.
    private(set) var lines: [String] = []
    /// Lines completed so far (all of them once the file ended).
    private(set) var linesSeen = 0
    /// Whether the file has a line after the window.
    private(set) var moreAfterWindow = false
    private var current: [UInt8] = []
    private var currentLength = 0

    init(window: Range<Int>, lineCap: Int) {
        self.window = window
        self.lineCap = lineCap
    }

    /// The window is full and it is known whether anything follows.
    var complete: Bool { moreAfterWindow }

    mutating func consume(_ bytes: ArraySlice<UInt8>) {
        var start = bytes.startIndex
        while start < bytes.endIndex && !moreAfterWindow {
            if linesSeen >= window.upperBound - 1 {
                // Every line of the window is done: any byte left means one more line.
                moreAfterWindow = true
                return
            }
            let newline = bytes[start...].firstIndex(of: UInt8(ascii: "\n"))
            let end = newline ?? bytes.endIndex
            append(bytes[start ..< end])
            if newline != nil { finishLine() }
            start = newline.map { $0 + 1 } ?? bytes.endIndex
        }
    }

    /// The file ended: a last line without a newline still counts.
    mutating func end() {
        if currentLength > 0 { finishLine() }
    }

    private var inWindow: Bool { window.contains(linesSeen + 1) }

    private mutating func append(_ bytes: ArraySlice<UInt8>) {
        if inWindow && current.count <= lineCap { current += bytes.prefix(lineCap + 1 - current.count) }
        currentLength += bytes.count
    }

    private mutating func finishLine() {
        if inWindow {
            var line = current
            var length = currentLength
            if currentLength <= lineCap + 1, line.last == UInt8(ascii: "\r") {
                line.removeLast()
                length -= 1
            }
            if length > lineCap {
                // Cut on a character boundary: drop UTF-8 continuation bytes that lost their start.
                var kept = Array(line.prefix(lineCap))
                while let byte = kept.last, byte & 0xC0 == 0x80 { kept.removeLast() }
                if let byte = kept.last, byte >= 0xC0 { kept.removeLast() }
                lines.append(String(decoding: kept, as: UTF8.self) + " [… line cut: \(length) bytes in all]")
            } else {
                lines.append(String(decoding: line, as: UTF8.self))
            }
        }
        linesSeen += 1
        current.removeAll(keepingCapacity: true)
        currentLength = 0
    }
}

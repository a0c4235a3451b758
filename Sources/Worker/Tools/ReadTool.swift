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
    /// Files larger than this are read only as far as the requested page needs.
    static let maximumBytes = 64 << 20

    let root: ConfinedRoot
    let outputLimit: Int

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
        let handle = FileHandle(fileDescriptor: fd, closeOnDealloc: true)
        var info = stat()
        guard fstat(fd, &info) == 0, info.st_mode & S_IFMT == S_IFREG else {
            return .failure("\(arguments.path) is not a regular file", tier: .read, durationMs: stopwatch.milliseconds)
        }
        let data = (try? handle.read(upToCount: Self.maximumBytes)) ?? Data()
        if data.prefix(8192).contains(0) {
            return .failure(
                "\(arguments.path) is a binary file (\(info.st_size) bytes); read shows text only",
                tier: .read, durationMs: stopwatch.milliseconds)
        }
        // Lines end at "\n" bytes (a "\r" before it is not shown): splitting decoded text would keep "\r\n",
        // one Character in Swift, inside a line, so a CRLF file would read as one long line.
        var lines = data.split(separator: UInt8(ascii: "\n"), omittingEmptySubsequences: false)
        if data.isEmpty || data.last == UInt8(ascii: "\n") { lines.removeLast() }
        guard offset <= max(lines.count, 1) else {
            return .failure(
                "offset \(offset) is past the end: \(arguments.path) has \(lines.count) lines", tier: .read,
                durationMs: stopwatch.milliseconds)
        }
        let end = min(lines.count, offset - 1 + limit)
        let width = String(end).count
        var page = ""
        for index in (offset - 1) ..< end {
            let number = String(index + 1)
            var line = lines[index]
            if line.last == UInt8(ascii: "\r") { line.removeLast() }
            page +=
                String(repeating: " ", count: width - number.count) + number + "\t"
                + String(decoding: line, as: UTF8.self) + "\n"
        }
        let (output, truncated, shown) = cappedLines(page, limit: outputLimit)
        let nextLine = offset + shown
        let hasMore = nextLine <= lines.count
        return ToolResult(
            ok: true, exitCode: 0, stdout: output, stderr: "", stdoutTruncated: truncated, stderrTruncated: false,
            durationMs: stopwatch.milliseconds, tier: .read, nextOffset: hasMore ? nextLine : nil, hasMore: hasMore)
    }
}

import Glibc

/// Searches files for grep a buffer at a time, read with plain read(2) into one buffer reused from file to file, and
/// adds their matching lines with context to a `GrepPage`.
///
/// Lines end at "\n", and a "\r" just before it belongs to the line ending, so CRLF files read like LF files; a last
/// line without "\n" counts when it is not empty. A file with a NUL byte in its first `binaryProbe` bytes is binary
/// and skipped. Besides the lines being searched, the buffer keeps the `context` lines before them (to print before
/// a match), and until the end of the file only lines followed by `context` complete lines are searched (to print
/// after one); the buffer doubles whenever that does not fit.
struct GrepScanner {
    /// How far into a file a NUL byte makes it binary.
    static let binaryProbe = 8192
    /// The buffer's size for a new scanner; far more than most source files, small enough to keep around.
    static let initialBufferSize = 128 << 10

    let matcher: LineMatcher
    let context: Int
    private var buffer: [UInt8]
    /// `buffer` with its ASCII letters lowercased, kept in step with it when the matcher folds case.
    private var folded: [UInt8]

    /// A scanner whose buffer starts at `bufferSize` bytes (at least `binaryProbe`).
    init(matcher: LineMatcher, context: Int, bufferSize: Int) {
        self.matcher = matcher
        self.context = context
        buffer = [UInt8](repeating: 0, count: max(bufferSize, Self.binaryProbe))
        folded = matcher.foldsCase ? buffer : []
    }

    /// Where the search of one file stands.
    private struct Progress {
        let path: String
        /// Bytes of the file in the buffer.
        var count = 0
        var endOfFile = false
        /// Where the next line to search starts in the buffer, and its number in the file.
        var cursor = 0
        var lineNumber = 1
        /// The number of the last line of this file on the page, 0 for none.
        var lastPrinted = 0
        /// The next occurrence of the literal and the next non-ASCII byte from `cursor` on, or -1 when not known.
        var nextLiteral = -1
        var nextNonASCII = -1
    }

    /// Searches the regular file open on `fd` (shown as `path`), adding to `page` until the file ends or the page
    /// is finished.
    mutating func scan(_ fd: Int32, path: String, into page: inout GrepPage) {
        var progress = Progress(path: path)
        fill(fd, &progress)
        let probe = min(progress.count, Self.binaryProbe)
        let binary = buffer.withUnsafeBufferPointer {
            ByteScan.firstIndex(of: 0, in: UnsafeBufferPointer(rebasing: $0[..<probe])) != nil
        }
        guard !binary else { return }
        while true {
            search(&progress, &page)
            if page.finished || progress.endOfFile { return }
            compact(&progress)
            fill(fd, &progress)
        }
    }

    /// Reads until the buffer is full or the file ends; a read error ends the file where it stopped.
    private mutating func fill(_ fd: Int32, _ progress: inout Progress) {
        let start = progress.count
        var count = start
        var endOfFile = false
        buffer.withUnsafeMutableBytes { bytes in
            guard let base = bytes.baseAddress else { return }
            while count < bytes.count {
                let got = read(fd, base + count, bytes.count - count)
                if got > 0 {
                    count += got
                } else if got < 0 && errno == EINTR {
                    continue
                } else {
                    endOfFile = true
                    return
                }
            }
        }
        if matcher.foldsCase {
            buffer.withUnsafeBufferPointer { source in
                folded.withUnsafeMutableBufferPointer { target in
                    for index in start ..< count { target[index] = ByteScan.lowercasedASCII(source[index]) }
                }
            }
        }
        progress.count = count
        progress.endOfFile = endOfFile
    }

    /// Searches the lines that can be searched with what the buffer holds.
    private func search(_ progress: inout Progress, _ page: inout GrepPage) {
        buffer.withUnsafeBufferPointer { bytes in
            (matcher.foldsCase ? folded : buffer).withUnsafeBufferPointer { searchable in
                let lines = BufferedLines(
                    bytes: UnsafeBufferPointer(rebasing: bytes[..<progress.count]),
                    searchable: UnsafeBufferPointer(rebasing: searchable[..<progress.count]))
                let end = progress.endOfFile ? progress.count : lines.start(linesAbove: context, lines.completeEnd)
                progress.nextLiteral = -1
                progress.nextNonASCII = -1
                while progress.cursor < end, !page.finished {
                    // Lines before the next candidate cannot match: count them and go past.
                    let candidate = nextCandidate(lines, &progress, end: end)
                    let start = candidate < end ? lines.lineStart(containing: candidate, floor: progress.cursor) : end
                    progress.lineNumber += lines.newlines(progress.cursor ..< start)
                    progress.cursor = start
                    guard start < end else { return }
                    let line = lines.line(at: start)
                    if lines.matches(start ..< line.end, matcher) {
                        report(lines, start ..< line.end, next: line.next, &progress, &page)
                    }
                    progress.cursor = line.next
                    progress.lineNumber += 1
                }
            }
        }
    }

    /// The first offset from the cursor on that may be in a matching line: the next occurrence of the literal, or
    /// the next non-ASCII byte when such lines need the full test; with no literal, the cursor itself.
    private func nextCandidate(_ lines: BufferedLines, _ progress: inout Progress, end: Int) -> Int {
        let cursor = progress.cursor
        guard !matcher.literal.isEmpty else { return cursor }
        if progress.nextLiteral < cursor {
            let rest = UnsafeBufferPointer(rebasing: lines.searchable[cursor ..< end])
            progress.nextLiteral = ByteScan.firstIndex(of: matcher.literal, in: rest).map { cursor + $0 } ?? end
        }
        guard matcher.fullTestForNonASCII else { return progress.nextLiteral }
        if progress.nextNonASCII < cursor {
            let rest = UnsafeBufferPointer(rebasing: lines.bytes[cursor ..< end])
            progress.nextNonASCII = ByteScan.firstNonASCII(in: rest).map { cursor + $0 } ?? end
        }
        return min(progress.nextLiteral, progress.nextNonASCII)
    }

    /// Puts a matching line on the page with its context, as `path:n:text` and `path-n-text`, with `--` between
    /// groups of lines that are not adjacent; lines after it that match are left for their own turn.
    private func report(
        _ lines: BufferedLines, _ text: Range<Int>, next: Int, _ progress: inout Progress, _ page: inout GrepPage
    ) {
        guard page.admit() else { return }
        let path = progress.path
        let number = progress.lineNumber
        let from = min(number, max(number - context, progress.lastPrinted + 1))
        var block = context > 0 && progress.lastPrinted > 0 && from > progress.lastPrinted + 1 ? "--\n" : ""
        var offset = lines.start(linesAbove: number - from, text.lowerBound)
        for before in from ..< number {
            let line = lines.line(at: offset)
            block += "\(path)-\(before)-\(lines.text(offset ..< line.end))\n"
            offset = line.next
        }
        block += "\(path):\(number):\(lines.text(text))\n"
        var last = number
        offset = next
        while last < number + context, offset < lines.bytes.count {
            let line = lines.line(at: offset)
            last += 1
            if !lines.matches(offset ..< line.end, matcher) {
                block += "\(path)-\(last)-\(lines.text(offset ..< line.end))\n"
            }
            offset = line.next
        }
        if page.add(block) { progress.lastPrinted = last }
    }

    /// Drops what no later search needs (all but the `context` lines before the cursor) and makes room to read on.
    private mutating func compact(_ progress: inout Progress) {
        let keep = buffer.withUnsafeBufferPointer { bytes in
            let held = UnsafeBufferPointer(rebasing: bytes[..<progress.count])
            return BufferedLines(bytes: held, searchable: held).start(linesAbove: context, progress.cursor)
        }
        let kept = progress.count - keep
        Self.moveToFront(&buffer, from: keep, count: kept)
        if matcher.foldsCase { Self.moveToFront(&folded, from: keep, count: kept) }
        progress.count = kept
        progress.cursor -= keep
        if kept == buffer.count {
            buffer += repeatElement(0, count: buffer.count)
            if matcher.foldsCase { folded += repeatElement(0, count: folded.count) }
        }
    }

    /// Moves `count` bytes from `offset` to the start of `bytes`.
    private static func moveToFront(_ bytes: inout [UInt8], from offset: Int, count: Int) {
        bytes.withUnsafeMutableBytes { raw in
            guard let base = raw.baseAddress else { return }
            memmove(base, base + offset, count)
        }
    }
}

/// Line arithmetic over the file bytes in the scanner's buffer, whose offset 0 is always the start of a line.
private struct BufferedLines {
    let bytes: UnsafeBufferPointer<UInt8>
    /// The same bytes as the matcher searches them (lowercased when it folds case).
    let searchable: UnsafeBufferPointer<UInt8>

    /// Where the last complete line ends: just after the last "\n", or 0.
    var completeEnd: Int { bytes.lastIndex(of: UInt8(ascii: "\n")).map { $0 + 1 } ?? 0 }

    /// The line starting at `start`: where its text ends (before "\n" or "\r\n") and where the next line starts.
    func line(at start: Int) -> (end: Int, next: Int) {
        guard
            let newline = ByteScan.firstIndex(
                of: UInt8(ascii: "\n"), in: UnsafeBufferPointer(rebasing: bytes[start...]))
        else { return (bytes.count, bytes.count) }
        let end = start + newline
        return (end > start && bytes[end - 1] == UInt8(ascii: "\r") ? end - 1 : end, end + 1)
    }

    /// The start of the line holding `offset`, looking back no further than `floor` (a line start).
    func lineStart(containing offset: Int, floor: Int) -> Int {
        var start = offset
        while start > floor, bytes[start - 1] != UInt8(ascii: "\n") { start -= 1 }
        return start
    }

    /// The start of the line `count` lines above the one starting at `start`, or 0 when fewer are held.
    func start(linesAbove count: Int, _ start: Int) -> Int {
        var position = start
        for _ in 0 ..< count where position > 0 {
            position = lineStart(containing: position - 1, floor: 0)
        }
        return position
    }

    /// How many lines end within `range`.
    func newlines(_ range: Range<Int>) -> Int {
        ByteScan.count(of: UInt8(ascii: "\n"), in: UnsafeBufferPointer(rebasing: bytes[range]))
    }

    /// Whether the line text in `range` matches.
    func matches(_ range: Range<Int>, _ matcher: LineMatcher) -> Bool {
        matcher.matches(
            UnsafeBufferPointer(rebasing: bytes[range]), searchable: UnsafeBufferPointer(rebasing: searchable[range]))
    }

    /// The line text in `range` as printed, invalid UTF-8 shown as U+FFFD.
    func text(_ range: Range<Int>) -> String {
        String(decoding: UnsafeBufferPointer(rebasing: bytes[range]), as: UTF8.self)
    }
}

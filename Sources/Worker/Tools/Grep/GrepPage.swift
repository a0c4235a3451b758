/// The page of grep output being gathered across files: the first `offset` matches are counted but not shown, at
/// most `limit` are shown, and the text stays within `outputLimit` UTF-8 bytes, whole matches only.
struct GrepPage {
    let offset: Int
    let limit: Int
    let outputLimit: Int
    private(set) var output = ""
    /// Matches seen so far, shown or not.
    private(set) var matchCount = 0
    private(set) var shown = 0
    /// True when a match's text did not fit within `outputLimit`.
    private(set) var truncated = false
    /// True once nothing more can go on the page: the search stops.
    private(set) var finished = false
    /// Files not searched because of their size: the results may miss matches in them, so the page says so.
    private(set) var skipped: [String] = []

    init(offset: Int, limit: Int, outputLimit: Int) {
        self.offset = offset
        self.limit = limit
        self.outputLimit = outputLimit
    }

    /// Counts a match and says whether it goes on the page; a match past a full page finishes it (that match is
    /// what tells `has_more`).
    mutating func admit() -> Bool {
        matchCount += 1
        guard matchCount > offset else { return false }
        guard shown < limit else {
            finished = true
            return false
        }
        return true
    }

    /// Appends an admitted match's lines; when they would pass `outputLimit` the page is truncated and finished
    /// instead, and this returns false.
    mutating func add(_ block: String) -> Bool {
        guard output.utf8.count + block.utf8.count <= outputLimit else {
            truncated = true
            finished = true
            return false
        }
        output += block
        shown += 1
        return true
    }

    /// Records a file left out because it is larger than `limit` bytes.
    mutating func skip(_ path: String) {
        skipped.append(path)
    }

    /// The tool's result for this page.
    var result: ToolResult {
        let next = offset + shown
        let hasMore = truncated || matchCount > next
        var note = ""
        if !skipped.isEmpty {
            let named = skipped.prefix(5).joined(separator: ", ") + (skipped.count > 5 ? ", …" : "")
            note =
                "not searched: \(skipped.count) file(s) larger than \(GrepTool.maximumFileSize >> 20) MiB (\(named)); "
                + "use bash with grep for them"
        }
        return ToolResult(
            ok: true, exitCode: shown > 0 || offset > 0 ? 0 : 1, stdout: output, stderr: note,
            stdoutTruncated: truncated, stderrTruncated: false, durationMs: 0, tier: .read,
            nextOffset: hasMore ? next : nil, hasMore: hasMore)
    }
}

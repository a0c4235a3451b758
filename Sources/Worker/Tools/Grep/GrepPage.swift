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

    /// The tool's result for this page.
    var result: ToolResult {
        let next = offset + shown
        let hasMore = truncated || matchCount > next
        return ToolResult(
            ok: true, exitCode: shown > 0 || offset > 0 ? 0 : 1, stdout: output, stderr: "", stdoutTruncated: truncated,
            stderrTruncated: false, durationMs: 0, tier: .read, nextOffset: hasMore ? next : nil, hasMore: hasMore)
    }
}

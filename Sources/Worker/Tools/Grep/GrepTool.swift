import Foundation
import Sandbox

/// `grep {pattern, path?, glob?, fixed_string?, ignore_case?, context?, offset?, limit?}`: matching lines of the
/// workspace's text files as `path:line:text` (context lines as `path-line-text`), binary files skipped, paged by
/// matches.
struct GrepTool {
    struct Arguments: Decodable, Equatable {
        var pattern: String
        var path: String?
        var glob: String?
        var fixedString: Bool?
        var ignoreCase: Bool?
        var context: Int?
        var offset: Int?
        var limit: Int?

        enum CodingKeys: String, CodingKey {
            case pattern, path, glob, context, offset, limit
            case fixedString = "fixed_string"
            case ignoreCase = "ignore_case"
        }
    }

    static let name = "grep"
    static let description =
        "Search the workspace's text files for a regular expression (or a fixed string), "
        + "optionally only files whose name matches glob, with context lines. Output is path:line:text. Pages by "
        + "offset (matches to skip) and limit (default 100)."
    static let schema = """
        {"type":"object","properties":{"pattern":{"type":"string","minLength":1},"path":{"type":"string"},\
        "glob":{"type":"string"},"fixed_string":{"type":"boolean"},"ignore_case":{"type":"boolean"},\
        "context":{"type":"integer","minimum":0,"maximum":20},"offset":{"type":"integer","minimum":0},\
        "limit":{"type":"integer","minimum":1,"maximum":2000}},"required":["pattern"],"additionalProperties":false}
        """

    /// Larger files are not searched.
    static let maximumFileSize = 32 << 20

    let root: ConfinedRoot
    let outputLimit: Int
    /// The walk gives up after this long (the per-call time limit), reporting incomplete results.
    var timeLimit: Duration? = nil
    /// The scanner's first buffer size; tests make it small so that lines and context cross buffer boundaries.
    var bufferSize = GrepScanner.initialBufferSize

    func run(_ arguments: Arguments) -> ToolResult {
        let offset = arguments.offset ?? 0
        let limit = arguments.limit ?? 100
        let context = arguments.context ?? 0
        guard !arguments.pattern.isEmpty else { return .failure("pattern is empty", tier: .read) }
        guard offset >= 0, (1 ... 2000).contains(limit), (0 ... 20).contains(context) else {
            return .failure("offset must be 0 or more, limit 1 to 2000, context 0 to 20", tier: .read)
        }
        guard
            let matcher = LineMatcher(
                pattern: arguments.pattern, fixedString: arguments.fixedString == true,
                ignoreCase: arguments.ignoreCase == true)
        else {
            return .failure("the pattern is not a valid regular expression: \(arguments.pattern)", tier: .read)
        }
        var page = GrepPage(offset: offset, limit: limit, outputLimit: outputLimit)
        var scanner = GrepScanner(matcher: matcher, context: context, bufferSize: bufferSize)
        // Files are searched as the walk finds them, so a full page ends the walk too.
        let walker = TreeWalker(
            root: root, maximumEntries: 200_000, deadline: timeLimit.map { ContinuousClock.now + $0 })
        let start = arguments.path ?? "."
        let end = walker.walk(start, maxDepth: 64) { entry in
            guard entry.kind == "f" else { return true }
            if let glob = arguments.glob {
                let base = String(entry.path.split(separator: "/").last ?? "")
                guard fnmatch(glob, base, 0) == 0 || fnmatch(glob, entry.path, 0) == 0 else { return true }
            }
            search(entry.path, shownAs: root.displayed(entry.path), with: &scanner, into: &page)
            return !page.finished
        }
        switch end {
        case .finished:
            break
        case .cut(let reason):
            var result = page.result
            result.stderr = [TreeWalker.cutNote(reason), result.stderr].filter { !$0.isEmpty }.joined(separator: "\n")
            return result
        case .failed(let error):
            // A single file is a valid start as well.
            guard error.hasSuffix("is not a directory") else { return .failure(error, tier: .read) }
            search(start, shownAs: start, with: &scanner, into: &page)
        }
        return page.result
    }

    /// Searches one file if it is a regular file (not reached through a symlink) of at most `maximumFileSize`
    /// bytes; a larger one is named in the page's note, anything else is passed over in silence, like a binary
    /// file. Matches name the file `shown`.
    private func search(
        _ path: String, shownAs shown: String, with scanner: inout GrepScanner, into page: inout GrepPage
    ) {
        guard let fd = try? root.open(path, flags: O_RDONLY, followSymlinks: false) else { return }
        defer { close(fd) }
        var info = stat()
        guard fstat(fd, &info) == 0, info.st_mode & S_IFMT == S_IFREG else { return }
        guard info.st_size <= Self.maximumFileSize else {
            page.skip(shown)
            return
        }
        scanner.scan(fd, path: shown, into: &page)
    }
}

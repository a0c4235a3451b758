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

    let root: ConfinedRoot
    let outputLimit: Int

    func run(_ arguments: Arguments) -> ToolResult {
        let offset = arguments.offset ?? 0
        let limit = arguments.limit ?? 100
        let context = arguments.context ?? 0
        guard !arguments.pattern.isEmpty else { return .failure("pattern is empty", tier: .read) }
        guard offset >= 0, (1 ... 2000).contains(limit), (0 ... 20).contains(context) else {
            return .failure("offset must be 0 or more, limit 1 to 2000, context 0 to 20", tier: .read)
        }
        let matcher: (Substring) -> Bool
        if arguments.fixedString == true {
            let needle = arguments.pattern
            let options: String.CompareOptions = arguments.ignoreCase == true ? [.caseInsensitive] : []
            matcher = { $0.range(of: needle, options: options) != nil }
        } else {
            let regex: NSRegularExpression
            do {
                regex = try NSRegularExpression(
                    pattern: arguments.pattern, options: arguments.ignoreCase == true ? [.caseInsensitive] : [])
            } catch {
                return .failure("the pattern is not a valid regular expression: \(arguments.pattern)", tier: .read)
            }
            matcher = { line in
                let text = String(line)
                return regex.firstMatch(in: text, range: NSRange(text.startIndex..., in: text)) != nil
            }
        }
        var output = ""
        var matchCount = 0
        var shown = 0
        var truncated = false
        var files: [String] = []
        let walker = TreeWalker(root: root, maximumEntries: 200_000)
        let start = arguments.path ?? "."
        let error = walker.walk(start, maxDepth: 64) { entry in
            guard entry.kind == "f" else { return true }
            if let glob = arguments.glob {
                let base = String(entry.path.split(separator: "/").last ?? "")
                guard fnmatch(glob, base, 0) == 0 || fnmatch(glob, entry.path, 0) == 0 else { return true }
            }
            files.append(entry.path)
            return true
        }
        if let error {
            // A single file is a valid start as well.
            if error.hasSuffix("is not a directory") { files = [start] } else { return .failure(error, tier: .read) }
        }
        fileLoop: for file in files {
            guard case .success(let data) = AtomicWrite.read(file, in: root, limit: 32 << 20),
                !data.prefix(8192).contains(0)
            else { continue }
            let lines = String(decoding: data, as: UTF8.self).split(separator: "\n", omittingEmptySubsequences: false)
            var lastPrinted = -1
            for (index, line) in lines.enumerated() where matcher(line) {
                matchCount += 1
                guard matchCount > offset else { continue }
                guard shown < limit else { break fileLoop }
                var block = ""
                let from = min(index, max(index - context, lastPrinted + 1))
                if context > 0, lastPrinted >= 0, from > lastPrinted + 1 { block += "--\n" }
                for contextIndex in from ..< index {
                    block += "\(file)-\(contextIndex + 1)-\(lines[contextIndex])\n"
                }
                block += "\(file):\(index + 1):\(line)\n"
                var end = index
                if context > 0 {
                    end = min(lines.count - 1, index + context)
                    for contextIndex in (index + 1) ..< (end + 1) where !matcher(lines[contextIndex]) {
                        block += "\(file)-\(contextIndex + 1)-\(lines[contextIndex])\n"
                    }
                }
                if output.utf8.count + block.utf8.count > outputLimit {
                    truncated = true
                    break fileLoop
                }
                output += block
                lastPrinted = context > 0 ? end : index
                shown += 1
            }
        }
        let next = offset + shown
        let hasMore = truncated || matchCount > next
        return ToolResult(
            ok: true, exitCode: shown > 0 || offset > 0 ? 0 : 1, stdout: output, stderr: "", stdoutTruncated: truncated,
            stderrTruncated: false, durationMs: 0, tier: .read, nextOffset: hasMore ? next : nil, hasMore: hasMore)
    }
}

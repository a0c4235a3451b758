import Foundation
import Sandbox

/// `find {path, name?, type?, max_depth?, offset?, limit?}`: workspace entries by name glob and type, paged.
struct FindTool {
    struct Arguments: Decodable, Equatable {
        var path: String
        var name: String?
        var type: String?
        var maxDepth: Int?
        var offset: Int?
        var limit: Int?

        enum CodingKeys: String, CodingKey {
            case path, name, type, offset, limit
            case maxDepth = "max_depth"
        }
    }

    static let name = "find"
    static let description =
        "Find files and directories under a workspace path: name is a glob (like *.swift), "
        + "type is f, d or l, max_depth limits the depth (default 20). Pages by offset and limit (default 200)."
    static let schema = """
        {"type":"object","properties":{"path":{"type":"string"},"name":{"type":"string"},\
        "type":{"type":"string","enum":["f","d","l"]},"max_depth":{"type":"integer","minimum":1,"maximum":64},\
        "offset":{"type":"integer","minimum":0},"limit":{"type":"integer","minimum":1,"maximum":5000}},\
        "required":["path"],"additionalProperties":false}
        """

    let root: ConfinedRoot
    let outputLimit: Int
    /// The walk gives up after this long (the per-call time limit), reporting incomplete results.
    var timeLimit: Duration? = nil

    func run(_ arguments: Arguments) -> ToolResult {
        let offset = arguments.offset ?? 0
        let limit = arguments.limit ?? 200
        let maxDepth = arguments.maxDepth ?? 20
        guard offset >= 0 else { return .failure("offset must be 0 or more, got \(offset)", tier: .read) }
        guard (1 ... 5000).contains(limit) else {
            return .failure("limit must be from 1 to 5000, got \(limit)", tier: .read)
        }
        guard (1 ... 64).contains(maxDepth) else {
            return .failure("max_depth must be from 1 to 64, got \(maxDepth)", tier: .read)
        }
        if let type = arguments.type, !["f", "d", "l"].contains(type) {
            return .failure("type must be f, d or l, got '\(type)'", tier: .read)
        }
        var matches: [String] = []
        var total = 0
        let walker = TreeWalker(
            root: root, maximumEntries: 200_000, deadline: timeLimit.map { ContinuousClock.now + $0 })
        let end = walker.walk(arguments.path, maxDepth: maxDepth) { entry in
            if let type = arguments.type, entry.kind != type.first { return true }
            if let pattern = arguments.name {
                let base = String(entry.path.split(separator: "/").last ?? "")
                guard fnmatch(pattern, base, 0) == 0 else { return true }
            }
            total += 1
            if total > offset && matches.count < limit {
                matches.append(root.displayed(entry.path) + (entry.kind == "d" ? "/" : ""))
            }
            return true
        }
        var note = ""
        switch end {
        case .finished: break
        case .cut(let reason): note = TreeWalker.cutNote(reason)
        case .failed(let error): return .failure(error, tier: .read)
        }
        let (output, truncated, shown) = cappedLines(matches.map { $0 + "\n" }.joined(), limit: outputLimit)
        let next = offset + shown
        let more = next < total || (!note.isEmpty && shown > 0)
        return ToolResult(
            ok: true, exitCode: 0, stdout: output, stderr: note, stdoutTruncated: truncated, stderrTruncated: false,
            durationMs: 0, tier: .read, nextOffset: more ? next : nil, hasMore: more)
    }
}

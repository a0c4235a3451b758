import Foundation
import Sandbox

/// `ls {path, offset?, limit?}`: the entries of a workspace directory, sorted by name, a page at a time.
struct ListTool {
    struct Arguments: Decodable, Equatable {
        var path: String
        /// Entries to skip (0-based).
        var offset: Int?
        var limit: Int?
    }

    static let name = "ls"
    static let description =
        "List a directory of the workspace: one entry a line with its type (d, f, l) and size. "
        + "Pages by offset (entries to skip) and limit (default 200)."
    static let schema = """
        {"type":"object","properties":{"path":{"type":"string","description":"directory relative to the workspace"},\
        "offset":{"type":"integer","minimum":0},"limit":{"type":"integer","minimum":1,"maximum":5000}},\
        "required":["path"],"additionalProperties":false}
        """

    static let defaultLimit = 200
    static let maximumLimit = 5000

    let root: ConfinedRoot
    let outputLimit: Int

    func run(_ arguments: Arguments) -> ToolResult {
        let stopwatch = Stopwatch()
        let offset = arguments.offset ?? 0
        let limit = arguments.limit ?? Self.defaultLimit
        guard offset >= 0 else { return .failure("offset must be 0 or more, got \(offset)", tier: .read) }
        guard (1 ... Self.maximumLimit).contains(limit) else {
            return .failure("limit must be from 1 to \(Self.maximumLimit), got \(limit)", tier: .read)
        }
        let fd: Int32
        do {
            fd = try root.open(arguments.path, flags: O_RDONLY | O_DIRECTORY)
        } catch let error where error.errno == ENOTDIR {
            return .failure("\(arguments.path) is not a directory", tier: .read, durationMs: stopwatch.milliseconds)
        } catch {
            return .failure("\(error)", tier: .read, durationMs: stopwatch.milliseconds)
        }
        guard let directory = fdopendir(fd) else {
            close(fd)
            return .failure("\(arguments.path): cannot list it", tier: .read, durationMs: stopwatch.milliseconds)
        }
        defer { closedir(directory) }
        var entries: [(name: String, line: String)] = []
        while let entry = readdir(directory) {
            let name = withUnsafeBytes(of: entry.pointee.d_name) { raw in
                String(decoding: raw.prefix(while: { $0 != 0 }), as: UTF8.self)
            }
            if name == "." || name == ".." { continue }
            var info = stat()
            let kind: String
            var size = ""
            if fstatat(dirfd(directory), name, &info, AT_SYMLINK_NOFOLLOW) == 0 {
                switch info.st_mode & S_IFMT {
                case S_IFDIR: kind = "d"
                case S_IFLNK: kind = "l"
                case S_IFREG:
                    kind = "f"
                    size = " \(info.st_size)"
                default: kind = "?"
                }
            } else {
                kind = "?"
            }
            entries.append((name, "\(kind) \(name)\(kind == "d" ? "/" : "")\(size)"))
        }
        entries.sort { $0.name < $1.name }
        let page = entries.dropFirst(offset).prefix(limit)
        let text = page.map { $0.line + "\n" }.joined()
        let (output, truncated, shown) = cappedLines(text, limit: outputLimit)
        let next = offset + shown
        let hasMore = next < entries.count
        return ToolResult(
            ok: true, exitCode: 0, stdout: output, stderr: "", stdoutTruncated: truncated, stderrTruncated: false,
            durationMs: stopwatch.milliseconds, tier: .read, nextOffset: hasMore ? next : nil, hasMore: hasMore)
    }
}

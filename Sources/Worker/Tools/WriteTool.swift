import Foundation
import Sandbox

/// `write {path, content}`: creates or replaces a workspace file atomically (Write tier).
struct WriteTool {
    struct Arguments: Decodable, Equatable {
        var path: String
        var content: String
    }

    static let name = "write"
    static let description = "Create or replace a text file in the workspace with the given content (atomic)."
    static let schema = """
        {"type":"object","properties":{"path":{"type":"string"},"content":{"type":"string"}},\
        "required":["path","content"],"additionalProperties":false}
        """
    static let maximumBytes = 8 << 20

    let root: ConfinedRoot

    func run(_ arguments: Arguments) -> ToolResult {
        let data = Data(arguments.content.utf8)
        guard data.count <= Self.maximumBytes else {
            return .failure("the content is larger than \(Self.maximumBytes) bytes", tier: .write)
        }
        switch AtomicWrite.replace(arguments.path, with: data, in: root) {
        case .success(let bytes):
            return ToolResult(
                ok: true, exitCode: 0, stdout: "wrote \(bytes) bytes to \(arguments.path)\n", stderr: "",
                stdoutTruncated: false, stderrTruncated: false, durationMs: 0, tier: .write, nextOffset: nil,
                hasMore: nil)
        case .failure(let failure):
            return .failure(failure.message, tier: .write)
        }
    }
}

/// `edit {path, old_text, new_text}`: replaces the one occurrence of old_text (Write tier).
struct EditTool {
    struct Arguments: Decodable, Equatable {
        var path: String
        var oldText: String
        var newText: String

        enum CodingKeys: String, CodingKey {
            case path
            case oldText = "old_text"
            case newText = "new_text"
        }
    }

    static let name = "edit"
    static let description =
        "Replace exactly one occurrence of old_text with new_text in a workspace file. Fails "
        + "when old_text occurs zero or several times: include more surrounding text to make it unique."
    static let schema = """
        {"type":"object","properties":{"path":{"type":"string"},"old_text":{"type":"string","minLength":1},\
        "new_text":{"type":"string"}},"required":["path","old_text","new_text"],"additionalProperties":false}
        """

    let root: ConfinedRoot

    func run(_ arguments: Arguments) -> ToolResult {
        guard !arguments.oldText.isEmpty else { return .failure("old_text is empty", tier: .write) }
        let data: Data
        switch AtomicWrite.read(arguments.path, in: root) {
        case .success(let contents): data = contents
        case .failure(let failure): return .failure(failure.message, tier: .write)
        }
        guard let text = String(data: data, encoding: .utf8) else {
            return .failure("\(arguments.path) is not UTF-8 text", tier: .write)
        }
        let matches = text.ranges(of: arguments.oldText)
        guard matches.count == 1, let match = matches.first else {
            return .failure(
                matches.isEmpty
                    ? "old_text was not found in \(arguments.path)"
                    : "old_text occurs \(matches.count) times in \(arguments.path); include more context to make it unique",
                tier: .write)
        }
        let updated = text.replacingCharacters(in: match, with: arguments.newText)
        switch AtomicWrite.replace(arguments.path, with: Data(updated.utf8), in: root) {
        case .success:
            let line = text[..<match.lowerBound].filter { $0 == "\n" }.count + 1
            return ToolResult(
                ok: true, exitCode: 0, stdout: "replaced 1 occurrence at line \(line) of \(arguments.path)\n",
                stderr: "", stdoutTruncated: false, stderrTruncated: false, durationMs: 0, tier: .write,
                nextOffset: nil, hasMore: nil)
        case .failure(let failure):
            return .failure(failure.message, tier: .write)
        }
    }
}

import Foundation

/// The system prompt of a run and where it came from.
struct SystemPrompt: Sendable, Equatable {
    var text: String
    /// The path of `AUTONOUS.md`, or `built-in`.
    var source: String
    /// Why `AUTONOUS.md` exists but was not used (too large, not UTF-8, empty, unreadable); nil otherwise.
    var problem: String?

    static let builtInSource = "built-in"
}

/// Reads the system prompt at each run, so an operator's edit of `$AUTONOUS_CONFIG_DIR/AUTONOUS.md` applies to the
/// next message without a restart. Without the file the built-in prompt is used; a file that cannot be used (larger
/// than `maxBytes`, not UTF-8, empty) is reported and the built-in prompt used instead.
struct SystemPromptSource: Sendable {
    /// The largest `AUTONOUS.md` used: 64 KiB, about 16,000 tokens.
    static let maxBytes = 64 * 1024

    static let builtIn = """
        You are autonous, a helpful assistant running as a self-hosted agent on the operator's Linux machine. \
        Answer concisely and accurately. Say so when you do not know something.
        """

    /// `$AUTONOUS_CONFIG_DIR/AUTONOUS.md`.
    let path: String
    var builtIn: String = Self.builtIn
    var maxBytes: Int = Self.maxBytes

    func load() -> SystemPrompt {
        guard FileManager.default.fileExists(atPath: path) else {
            return SystemPrompt(text: builtIn, source: SystemPrompt.builtInSource)
        }
        guard let handle = FileHandle(forReadingAtPath: path) else {
            return fallback("\(path) cannot be read (check its permissions)")
        }
        defer { try? handle.close() }
        let data: Data
        do {
            data = try handle.read(upToCount: maxBytes + 1) ?? Data()
        } catch {
            return fallback("\(path) cannot be read (\(error))")
        }
        guard data.count <= maxBytes else {
            return fallback("\(path) is larger than \(maxBytes) bytes, the most a system prompt may have")
        }
        guard let text = String(validating: data, as: UTF8.self) else {
            return fallback("\(path) is not valid UTF-8")
        }
        guard !text.trimmingCharacters(in: .whitespacesAndNewlines).isEmpty else {
            return fallback("\(path) is empty")
        }
        return SystemPrompt(text: text, source: path)
    }

    private func fallback(_ problem: String) -> SystemPrompt {
        SystemPrompt(
            text: builtIn, source: SystemPrompt.builtInSource, problem: problem + "; the built-in prompt is used")
    }
}

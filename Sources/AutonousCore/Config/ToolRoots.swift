import Foundation

/// A directory the file tools may work in besides the workspace (`AUTONOUS_TOOL_ROOTS`), bound into the worker's
/// and the command tools' sandboxes at its own path.
public struct ToolRoot: Sendable, Equatable {
    public var path: String
    public var writable: Bool

    public init(path: String, writable: Bool) {
        self.path = path
        self.writable = writable
    }

    /// Parses `PATH[:ro],…`: absolute directories that exist, writable unless marked `:ro`, none of them `/` or
    /// holding, or held by, the state, runtime or configuration directory (the database, the sockets and the
    /// secrets stay out of the tools' reach), no duplicates.
    ///
    /// - Throws: `ConfigurationError` for AUTONOUS_TOOL_ROOTS naming the entry that is wrong.
    static func parse(_ text: String, reserved: [String]) throws -> [ToolRoot] {
        func fail(_ message: String) -> ConfigurationError {
            ConfigurationError(variable: "AUTONOUS_TOOL_ROOTS", message: message)
        }
        var roots: [ToolRoot] = []
        for item in text.split(separator: ",").map({ $0.trimmingCharacters(in: .whitespaces) }) where !item.isEmpty {
            var path = item
            var writable = true
            if path.hasSuffix(":ro") {
                path.removeLast(3)
                writable = false
            } else if path.hasSuffix(":rw") {
                path.removeLast(3)
            }
            guard path.hasPrefix("/"), !path.split(separator: "/").contains(where: { $0 == ".." || $0 == "." })
            else {
                throw fail("takes absolute directories without '.' or '..' (PATH or PATH:ro), got '\(item)'")
            }
            path = URL(fileURLWithPath: path).standardizedFileURL.path
            guard path != "/" else { throw fail("must not name / as a tool root") }
            var isDirectory: ObjCBool = false
            guard FileManager.default.fileExists(atPath: path, isDirectory: &isDirectory), isDirectory.boolValue else {
                throw fail("names \(path), which is not an existing directory")
            }
            for other in reserved where contains(path, other) || contains(other, path) {
                throw fail(
                    "names \(path), which overlaps \(other) (the daemon's own state stays out of the tools' reach)")
            }
            for root in roots where contains(root.path, path) || contains(path, root.path) {
                throw fail("names \(path), which overlaps the root \(root.path)")
            }
            roots.append(ToolRoot(path: path, writable: writable))
        }
        return roots
    }

    /// True when `inner` is `outer` or lies under it.
    public static func contains(_ outer: String, _ inner: String) -> Bool {
        inner == outer || inner.hasPrefix(outer.hasSuffix("/") ? outer : outer + "/")
    }
}

import AutonousCore
import Foundation
import Testing

@testable import Worker

/// Tools on more roots than the workspace (AUTONOUS_TOOL_ROOTS): absolute paths pick the root, output names them
/// absolutely, read-only roots refuse writes, and nothing outside every root is reachable.
@Suite struct ToolRootsTests {
    final class Roots {
        let base: String
        var workspace: String { base + "/workspace" }
        var data: String { base + "/data" }
        var reference: String { base + "/reference" }

        init() throws {
            base = FileManager.default.temporaryDirectory.appendingPathComponent("roots-" + UUID().uuidString).path
            for directory in [workspace, data + "/sub", reference, base + "/outside"] {
                try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
            }
            try "in data\n".write(toFile: data + "/sub/notes.txt", atomically: true, encoding: .utf8)
            try "reference text\n".write(toFile: reference + "/ref.txt", atomically: true, encoding: .utf8)
            try "secret\n".write(toFile: base + "/outside/secret.txt", atomically: true, encoding: .utf8)
        }

        deinit { try? FileManager.default.removeItem(atPath: base) }

        var registry: ToolRegistry {
            ToolRegistry(
                workspace: workspace,
                extraRoots: [ToolRoot(path: data, writable: true), ToolRoot(path: reference, writable: false)],
                allowlist: ToolRegistry.known, launcher: nil)
        }
    }

    private func call(_ registry: ToolRegistry, _ name: String, _ arguments: String) async -> ToolResult {
        await registry.run(ToolCall(id: "c", name: name, arguments: arguments))
    }

    @Test func absolutePathsReachTheirRootAndAreShownAbsolute() async throws {
        let roots = try Roots()
        let read = await call(roots.registry, "read", #"{"path":"\#(roots.data)/sub/notes.txt"}"#)
        #expect(read.ok && read.stdout == "1\tin data\n", "\(read)")
        let found = await call(roots.registry, "find", #"{"path":"\#(roots.data)","name":"*.txt"}"#)
        #expect(found.stdout == "\(roots.data)/sub/notes.txt\n", "\(found)")
        let grep = await call(roots.registry, "grep", #"{"pattern":"in data","path":"\#(roots.data)"}"#)
        #expect(grep.stdout == "\(roots.data)/sub/notes.txt:1:in data\n", "\(grep)")
        let write = await call(roots.registry, "write", #"{"path":"\#(roots.data)/new.txt","content":"x"}"#)
        #expect(write.ok, "\(write)")
        #expect(FileManager.default.contents(atPath: roots.data + "/new.txt") == Data("x".utf8))
        // Relative paths stay in the workspace.
        let relative = await call(roots.registry, "write", #"{"path":"here.txt","content":"y"}"#)
        #expect(relative.ok && FileManager.default.fileExists(atPath: roots.workspace + "/here.txt"), "\(relative)")
    }

    @Test func aReadOnlyRootRefusesWritesAndOutsideEveryRootIsRefused() async throws {
        let roots = try Roots()
        let read = await call(roots.registry, "read", #"{"path":"\#(roots.reference)/ref.txt"}"#)
        #expect(read.ok, "\(read)")
        let write = await call(
            roots.registry, "edit", #"{"path":"\#(roots.reference)/ref.txt","old_text":"text","new_text":"x"}"#)
        #expect(write.ok == false)
        #expect(write.stderr == "\(roots.reference) is a read-only root; \(roots.reference)/ref.txt cannot be changed")
        let outside = await call(roots.registry, "read", #"{"path":"\#(roots.base)/outside/secret.txt"}"#)
        #expect(outside.ok == false)
        #expect(outside.stderr.hasPrefix("\(roots.base)/outside/secret.txt is outside the allowed roots"), "\(outside)")
        let escape = await call(roots.registry, "read", #"{"path":"\#(roots.data)/../outside/secret.txt"}"#)
        #expect(escape.ok == false && !escape.stdout.contains("secret"), "\(escape)")
        // A root's name as a prefix of another directory is not that root.
        try FileManager.default.createDirectory(atPath: roots.data + "-other", withIntermediateDirectories: true)
        let sibling = await call(roots.registry, "ls", #"{"path":"\#(roots.data)-other"}"#)
        #expect(sibling.stderr.contains("is outside the allowed roots"), "\(sibling)")
    }
}

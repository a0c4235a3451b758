import Foundation
import Sandbox
import Testing

@testable import Worker

@Suite struct WriteEditToolTests {
    final class Workspace {
        let path: String
        let outside: String
        init() throws {
            let base = FileManager.default.temporaryDirectory.appendingPathComponent("we-" + UUID().uuidString).path
            path = base + "/ws"
            outside = base + "/outside"
            try FileManager.default.createDirectory(atPath: path + "/.git/hooks", withIntermediateDirectories: true)
            try FileManager.default.createDirectory(atPath: outside, withIntermediateDirectories: true)
            try FileManager.default.createSymbolicLink(atPath: path + "/out", withDestinationPath: outside)
            try FileManager.default.createSymbolicLink(atPath: path + "/hooks", withDestinationPath: ".git/hooks")
            try "[core]\n".write(toFile: path + "/.git/config", atomically: true, encoding: .utf8)
        }
        deinit {
            try? FileManager.default.removeItem(atPath: URL(fileURLWithPath: path).deletingLastPathComponent().path)
        }
        func contents(_ name: String) -> String? { try? String(contentsOfFile: path + "/" + name, encoding: .utf8) }
    }

    private func root(_ workspace: Workspace) throws -> ConfinedRoot {
        try ConfinedRoot(path: workspace.path, writable: true)
    }

    @Test func writeCreatesAndReplacesAtomically() throws {
        let workspace = try Workspace()
        let write = WriteTool(root: try root(workspace))
        let created = write.run(.init(path: "a.txt", content: "one\n"))
        #expect(created.ok)
        #expect(created.stdout == "wrote 4 bytes to a.txt\n")
        #expect(created.tier == .write)
        #expect(write.run(.init(path: "a.txt", content: "two ünïcode\n")).ok)
        #expect(workspace.contents("a.txt") == "two ünïcode\n")
        let leftovers = try FileManager.default.contentsOfDirectory(atPath: workspace.path).filter {
            $0.contains("autonous-")
        }
        #expect(leftovers.isEmpty)
    }

    @Test(arguments: [
        ("out/x.txt", "symlinks are not followed"), (".git/config", "protected"),
        (".git/hooks/pre-commit", "protected"),
        ("hooks/pre-commit", "symlinks"), ("../x.txt", "'..' is not allowed"), ("missing-dir/x.txt", "No such file"),
    ])
    func writeRefusesEverythingOutsideTheWritableWorkspace(_ path: String, _ reason: String) throws {
        let workspace = try Workspace()
        let result = WriteTool(root: try root(workspace)).run(.init(path: path, content: "EVIL"))
        #expect(!result.ok)
        #expect(result.stderr.contains(reason), "\(result.stderr)")
        #expect(try FileManager.default.contentsOfDirectory(atPath: workspace.outside).isEmpty)
        #expect(workspace.contents(".git/config") == "[core]\n")
        #expect(!FileManager.default.fileExists(atPath: workspace.path + "/.git/hooks/pre-commit"))
    }

    @Test func editReplacesExactlyOneOccurrence() throws {
        let workspace = try Workspace()
        try "alpha\nbeta\ngamma beta\n".write(toFile: workspace.path + "/f.txt", atomically: true, encoding: .utf8)
        let edit = EditTool(root: try root(workspace))
        let unique = edit.run(.init(path: "f.txt", oldText: "alpha", newText: "ALPHA"))
        #expect(unique.ok)
        #expect(unique.stdout == "replaced 1 occurrence at line 1 of f.txt\n")
        #expect(workspace.contents("f.txt") == "ALPHA\nbeta\ngamma beta\n")
        let twice = edit.run(.init(path: "f.txt", oldText: "beta", newText: "x"))
        #expect(twice.stderr == "old_text occurs 2 times in f.txt; include more context to make it unique")
        let none = edit.run(.init(path: "f.txt", oldText: "delta", newText: "x"))
        #expect(none.stderr == "old_text was not found in f.txt")
        #expect(workspace.contents("f.txt") == "ALPHA\nbeta\ngamma beta\n")
        let protected = edit.run(.init(path: ".git/config", oldText: "[core]", newText: "[evil]"))
        #expect(!protected.ok)
        #expect(workspace.contents(".git/config") == "[core]\n")
    }

    @Test func aReadOnlyRootRefusesWrites() throws {
        let workspace = try Workspace()
        let result = WriteTool(root: try ConfinedRoot(path: workspace.path, writable: false)).run(
            .init(path: "a.txt", content: "x"))
        #expect(result.stderr == "a.txt: this root is read-only")
    }
}

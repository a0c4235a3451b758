import Foundation
import Sandbox
import Testing

@testable import Worker

@Suite struct FindGrepToolTests {
    final class Workspace {
        let path: String
        init() throws {
            path = FileManager.default.temporaryDirectory.appendingPathComponent("fg-" + UUID().uuidString).path
            let manager = FileManager.default
            try manager.createDirectory(atPath: path + "/src/deep/deeper", withIntermediateDirectories: true)
            try "let a = 1\nlet b = 2\n// TODO: fix\nlet c = 3\n".write(
                toFile: path + "/src/a.swift", atomically: true, encoding: .utf8)
            try "todo lower\nnothing\n".write(toFile: path + "/src/deep/b.txt", atomically: true, encoding: .utf8)
            try "TODO deep\n".write(toFile: path + "/src/deep/deeper/c.swift", atomically: true, encoding: .utf8)
            manager.createFile(atPath: path + "/bin.dat", contents: Data([0x54, 0x4f, 0x44, 0x4f, 0, 1]))
            try manager.createSymbolicLink(atPath: path + "/src/escape", withDestinationPath: "/etc")
        }
        deinit { try? FileManager.default.removeItem(atPath: path) }
    }

    private func root(_ workspace: Workspace) throws -> ConfinedRoot {
        try ConfinedRoot(path: workspace.path, writable: false)
    }

    /// A walk bounded by entries or time says so: the tool's results come with a note and has_more, never a silent
    /// cut.
    @Test func aCutWalkIsReportedNotSilent() throws {
        let workspace = try Workspace()
        let small = TreeWalker(root: try root(workspace), maximumEntries: 3)
        var visited: [String] = []
        let end = small.walk(".", maxDepth: 10) { entry in
            visited.append(entry.path)
            return true
        }
        #expect(end == .cut("the walk stopped after 3 entries"))
        #expect(visited == ["bin.dat", "src", "src/a.swift"], "\(visited)")
        let late = TreeWalker(root: try root(workspace), maximumEntries: 100, deadline: .now - .seconds(1))
        #expect(late.walk(".", maxDepth: 10) { _ in true } == .cut("the tool's time limit passed"))

        let find = FindTool(root: try root(workspace), outputLimit: 10_000, timeLimit: .zero)
        let found = find.run(.init(path: ".", name: nil, type: nil, maxDepth: nil, offset: nil, limit: nil))
        #expect(found.ok)
        #expect(found.stderr.hasPrefix("the search did not cover the whole tree (the tool's time limit passed)"))
        let grep = GrepTool(root: try root(workspace), outputLimit: 10_000, timeLimit: .zero)
        let matched = grep.run(
            .init(
                pattern: "TODO", path: nil, glob: nil, fixedString: nil, ignoreCase: nil, context: nil, offset: nil,
                limit: nil))
        #expect(matched.stderr.hasPrefix("the search did not cover the whole tree"), "\(matched)")
    }

    /// A file over grep's size bound is not searched, and the result says which: never a silent gap.
    @Test func grepNamesTheFilesItDidNotSearch() throws {
        let workspace = try Workspace()
        let huge = workspace.path + "/src/huge.log"
        FileManager.default.createFile(atPath: huge, contents: Data("TODO at the start\n".utf8))
        let handle = try #require(FileHandle(forWritingAtPath: huge))
        try handle.truncate(atOffset: UInt64(GrepTool.maximumFileSize) + 1)
        try handle.close()
        let grep = GrepTool(root: try root(workspace), outputLimit: 10_000)
        let result = grep.run(
            .init(
                pattern: "TODO", path: nil, glob: nil, fixedString: true, ignoreCase: nil, context: nil, offset: nil,
                limit: nil))
        #expect(result.ok)
        #expect(!result.stdout.contains("huge.log"))
        #expect(
            result.stderr == "not searched: 1 file(s) larger than 32 MiB (src/huge.log); use bash with grep for them",
            "\(result)")
    }

    @Test func findMatchesNameTypeAndDepthWithoutEnteringSymlinks() throws {
        let workspace = try Workspace()
        let find = FindTool(root: try root(workspace), outputLimit: 10_000)
        let swift = find.run(.init(path: ".", name: "*.swift", type: "f", maxDepth: nil, offset: nil, limit: nil))
        #expect(swift.stdout == "src/a.swift\nsrc/deep/deeper/c.swift\n")
        let shallow = find.run(.init(path: "src", name: nil, type: nil, maxDepth: 1, offset: nil, limit: nil))
        #expect(shallow.stdout == "src/a.swift\nsrc/deep/\nsrc/escape\n")
        let paged = find.run(.init(path: ".", name: nil, type: nil, maxDepth: nil, offset: 1, limit: 2))
        #expect(paged.stdout == "src/\nsrc/a.swift\n")
        #expect(paged.nextOffset == 3)
        #expect(
            find.run(.init(path: "src/escape", name: nil, type: nil, maxDepth: nil, offset: nil, limit: nil)).ok
                == false)
        #expect(
            find.run(.init(path: ".", name: nil, type: "x", maxDepth: nil, offset: nil, limit: nil)).stderr
                == "type must be f, d or l, got 'x'")
    }

    @Test func grepFindsLinesSkipsBinaryAndHonoursOptions() throws {
        let workspace = try Workspace()
        let grep = GrepTool(root: try root(workspace), outputLimit: 10_000)
        let regex = grep.run(
            .init(
                pattern: "TODO", path: nil, glob: nil, fixedString: nil, ignoreCase: nil,
                context: nil, offset: nil, limit: nil))
        #expect(regex.stdout == "src/a.swift:3:// TODO: fix\nsrc/deep/deeper/c.swift:1:TODO deep\n")
        let insensitive = grep.run(
            .init(
                pattern: "todo", path: "src", glob: "*.txt", fixedString: true,
                ignoreCase: true, context: nil, offset: nil, limit: nil))
        #expect(insensitive.stdout == "src/deep/b.txt:1:todo lower\n")
        let context = grep.run(
            .init(
                pattern: "TODO", path: "src/a.swift", glob: nil, fixedString: nil,
                ignoreCase: nil, context: 1, offset: nil, limit: nil))
        #expect(context.stdout == "src/a.swift-2-let b = 2\nsrc/a.swift:3:// TODO: fix\nsrc/a.swift-4-let c = 3\n")
        let paged = grep.run(
            .init(
                pattern: "TODO|todo", path: nil, glob: nil, fixedString: nil, ignoreCase: nil,
                context: nil, offset: nil, limit: 1))
        #expect(paged.stdout == "src/a.swift:3:// TODO: fix\n")
        #expect(paged.hasMore == true)
        #expect(paged.nextOffset == 1)
        let none = grep.run(
            .init(
                pattern: "absent", path: nil, glob: nil, fixedString: nil, ignoreCase: nil,
                context: nil, offset: nil, limit: nil))
        #expect(none.ok && none.exitCode == 1 && none.stdout.isEmpty)
        let bad = grep.run(
            .init(
                pattern: "(", path: nil, glob: nil, fixedString: nil, ignoreCase: nil,
                context: nil, offset: nil, limit: nil))
        #expect(bad.stderr == "the pattern is not a valid regular expression: (")
    }

    @Test func grepContextHandlesAdjacentMatches() throws {
        let workspace = try Workspace()
        try "x\nmatch 1\nmatch 2\ny\n".write(toFile: workspace.path + "/m.txt", atomically: true, encoding: .utf8)
        let grep = GrepTool(root: try root(workspace), outputLimit: 10_000)
        let result = grep.run(
            .init(
                pattern: "match", path: "m.txt", glob: nil, fixedString: true, ignoreCase: nil,
                context: 1, offset: nil, limit: nil))
        #expect(result.stdout == "m.txt-1-x\nm.txt:2:match 1\nm.txt:3:match 2\nm.txt-4-y\n")
    }
}

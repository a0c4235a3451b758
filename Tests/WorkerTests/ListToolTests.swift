import Foundation
import Sandbox
import Testing

@testable import Worker

@Suite struct ListToolTests {
    final class Workspace {
        let path: String
        init() throws {
            path = FileManager.default.temporaryDirectory.appendingPathComponent("lt-" + UUID().uuidString).path
            try FileManager.default.createDirectory(atPath: path + "/sub", withIntermediateDirectories: true)
            for index in 0 ..< 12 {
                FileManager.default.createFile(
                    atPath: path + "/file\(String(format: "%02d", index)).txt", contents: Data("abc".utf8))
            }
            try FileManager.default.createSymbolicLink(atPath: path + "/link", withDestinationPath: "/etc")
        }
        deinit { try? FileManager.default.removeItem(atPath: path) }
    }

    private func tool(_ workspace: Workspace, outputLimit: Int = 100_000) throws -> ListTool {
        ListTool(root: try ConfinedRoot(path: workspace.path, writable: false), outputLimit: outputLimit)
    }

    @Test func entriesAreSortedTypedAndPaged() throws {
        let workspace = try Workspace()
        let first = try tool(workspace).run(.init(path: ".", offset: nil, limit: 5))
        #expect(first.stdout == "f file00.txt 3\nf file01.txt 3\nf file02.txt 3\nf file03.txt 3\nf file04.txt 3\n")
        #expect(first.nextOffset == 5)
        #expect(first.hasMore == true)
        let last = try tool(workspace).run(.init(path: ".", offset: 10, limit: 10))
        #expect(last.stdout == "f file10.txt 3\nf file11.txt 3\nl link\nd sub/\n")
        #expect(last.hasMore == false)
    }

    @Test func truncatedOutputPointsAtTheNextEntry() throws {
        let workspace = try Workspace()
        let result = try tool(workspace, outputLimit: 40).run(.init(path: ".", offset: nil, limit: 100))
        #expect(result.stdoutTruncated)
        #expect(result.stdout == "f file00.txt 3\nf file01.txt 3\n")
        #expect(result.nextOffset == 2)
    }

    @Test func errorsSayWhatIsWrong() throws {
        let workspace = try Workspace()
        let tool = try tool(workspace)
        #expect(tool.run(.init(path: "file00.txt", offset: nil, limit: nil)).stderr == "file00.txt is not a directory")
        #expect(tool.run(.init(path: "link", offset: nil, limit: nil)).stderr.hasPrefix("link: the path leads outside"))
        #expect(
            tool.run(.init(path: "../", offset: nil, limit: nil)).stderr == "../: '..' is not allowed in tool paths")
        #expect(tool.run(.init(path: "nope", offset: nil, limit: nil)).stderr == "nope: No such file or directory")
        #expect(tool.run(.init(path: ".", offset: -1, limit: nil)).stderr == "offset must be 0 or more, got -1")
    }
}

import Foundation
import Sandbox
import Testing

@testable import Worker

@Suite struct ReadToolTests {
    final class Workspace {
        let path: String
        init() throws {
            path = FileManager.default.temporaryDirectory.appendingPathComponent("rt-" + UUID().uuidString).path
            try FileManager.default.createDirectory(atPath: path + "/dir", withIntermediateDirectories: true)
        }
        deinit { try? FileManager.default.removeItem(atPath: path) }
        func write(_ name: String, _ text: String) throws {
            try text.write(toFile: path + "/" + name, atomically: true, encoding: .utf8)
        }
    }

    private func tool(_ workspace: Workspace, outputLimit: Int = 100_000) throws -> ReadTool {
        ReadTool(root: try ConfinedRoot(path: workspace.path, writable: false), outputLimit: outputLimit)
    }

    @Test func linesAreNumberedAndPaged() throws {
        let workspace = try Workspace()
        try workspace.write("f.txt", (1 ... 25).map { "line \($0)" }.joined(separator: "\n") + "\n")
        let first = try tool(workspace).run(.init(path: "f.txt", offset: nil, limit: 10))
        #expect(first.ok)
        #expect(first.stdout.hasPrefix(" 1\tline 1\n 2\tline 2\n"))
        #expect(first.stdout.hasSuffix("10\tline 10\n"))
        #expect(first.nextOffset == 11)
        #expect(first.hasMore == true)
        let last = try tool(workspace).run(.init(path: "f.txt", offset: 21, limit: 10))
        #expect(last.stdout == "21\tline 21\n22\tline 22\n23\tline 23\n24\tline 24\n25\tline 25\n")
        #expect(last.hasMore == false)
        #expect(last.nextOffset == nil)
        let past = try tool(workspace).run(.init(path: "f.txt", offset: 30, limit: 5))
        #expect(!past.ok)
        #expect(past.stderr == "offset 30 is past the end: f.txt has 25 lines")
    }

    @Test func truncationKeepsWholeLinesAndPointsAtTheNextOne() throws {
        let workspace = try Workspace()
        try workspace.write(
            "long.txt", (1 ... 100).map { "é \($0) " + String(repeating: "x", count: 40) }.joined(separator: "\n"))
        let result = try tool(workspace, outputLimit: 500).run(.init(path: "long.txt", offset: nil, limit: 100))
        #expect(result.ok)
        #expect(result.stdoutTruncated)
        #expect(result.stdout.utf8.count <= 500)
        #expect(result.stdout.hasSuffix("\n"))
        let shown = result.stdout.filter { $0 == "\n" }.count
        #expect(result.nextOffset == shown + 1)
        let next = try tool(workspace).run(.init(path: "long.txt", offset: result.nextOffset, limit: 1))
        #expect(next.stdout.contains("é \(shown + 1) "))
    }

    @Test func unicodeIsKeptAndBinaryIsRefused() throws {
        let workspace = try Workspace()
        try workspace.write("u.txt", "naïve café 😀\n")
        #expect(try tool(workspace).run(.init(path: "u.txt", offset: nil, limit: nil)).stdout == "1\tnaïve café 😀\n")
        FileManager.default.createFile(
            atPath: workspace.path + "/b.bin", contents: Data([0x7f, 0x45, 0x4c, 0x46, 0, 1, 2]))
        let binary = try tool(workspace).run(.init(path: "b.bin", offset: nil, limit: nil))
        #expect(!binary.ok)
        #expect(binary.stderr == "b.bin is a binary file (7 bytes); read shows text only")
    }

    /// CRLF files read line by line (Swift keeps "\r\n" as one Character, so splitting text would not split them);
    /// a last line without a newline counts, an empty file has no lines.
    @Test func crlfLinesAndALastLineWithoutNewline() throws {
        let workspace = try Workspace()
        try workspace.write("crlf.txt", "one\r\ntwo\r\nthree")
        let read = try tool(workspace).run(.init(path: "crlf.txt", offset: 2, limit: 5))
        #expect(read.stdout == "2\ttwo\n3\tthree\n", "\(read)")
        #expect(read.hasMore == false)
        try workspace.write("empty.txt", "")
        let empty = try tool(workspace).run(.init(path: "empty.txt", offset: nil, limit: nil))
        #expect(empty.ok && empty.stdout.isEmpty, "\(empty)")
    }

    /// Lines crossing chunk boundaries come out whole, whatever the chunk size, with the same paging.
    @Test(arguments: [1, 2, 7, 64, 1 << 20])
    func pagesAreTheSameWhateverTheChunkSize(chunkSize: Int) throws {
        let workspace = try Workspace()
        let lines = (1 ... 40).map { "line \($0) " + String(repeating: "ü", count: $0 % 7) }
        try workspace.write("f.txt", lines.joined(separator: "\r\n") + "\r\n")
        var reader = try tool(workspace)
        reader.chunkSize = chunkSize
        let page = reader.run(.init(path: "f.txt", offset: 11, limit: 20))
        let expected = (11 ... 30).map { "\($0)\t\(lines[$0 - 1])\n" }.joined()
        #expect(page.stdout == expected, "chunk \(chunkSize)")
        #expect(page.nextOffset == 31 && page.hasMore == true)
        let tail = reader.run(.init(path: "f.txt", offset: 31, limit: 20))
        #expect(tail.stdout.hasSuffix("40\t\(lines[39])\n") && tail.hasMore == false, "chunk \(chunkSize)")
    }

    /// A file far larger than a page reads deep pages without loading it; one huge line is cut instead of blocking
    /// the paging.
    @Test func largeFilesAndHugeLines() throws {
        let workspace = try Workspace()
        let count = 300_000
        var text = ""
        text.reserveCapacity(count * 12)
        for number in 1 ... count { text += "row \(number)\n" }
        try workspace.write("big.txt", text)
        let deep = try tool(workspace).run(.init(path: "big.txt", offset: count - 1, limit: 5))
        #expect(deep.stdout == "299999\trow 299999\n300000\trow 300000\n", "\(deep)")
        #expect(deep.hasMore == false)
        let past = try tool(workspace).run(.init(path: "big.txt", offset: count + 1, limit: 5))
        #expect(past.stderr == "offset 300001 is past the end: big.txt has 300000 lines")

        try workspace.write("wide.txt", "short\n" + String(repeating: "é", count: 3000) + "\nafter\n")
        let wide = try tool(workspace, outputLimit: 1000).run(.init(path: "wide.txt", offset: 2, limit: 1))
        let first = wide.stdout.split(separator: "\n").first.map(String.init) ?? ""
        #expect(first.hasPrefix("2\téé") && first.hasSuffix(" [… line cut: 6000 bytes in all]"), "\(wide)")
        #expect(wide.nextOffset == 3, "one huge line must not stop paging: \(wide)")
    }

    @Test func errorsSayWhatIsWrong() throws {
        let workspace = try Workspace()
        try FileManager.default.createSymbolicLink(
            atPath: workspace.path + "/out", withDestinationPath: "/etc/hostname")
        let tool = try tool(workspace)
        #expect(
            tool.run(.init(path: "missing.txt", offset: nil, limit: nil)).stderr
                == "missing.txt: No such file or directory")
        #expect(tool.run(.init(path: "dir", offset: nil, limit: nil)).stderr == "dir is not a regular file")
        #expect(
            tool.run(.init(path: "../x", offset: nil, limit: nil)).stderr == "../x: '..' is not allowed in tool paths")
        #expect(tool.run(.init(path: "out", offset: nil, limit: nil)).stderr.hasPrefix("out: the path leads outside"))
        #expect(tool.run(.init(path: "missing.txt", offset: 0, limit: nil)).stderr == "offset must be 1 or more, got 0")
        #expect(
            tool.run(.init(path: "missing.txt", offset: nil, limit: 5000)).stderr
                == "limit must be from 1 to 2000, got 5000")
    }

    @Test func badArgumentJSONNamesTheField() {
        #expect {
            _ = try ToolArgumentError.decode(ReadTool.Arguments.self, tool: "read", from: #"{"offset": 2}"#)
        } throws: { error in
            (error as? ToolArgumentError)?.description == "invalid arguments for read: missing field 'path'"
        }
        #expect {
            _ = try ToolArgumentError.decode(ReadTool.Arguments.self, tool: "read", from: #"{"path": 5}"#)
        } throws: { error in
            (error as? ToolArgumentError)?.description.contains("'path': expected String") == true
        }
        #expect(throws: ToolArgumentError.self) {
            _ = try ToolArgumentError.decode(ReadTool.Arguments.self, tool: "read", from: "")
        }
    }

    @Test func theSchemaIsValidJSON() throws {
        let schema = try JSONSerialization.jsonObject(with: Data(ReadTool.schema.utf8)) as? [String: Any]
        #expect(schema?["required"] as? [String] == ["path"])
    }
}

import Foundation
import Sandbox
import Testing

@testable import Worker

/// The grep tool's byte-level search: line endings, non-ASCII text, and files larger than its buffer.
@Suite struct GrepScanTests {
    /// A temporary workspace holding the given files.
    final class Workspace {
        let path: String
        let root: ConfinedRoot

        init(_ files: [String: [UInt8]]) throws {
            path = FileManager.default.temporaryDirectory.appendingPathComponent("gs-" + UUID().uuidString).path
            try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
            for (name, bytes) in files {
                FileManager.default.createFile(atPath: path + "/" + name, contents: Data(bytes))
            }
            root = try ConfinedRoot(path: path, writable: false)
        }

        convenience init(_ files: [String: String]) throws {
            try self.init(files.mapValues { Array($0.utf8) })
        }

        deinit { try? FileManager.default.removeItem(atPath: path) }

        func grep(
            _ pattern: String, path: String? = nil, fixed: Bool? = nil, ignoreCase: Bool? = nil, context: Int? = nil,
            limit: Int? = nil, bufferSize: Int = GrepScanner.initialBufferSize
        ) -> ToolResult {
            GrepTool(root: root, outputLimit: 1 << 20, bufferSize: bufferSize).run(
                .init(
                    pattern: pattern, path: path, glob: nil, fixedString: fixed, ignoreCase: ignoreCase,
                    context: context, offset: nil, limit: limit))
        }
    }

    @Test func regexWithoutLiteralIsTriedOnEveryLine() throws {
        let workspace = try Workspace(["f.swift": "  func a()\nlet x = 12\n\tfunc b()\nlet y = 345\n"])
        #expect(RequiredLiteral(regex: "^\\s+\\w") == nil)
        #expect(workspace.grep("^\\s+\\w").stdout == "f.swift:1:  func a()\nf.swift:3:\tfunc b()\n")
        #expect(RequiredLiteral(regex: "\\d{3}") == nil)
        #expect(workspace.grep("\\d{3}").stdout == "f.swift:4:let y = 345\n")
    }

    @Test func regexWithLiteralStillAppliesTheRestOfThePattern() throws {
        let workspace = try Workspace(["f.txt": "TODO later\nsee TODO\nTODO(needle) here\n"])
        #expect(workspace.grep("^TODO").stdout == "f.txt:1:TODO later\nf.txt:3:TODO(needle) here\n")
        #expect(workspace.grep("TODO\\(needle\\)").stdout == "f.txt:3:TODO(needle) here\n")
        #expect(workspace.grep("todo$", ignoreCase: true).stdout == "f.txt:2:see TODO\n")
    }

    @Test func nonASCIILinesGetTheFullComparison() throws {
        let workspace = try Workspace(["f.txt": "Straße\nSTRASSE\n\u{212A}elvin\nkelvin\nCafé\nCAFÉ\nplain\n"])
        // Foundation folds case beyond ASCII ("ß" is "ss") and sees the Kelvin sign as "K".
        #expect(workspace.grep("strasse", fixed: true, ignoreCase: true).stdout == "f.txt:1:Straße\nf.txt:2:STRASSE\n")
        #expect(
            workspace.grep("K", fixed: true, ignoreCase: true).stdout == "f.txt:3:\u{212A}elvin\nf.txt:4:kelvin\n")
        #expect(workspace.grep("K", fixed: true).stdout == "f.txt:3:\u{212A}elvin\n")
        #expect(workspace.grep("é", fixed: true, ignoreCase: true).stdout == "f.txt:5:Café\nf.txt:6:CAFÉ\n")
        // So does ICU, for a regular expression.
        #expect(workspace.grep("^k", ignoreCase: true).stdout == "f.txt:3:\u{212A}elvin\nf.txt:4:kelvin\n")
        #expect(workspace.grep("^k").stdout == "f.txt:4:kelvin\n")
    }

    @Test func invalidUTF8IsShownAsReplacementCharacters() throws {
        let workspace = try Workspace(["f.txt": Array("ok\nbad ".utf8) + [0xff, 0xe2, 0x82] + Array(" TODO\n".utf8)])
        #expect(workspace.grep("TODO", fixed: true).stdout == "f.txt:2:bad \u{FFFD}\u{FFFD} TODO\n")
        #expect(workspace.grep("TODO", ignoreCase: true).stdout == "f.txt:2:bad \u{FFFD}\u{FFFD} TODO\n")
    }

    @Test func lastLineNeedsNoNewlineAndNoLineFollowsTheLastNewline() throws {
        let workspace = try Workspace(["a.txt": "one\ntwo TODO", "b.txt": "x\nTODO\n", "c.txt": "a\n\nb\n"])
        #expect(workspace.grep("TODO", path: "a.txt").stdout == "a.txt:2:two TODO\n")
        #expect(workspace.grep("TODO", path: "b.txt", context: 2).stdout == "b.txt-1-x\nb.txt:2:TODO\n")
        #expect(workspace.grep("^$", path: "c.txt").stdout == "c.txt:2:\n")
    }

    @Test func crlfLinesEndBeforeTheirCarriageReturn() throws {
        let workspace = try Workspace(["w.txt": "one\r\ntwo TODO\r\nthree\r\n"])
        #expect(workspace.grep("TODO", context: 1).stdout == "w.txt-1-one\nw.txt:2:two TODO\nw.txt-3-three\n")
        #expect(workspace.grep("TODO$").stdout == "w.txt:2:two TODO\n")
        #expect(workspace.grep("todo\r", fixed: true, ignoreCase: true).stdout.isEmpty)
    }

    @Test func binaryMeansANulByteWithinTheFirst8192Bytes() throws {
        let text = Array(String(repeating: "filler line\n", count: 800).utf8)
        let workspace = try Workspace([
            "late.dat": text + [0] + Array("\nTODO\n".utf8), "early.dat": [0] + Array("\nTODO\n".utf8),
        ])
        #expect(workspace.grep("TODO").stdout == "late.dat:802:TODO\n")
    }

    @Test func linesAndContextAcrossBufferBoundariesReadTheSameAsInOneBuffer() throws {
        // About 90 kB: matches every 97 lines, a 30 kB line (longer than the 8 kB buffer) with the needle at its
        // end, and non-ASCII lines, so lines, their context and the buffer's growth all fall across reads.
        var lines: [String] = []
        for index in 1 ... 1500 {
            var line = "line \(index) " + String(repeating: "filler ", count: index % 13)
            if index % 97 == 0 { line += "TODO" }
            if index % 89 == 0 { line += " é Todo" }
            if index == 700 { line = String(repeating: "long ", count: 6000) + "TODO" }
            lines.append(line)
        }
        let workspace = try Workspace(["big.txt": lines.joined(separator: "\n") + "\n"])
        for (fixed, ignoreCase) in [(true, false), (false, false), (true, true), (false, true)] {
            for context in [0, 1, 3] {
                let pattern = ignoreCase ? "todo" : "TODO"
                let small = workspace.grep(
                    pattern, fixed: fixed, ignoreCase: ignoreCase, context: context, limit: 2000, bufferSize: 8192)
                let whole = workspace.grep(
                    pattern, fixed: fixed, ignoreCase: ignoreCase, context: context, limit: 2000, bufferSize: 1 << 20)
                #expect(small == whole)
                #expect(small.stdout.contains("big.txt:700:long long"))
                #expect(small.stdout.contains("big.txt:1424:line 1424 ") == ignoreCase)
            }
        }
        var blocks: [String] = []
        for number in 1 ... lines.count where lines[number - 1].contains("TODO") {
            var block = ""
            for other in number - 2 ... number + 2 {
                let separator = other == number ? ":" : "-"
                block += "big.txt\(separator)\(other)\(separator)\(lines[other - 1])\n"
            }
            blocks.append(block)
        }
        let expected = blocks.joined(separator: "--\n")
        #expect(workspace.grep("TODO", context: 2, limit: 2000, bufferSize: 8192).stdout == expected)
    }
}

import Foundation
import Testing

@testable import Sandbox

/// The native file tools' confinement (SANDBOX-TESTS.md cases 10, 11 and 14 for tools that run in-process).
@Suite struct ConfinedRootTests {
    /// A workspace inside a scratch directory that also holds a "secret" file outside the workspace.
    final class Scratch {
        let directory: String
        let workspace: String
        let secret: String

        init() throws {
            directory = FileManager.default.temporaryDirectory.appendingPathComponent("cr-" + UUID().uuidString).path
            workspace = directory + "/ws"
            secret = directory + "/secret.txt"
            try FileManager.default.createDirectory(
                atPath: workspace + "/.git/hooks", withIntermediateDirectories: true)
            try "outside".write(toFile: secret, atomically: true, encoding: .utf8)
            try "[core]\n".write(toFile: workspace + "/.git/config", atomically: true, encoding: .utf8)
            try "hello\n".write(toFile: workspace + "/notes.txt", atomically: true, encoding: .utf8)
            try FileManager.default.createSymbolicLink(atPath: workspace + "/absolute-out", withDestinationPath: secret)
            try FileManager.default.createSymbolicLink(
                atPath: workspace + "/relative-out", withDestinationPath: "../secret.txt")
            try FileManager.default.createSymbolicLink(
                atPath: workspace + "/dangling-out", withDestinationPath: directory + "/created-through-link")
            try FileManager.default.createSymbolicLink(atPath: workspace + "/dir-out", withDestinationPath: directory)
            try FileManager.default.createSymbolicLink(atPath: workspace + "/inside", withDestinationPath: "notes.txt")
        }

        deinit {
            try? FileManager.default.removeItem(atPath: directory)
        }
    }

    private func read(_ fd: Int32) -> String {
        defer { close(fd) }
        var buffer = [UInt8](repeating: 0, count: 256)
        let n = Glibc.read(fd, &buffer, buffer.count)
        return String(decoding: buffer[0 ..< max(0, n)], as: UTF8.self)
    }

    @Test(arguments: ["absolute-out", "relative-out", "dir-out/secret.txt"])
    func symlinksPointingOutCannotBeFollowed(_ path: String) throws {
        let scratch = try Scratch()
        let root = try ConfinedRoot(path: scratch.workspace, writable: true)
        #expect {
            _ = try root.open(path, flags: O_RDONLY)
        } throws: { error in
            (error as? PathError)?.reason == .escapesRoot && (error as? PathError)?.errno == EXDEV
        }
    }

    @Test func aDanglingSymlinkToANotYetExistingOutsidePathCannotCreateIt() throws {
        let scratch = try Scratch()
        let root = try ConfinedRoot(path: scratch.workspace, writable: true)
        #expect(throws: PathError.self) { _ = try root.open("dangling-out", flags: O_WRONLY | O_CREAT, mode: 0o644) }
        #expect(!FileManager.default.fileExists(atPath: scratch.directory + "/created-through-link"))
    }

    @Test func symlinksInsideTheRootStillWork() throws {
        let scratch = try Scratch()
        let root = try ConfinedRoot(path: scratch.workspace, writable: false)
        #expect(read(try root.open("inside", flags: O_RDONLY)) == "hello\n")
        #expect(read(try root.open(scratch.workspace + "/notes.txt", flags: O_RDONLY)) == "hello\n")
        #expect {
            _ = try root.open("inside", flags: O_RDONLY, followSymlinks: false)
        } throws: { error in
            (error as? PathError)?.reason == .escapesRoot
        }
    }

    @Test(arguments: ["..", "../secret.txt", "a/../../secret.txt", "a/..", "./../ws", "", "/etc/passwd", "x\u{0}y"])
    func badArgumentsAreRefusedBeforeAnyIO(_ path: String) throws {
        let scratch = try Scratch()
        let root = try ConfinedRoot(path: scratch.workspace, writable: true)
        #expect {
            _ = try root.normalize(path)
        } throws: { error in
            (error as? PathError)?.reason == .invalidPath && (error as? PathError)?.errno == nil
        }
    }

    @Test func magicLinksInProcAreRefused() throws {
        let root = try ConfinedRoot(path: "/proc", writable: false, protectedPaths: [])
        #expect {
            _ = try root.open("self/root/etc/hostname", flags: O_RDONLY)
        } throws: { error in
            let reason = (error as? PathError)?.reason
            return reason == .escapesRoot || reason == .io
        }
    }

    @Test(arguments: [".git/config", ".git/hooks/pre-commit", ".autonous/settings.json", "./.git/hooks/x"])
    func protectedPathsStayReadOnlyEvenInAWritableRoot(_ path: String) throws {
        let scratch = try Scratch()
        let root = try ConfinedRoot(path: scratch.workspace, writable: true)
        #expect {
            _ = try root.open(path, flags: O_WRONLY | O_CREAT | O_TRUNC, mode: 0o644)
        } throws: { error in
            (error as? PathError)?.reason == .readOnly && (error as? PathError)?.errno == EROFS
        }
        #expect(read(try root.open(".git/config", flags: O_RDONLY)) == "[core]\n")
        #expect(!FileManager.default.fileExists(atPath: scratch.workspace + "/.autonous"))
    }

    @Test func aSymlinkToAProtectedPathCannotBeWrittenThrough() throws {
        let scratch = try Scratch()
        try FileManager.default.createSymbolicLink(atPath: scratch.workspace + "/h", withDestinationPath: ".git/hooks")
        try FileManager.default.createSymbolicLink(atPath: scratch.workspace + "/c", withDestinationPath: ".git/config")
        let root = try ConfinedRoot(path: scratch.workspace, writable: true)
        for path in ["h/pre-commit", "c"] {
            #expect {
                _ = try root.open(path, flags: O_WRONLY | O_CREAT | O_TRUNC, mode: 0o755)
            } throws: { error in
                (error as? PathError)?.reason == .escapesRoot && (error as? PathError)?.errno == ELOOP
            }
        }
        #expect(!FileManager.default.fileExists(atPath: scratch.workspace + "/.git/hooks/pre-commit"))
        #expect(read(try root.open(".git/config", flags: O_RDONLY)) == "[core]\n")
    }

    @Test func aReadOnlyRootRefusesEveryWrite() throws {
        let scratch = try Scratch()
        let root = try ConfinedRoot(path: scratch.workspace, writable: false)
        #expect {
            _ = try root.open("new.txt", flags: O_WRONLY | O_CREAT, mode: 0o644)
        } throws: { error in
            (error as? PathError)?.reason == .readOnly
        }
        let writable = try ConfinedRoot(path: scratch.workspace, writable: true)
        let fd = try writable.open("sub-new.txt", flags: O_WRONLY | O_CREAT | O_EXCL, mode: 0o644)
        close(fd)
        #expect(FileManager.default.fileExists(atPath: scratch.workspace + "/sub-new.txt"))
    }
}

import AutonousCore
import Foundation
import Synchronization
import Testing

@testable import Supervisord

/// Importing, verifying, listing, resolving and pruning artifacts, on real files in a temporary state directory.
@Suite struct ArtifactStoreTests {
    @Test func importCopiesTheFileReadOnlyWithItsManifest() throws {
        let fixture = try ArtifactFixture()
        let bytes = ArtifactFixture.elf("a")
        let path = try fixture.source("worker", bytes)
        let manifest = try fixture.store.importFile(
            at: path, source: .selfUpdate, note: "fix the poll loop", gitCommit: "abc123", baseRevision: nil,
            toolchain: "swift-6.3.1", builtMs: 1_700_000_000_000, testsPassed: 41, testsFailed: 0, transaction: "tx1")

        #expect(manifest.sha256 == SHA256.hex(bytes))
        #expect(manifest.source == .selfUpdate)
        #expect(manifest.note == "fix the poll loop")
        #expect(manifest.gitCommit == "abc123")
        #expect(manifest.toolchain == "swift-6.3.1")
        #expect(manifest.testsPassed == 41)
        #expect(manifest.transaction == "tx1")
        #expect(try fixture.store.manifest(manifest.sha256) == manifest)
        let directory = fixture.store.directoryPath(manifest.sha256)
        #expect(fixture.mode(fixture.artifacts) == 0o711)
        #expect(fixture.mode(directory) == 0o555)
        #expect(fixture.mode(fixture.store.binaryPath(manifest.sha256)) == 0o555)
        #expect(fixture.mode(directory + "/manifest.json") == 0o444)
        #expect(FileManager.default.contents(atPath: fixture.store.binaryPath(manifest.sha256)) == Data(bytes))
        let json = try #require(FileManager.default.contents(atPath: directory + "/manifest.json"))
        let text = String(decoding: json, as: UTF8.self)
        #expect(text.contains(#""source" : "self-update""#))
        #expect(text.contains(#""importedMs" : "#))
        #expect(fixture.entries() == [manifest.sha256], "no temporary directory is left")
    }

    @Test func importingTheSameBytesAgainReturnsTheFirstManifest() throws {
        let fixture = try ArtifactFixture()
        let first = try fixture.importELF("a", note: "first")
        let again = try fixture.store.importFile(
            at: fixture.source("copy", ArtifactFixture.elf("a")), source: .bootstrap, note: "second")
        #expect(again == first, "the manifest is not overwritten")
        #expect(fixture.entries() == [first.sha256])
    }

    @Test func concurrentImportsOfTheSameBytesConvergeOnOneArtifact() throws {
        let fixture = try ArtifactFixture()
        let paths = try (0 ..< 4).map { try fixture.source("copy-\($0)", ArtifactFixture.elf("same")) }
        let results = Mutex<[Result<ArtifactStore.Manifest, any Error>]>([])
        DispatchQueue.concurrentPerform(iterations: paths.count) { index in
            let result = Result { try fixture.store.importFile(at: paths[index], source: .operator, note: "\(index)") }
            results.withLock { $0.append(result) }
        }
        let manifests = try results.withLock { try $0.map { try $0.get() } }
        #expect(manifests.count == 4)
        #expect(Set(manifests.map(\.note)).count == 1, "every caller gets the manifest that was published")
        #expect(fixture.entries() == [SHA256.hex(ArtifactFixture.elf("same"))], "no temporary directory is left")
    }

    @Test func anArtifactThatNoLongerVerifiesIsReplacedByAFreshImport() throws {
        let fixture = try ArtifactFixture()
        let first = try fixture.importELF("a")
        try corrupt(fixture.store.binaryPath(first.sha256))
        let again = try fixture.importELF("a", note: "repaired")
        #expect(again.note == "repaired")
        #expect(fixture.store.verify(first.sha256) == .verified(binary: fixture.store.binaryPath(first.sha256)))
        #expect(fixture.entries() == [first.sha256], "the replaced copy is removed")
    }

    @Test func importRefusesWhatIsNotAnExecutableFile() throws {
        let fixture = try ArtifactFixture()
        let directory = fixture.root + "/sources"
        let empty = try fixture.source("empty", [])
        let text = try fixture.source("notes.txt", Array("hello\n".utf8))
        let link = fixture.root + "/sources/link"
        try FileManager.default.createSymbolicLink(atPath: link, withDestinationPath: directory)
        let large = fixture.root + "/sources/large"
        #expect(FileManager.default.createFile(atPath: large, contents: Data([0x7f, 0x45, 0x4c, 0x46])))
        #expect(truncate(large, Int(ArtifactStore.maximumSize) + 1) == 0, "a sparse file costs no disk")

        let refusals: [(String, String)] = [
            ("relative/worker", "cannot import relative/worker: the path must be absolute"),
            (fixture.root + "/nothing", "cannot import \(fixture.root)/nothing: it does not exist"),
            (directory, "cannot import \(directory): it is a directory, not a regular file"),
            (link, "cannot import \(link): it is a directory, not a regular file"),
            ("/dev/null", "cannot import /dev/null: it is a character device, not a regular file"),
            (empty, "cannot import \(empty): the file is empty"),
            (
                text,
                "cannot import \(text): it is not an executable (it starts with neither the ELF magic nor #!)"
            ),
            (large, "cannot import \(large): the file is 2147483649 bytes, more than the 2 GiB limit"),
        ]
        for (path, message) in refusals {
            let error = #expect(throws: AutonousError.self) {
                try fixture.store.importFile(at: path, source: .operator, note: nil)
            }
            #expect(error?.message == message)
        }
        #expect(fixture.entries().isEmpty, "a refused import leaves nothing behind")
    }

    @Test func aScriptIsAccepted() throws {
        let fixture = try ArtifactFixture()
        let script = try fixture.source("worker.sh", Array("#!/bin/sh\nexec sleep 1\n".utf8))
        let manifest = try fixture.store.importFile(at: script, source: .operator, note: nil)
        #expect(fixture.store.verify(manifest.sha256) == .verified(binary: fixture.store.binaryPath(manifest.sha256)))
    }

    @Test func verifyHashesTheFileEveryTime() throws {
        let fixture = try ArtifactFixture()
        let manifest = try fixture.importELF("a")
        let binary = fixture.store.binaryPath(manifest.sha256)
        #expect(fixture.store.verify(manifest.sha256) == .verified(binary: binary))

        let changed = try corrupt(binary)
        #expect(fixture.store.verify(manifest.sha256) == .changed(actual: SHA256.hex(changed)))

        // The artifact's directory is read-only (0555); root unlinks in it anyway, an unprivileged user does not.
        #expect(chmod(fixture.store.directoryPath(manifest.sha256), 0o755) == 0)
        #expect(unlink(binary) == 0)
        #expect(fixture.store.verify(manifest.sha256) == .missing("\(binary) does not exist"))
        let unknown = String(repeating: "0", count: 64)
        #expect(fixture.store.verify(unknown) == .missing("\(fixture.store.directoryPath(unknown)) does not exist"))
        #expect(fixture.store.verify("abc") == .missing("'abc' is not a sha256 (64 lowercase hex digits)"))
    }

    @Test func verifyRejectsAManifestThatNamesAnotherArtifact() throws {
        let fixture = try ArtifactFixture()
        let a = try fixture.importELF("a")
        let b = try fixture.importELF("b")
        let directory = fixture.store.directoryPath(a.sha256)
        #expect(chmod(directory, 0o755) == 0)
        try FileManager.default.removeItem(atPath: directory + "/manifest.json")
        try FileManager.default.copyItem(
            atPath: fixture.store.directoryPath(b.sha256) + "/manifest.json", toPath: directory + "/manifest.json")
        #expect(
            fixture.store.verify(a.sha256)
                == .missing("\(directory)/manifest.json names another artifact, \(b.sha256)"))
        #expect(fixture.store.all().map(\.sha256) == [b.sha256], "the listing skips it")
    }

    @Test func allListsNewestFirstAndSkipsJunk() throws {
        let fixture = try ArtifactFixture()
        let a = try fixture.importELF("a")
        let b = try fixture.importELF("b")
        let c = try fixture.importELF("c")
        try FileManager.default.createDirectory(
            atPath: fixture.artifacts + "/" + String(repeating: "e", count: 64), withIntermediateDirectories: false)
        try FileManager.default.createDirectory(
            atPath: fixture.artifacts + "/not-a-sha", withIntermediateDirectories: false)
        #expect(FileManager.default.createFile(atPath: fixture.artifacts + "/stray", contents: Data("x".utf8)))
        #expect(fixture.store.all().map(\.sha256) == [c.sha256, b.sha256, a.sha256])
    }

    @Test func aCrashedImportsLeftoversAreRemovedOnceTheyAreOld() throws {
        let fixture = try ArtifactFixture()
        let old = fixture.artifacts + "/.import-old123"
        let fresh = fixture.artifacts + "/.import-new123"
        for directory in [old, fresh] {
            try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: false)
            #expect(FileManager.default.createFile(atPath: directory + "/autonous-worker", contents: Data([1])))
            #expect(chmod(directory + "/autonous-worker", 0o555) == 0)
            #expect(chmod(directory, 0o555) == 0)
        }
        let oldLink = fixture.artifacts + "/.current.tmp-abcdef"
        try FileManager.default.createSymbolicLink(atPath: oldLink, withDestinationPath: "x")
        let trash = fixture.artifacts + "/.trash-" + String(repeating: "a", count: 64) + "-123456"
        try FileManager.default.createDirectory(atPath: trash, withIntermediateDirectories: false)
        let twoMinutesAgo = Date().addingTimeInterval(-120)
        for path in [old, old + "/autonous-worker"] {
            try FileManager.default.setAttributes([.modificationDate: twoMinutesAgo], ofItemAtPath: path)
        }
        var times = [timespec(tv_sec: time(nil) - 120, tv_nsec: 0), timespec(tv_sec: time(nil) - 120, tv_nsec: 0)]
        #expect(utimensat(AT_FDCWD, oldLink, &times, AT_SYMLINK_NOFOLLOW) == 0)

        _ = fixture.store.all()
        #expect(fixture.entries() == [".import-new123"], "an import younger than a minute may be in progress")
    }

    @Test func resolveFindsTheOneArtifactAPrefixNames() throws {
        let fixture = try ArtifactFixture()
        let first = "deadbeef00" + String(repeating: "1", count: 54)
        let second = "deadbeef01" + String(repeating: "2", count: 54)
        for name in [first, second] {
            try FileManager.default.createDirectory(
                atPath: fixture.artifacts + "/" + name, withIntermediateDirectories: false)
        }
        #expect(try fixture.store.resolve("deadbeef00") == first)
        #expect(try fixture.store.resolve(second) == second)
        #expect(throws: ArtifactStore.ResolveError.ambiguous("deadbeef", [first, second])) {
            try fixture.store.resolve("deadbeef")
        }
        #expect(throws: ArtifactStore.ResolveError.notFound("cafebabe")) { try fixture.store.resolve("cafebabe") }
        for malformed in ["deadbee", "DEADBEEF00", "deadbeefxy", first + "0"] {
            #expect(throws: ArtifactStore.ResolveError.malformed(malformed)) { try fixture.store.resolve(malformed) }
        }
    }

    @Test func pruneKeepsTheNewestTheProtectedAndWhatThePointersName() throws {
        let fixture = try ArtifactFixture()
        let made = try (0 ..< 7).map { try fixture.importELF("\($0)") }
        try fixture.store.setPointer(.current, to: made[0].sha256)
        try fixture.store.setPointer(.lastGood, to: made[1].sha256)
        try fixture.store.setPointer(.previousGood, to: made[2].sha256)

        let removed = try fixture.store.prune(keep: 2, protecting: [made[3].sha256])
        #expect(removed == [made[4].sha256])
        #expect(
            Set(fixture.store.all().map(\.sha256))
                == Set([made[6], made[5], made[3], made[2], made[1], made[0]].map(\.sha256)))
        #expect(fixture.entries().filter { $0.hasPrefix(".") }.isEmpty, "no trash is left")

        #expect(try fixture.store.prune(keep: 0, protecting: []) == [made[6].sha256, made[5].sha256, made[3].sha256])
        #expect(try fixture.store.prune(keep: 0, protecting: []).isEmpty)
        #expect(throws: AutonousError.self) { try fixture.store.prune(keep: -1, protecting: []) }
    }

    /// Flips one byte of a read-only artifact file (as root or its owner could), keeps its mtime as an attacker
    /// would, and returns its new bytes.
    @discardableResult
    private func corrupt(_ path: String) throws -> [UInt8] {
        let directory = (path as NSString).deletingLastPathComponent
        let modified = try #require(FileManager.default.attributesOfItem(atPath: path)[.modificationDate] as? Date)
        #expect(chmod(directory, 0o755) == 0)
        #expect(chmod(path, 0o755) == 0)
        var bytes = try [UInt8](Data(contentsOf: URL(fileURLWithPath: path)))
        bytes[bytes.count - 1] ^= 0xff
        try Data(bytes).write(to: URL(fileURLWithPath: path))
        try FileManager.default.setAttributes([.modificationDate: modified], ofItemAtPath: path)
        #expect(chmod(path, 0o555) == 0)
        #expect(chmod(directory, 0o555) == 0)
        return bytes
    }
}

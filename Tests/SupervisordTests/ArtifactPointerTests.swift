import AutonousCore
import Foundation
import Synchronization
import Testing

@testable import Supervisord

/// The `current`, `last-good` and `previous-good` symlinks: reading, atomic flips, removal.
@Suite struct ArtifactPointerTests {
    @Test func aPointerNamesTheArtifactByItsRelativeName() throws {
        let fixture = try ArtifactFixture()
        let a = try fixture.importELF("a")
        #expect(fixture.store.pointer(.current) == nil)
        try fixture.store.setPointer(.current, to: a.sha256)
        #expect(fixture.store.pointer(.current) == a.sha256)
        let target = try FileManager.default.destinationOfSymbolicLink(atPath: fixture.artifacts + "/current")
        #expect(target == a.sha256, "relative, so the state directory can move")
        #expect(fixture.store.pointer(.lastGood) == nil)
        #expect(fixture.store.pointer(.previousGood) == nil)
    }

    @Test func setPointerReplacesAnExistingLinkAndNilRemovesIt() throws {
        let fixture = try ArtifactFixture()
        let a = try fixture.importELF("a")
        let b = try fixture.importELF("b")
        try fixture.store.setPointer(.lastGood, to: a.sha256)
        try fixture.store.setPointer(.lastGood, to: b.sha256)
        #expect(fixture.store.pointer(.lastGood) == b.sha256)
        try fixture.store.setPointer(.lastGood, to: nil)
        #expect(fixture.store.pointer(.lastGood) == nil)
        #expect(fixture.store.linkTarget(.lastGood) == nil)
        try fixture.store.setPointer(.lastGood, to: nil)
        #expect(fixture.entries() == [a.sha256, b.sha256].sorted(), "no temporary link is left")
    }

    @Test func setPointerRefusesWhatIsNotAnArtifact() throws {
        let fixture = try ArtifactFixture()
        let missing = String(repeating: "a", count: 64)
        let error = #expect(throws: AutonousError.self) { try fixture.store.setPointer(.current, to: missing) }
        #expect(
            error?.message
                == "cannot point current at \(missing): \(fixture.store.directoryPath(missing)) does not exist")
        #expect(throws: AutonousError.self) { try fixture.store.setPointer(.current, to: "../etc") }
        #expect(fixture.store.linkTarget(.current) == nil)
    }

    @Test func aDanglingOrGarbagePointerReadsAsNone() throws {
        let fixture = try ArtifactFixture()
        let a = try fixture.importELF("a")
        try FileManager.default.createSymbolicLink(
            atPath: fixture.artifacts + "/current", withDestinationPath: String(repeating: "b", count: 64))
        try FileManager.default.createSymbolicLink(
            atPath: fixture.artifacts + "/last-good", withDestinationPath: "/" + fixture.artifacts + "/" + a.sha256)
        #expect(fixture.store.pointer(.current) == nil)
        #expect(fixture.store.pointer(.lastGood) == nil)
        try fixture.store.setPointer(.current, to: a.sha256)
        #expect(fixture.store.pointer(.current) == a.sha256)
    }

    @Test func aReaderAlwaysSeesAWholeArtifactWhileThePointerFlips() async throws {
        let fixture = try ArtifactFixture()
        let a = try fixture.importELF("a")
        let b = try fixture.importELF("b")
        try fixture.store.setPointer(.current, to: a.sha256)
        let stop = StopFlag()
        let link = fixture.artifacts + "/current"
        let reader = Task { () -> (reads: Int, failures: [String]) in
            var reads = 0
            var failures: [String] = []  // what a read saw instead of a whole artifact
            while !stop.isSet {
                reads += 1
                guard let target = try? FileManager.default.destinationOfSymbolicLink(atPath: link) else {
                    failures.append("no link")
                    continue
                }
                let binary = fixture.artifacts + "/" + target + "/autonous-worker"
                let manifest = fixture.artifacts + "/" + target + "/manifest.json"
                if ![a.sha256, b.sha256].contains(target) || access(binary, X_OK) != 0 || access(manifest, R_OK) != 0 {
                    failures.append(target)
                }
                await Task.yield()
            }
            return (reads, failures)
        }
        for flip in 0 ..< 400 {
            try fixture.store.setPointer(.current, to: flip % 2 == 0 ? b.sha256 : a.sha256)
            if flip % 50 == 0 { await Task.yield() }
        }
        stop.set()
        let result = await reader.value
        #expect(result.failures.count == 0, "a reader saw no whole artifact; first: \(result.failures.prefix(3))")
        #expect(result.reads > 0)
        #expect(fixture.store.pointer(.current) == a.sha256)
    }
}

/// A flag one task sets and another polls.
private final class StopFlag: Sendable {
    private let value = Mutex(false)

    var isSet: Bool { value.withLock { $0 } }

    func set() { value.withLock { $0 = true } }
}

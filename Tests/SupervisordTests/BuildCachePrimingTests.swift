import AutonousCore
import Foundation
import Logging
import Testing

@testable import Supervisord

/// The supervisor gives the self-update build cache SwiftPM's clones of the dependencies from the seed checkout, so
/// an operator never copies them by hand; it never replaces clones the cache has already.
struct BuildCachePrimingTests {
    let root = FileManager.default.temporaryDirectory.appendingPathComponent("prime-" + UUID().uuidString).path

    private func configuration() throws -> AutonousCore.Configuration {
        try AutonousCore.Configuration(environment: ["AUTONOUS_STATE_DIR": root + "/state"])
    }

    /// A checkout whose `.build/repositories` holds one bare clone whose HEAD file says `head`.
    private func seed(head: String) throws -> String {
        let seed = root + "/checkout"
        let clone = seed + "/.build/repositories/swift-log-ba8887eb"
        try FileManager.default.createDirectory(atPath: clone + "/objects", withIntermediateDirectories: true)
        try Data(head.utf8).write(to: URL(fileURLWithPath: clone + "/HEAD"))
        return seed
    }

    @Test func theSeedsDependencyClonesAreCopiedOnceAndNeverReplaced() throws {
        defer { try? FileManager.default.removeItem(atPath: root) }
        let configuration = try configuration()
        let logger = Logger(label: "test")
        let cached = configuration.buildCacheDirectory + "/swiftpm/repositories/swift-log-ba8887eb"

        UpdatePipeline.primeBuildCache(configuration: configuration, seed: try seed(head: "first\n"), logger: logger)
        #expect(try String(contentsOfFile: cached + "/HEAD", encoding: .utf8) == "first\n")
        #expect(FileManager.default.fileExists(atPath: cached + "/objects"))
        let leftovers = try FileManager.default.contentsOfDirectory(
            atPath: configuration.buildCacheDirectory + "/swiftpm")
        #expect(leftovers == ["repositories"], "no staging copy is left beside it")

        UpdatePipeline.primeBuildCache(configuration: configuration, seed: try seed(head: "second\n"), logger: logger)
        #expect(try String(contentsOfFile: cached + "/HEAD", encoding: .utf8) == "first\n", "the cache keeps its own")
    }

    @Test func withoutAUTONOUSSOURCEREPOTheInstalledSourceBesideTheBinariesIsTheSeed() throws {
        defer { try? FileManager.default.removeItem(atPath: root) }
        let supervisor = root + "/usr/bin/autonous-supervisord"
        #expect(UpdatePipeline.installedSource(executable: supervisor) == nil, "nothing installed yet")
        let source = root + "/usr/share/autonous/source"
        try FileManager.default.createDirectory(atPath: source, withIntermediateDirectories: true)
        try Data("ref: refs/heads/main\n".utf8).write(to: URL(fileURLWithPath: source + "/HEAD"))
        #expect(UpdatePipeline.installedSource(executable: supervisor) == source)
    }

    @Test func aSeedThatWasNeverBuiltLeavesTheCacheAlone() throws {
        defer { try? FileManager.default.removeItem(atPath: root) }
        let configuration = try configuration()
        let checkout = root + "/never-built"
        try FileManager.default.createDirectory(atPath: checkout, withIntermediateDirectories: true)
        UpdatePipeline.primeBuildCache(configuration: configuration, seed: checkout, logger: Logger(label: "test"))
        #expect(!FileManager.default.fileExists(atPath: configuration.buildCacheDirectory + "/swiftpm/repositories"))
    }
}

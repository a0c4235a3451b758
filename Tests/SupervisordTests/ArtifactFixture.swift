import AutonousCore
import Foundation
import Synchronization

@testable import Supervisord

/// A fresh state directory with an artifact store in `artifacts/`, a place for source files, and a clock that
/// moves one second per import; removed afterwards (read-only artifacts included).
final class ArtifactFixture: Sendable {
    let root: String
    let store: ArtifactStore
    let clock: TestMilliseconds

    init() throws {
        root = FileManager.default.temporaryDirectory.appendingPathComponent("artifacts-" + UUID().uuidString).path
        try FileManager.default.createDirectory(atPath: root + "/sources", withIntermediateDirectories: true)
        let clock = TestMilliseconds(start: AppDatabase.nowMilliseconds())
        self.clock = clock
        store = try ArtifactStore(directory: root + "/artifacts", now: { clock.tick() })
    }

    deinit {
        try? ArtifactFiles.removeTree(root)
    }

    /// The artifacts directory.
    var artifacts: String { store.directory }

    /// Writes `bytes` to `sources/<name>` and returns its path.
    func source(_ name: String, _ bytes: [UInt8], mode: Int = 0o755) throws -> String {
        let path = root + "/sources/" + name
        try Data(bytes).write(to: URL(fileURLWithPath: path))
        try FileManager.default.setAttributes([.posixPermissions: mode], ofItemAtPath: path)
        return path
    }

    /// The bytes of a small fake ELF executable that differs by `tag`.
    static func elf(_ tag: String) -> [UInt8] {
        [0x7f, 0x45, 0x4c, 0x46] + Array("fake worker \(tag)\n".utf8)
    }

    /// Imports a fake ELF executable tagged `tag` as an operator revision.
    @discardableResult
    func importELF(_ tag: String, note: String? = nil) throws -> ArtifactStore.Manifest {
        try store.importFile(at: source("worker-\(tag)", Self.elf(tag)), source: .operator, note: note)
    }

    /// The permission bits of `path` (not following a symlink).
    func mode(_ path: String) -> Int {
        Int((ArtifactFiles.status(path)?.st_mode ?? 0) & 0o7777)
    }

    /// The names in `artifacts/`, sorted.
    func entries() -> [String] {
        ((try? FileManager.default.contentsOfDirectory(atPath: artifacts)) ?? []).sorted()
    }
}

/// A millisecond clock that advances one second every time it is read, so imports have distinct, ordered times.
final class TestMilliseconds: Sendable {
    private let value: Mutex<Int64>

    init(start: Int64) { value = Mutex(start) }

    func tick() -> Int64 {
        value.withLock { now in
            now += 1000
            return now
        }
    }
}

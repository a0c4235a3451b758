import AutonousCore
import Foundation

#if canImport(Glibc)
import Glibc
#endif

/// The supervisor's content-addressed worker revisions in `$AUTONOUS_STATE_DIR/artifacts/`.
///
/// Layout: `<sha256>/autonous-worker` (0555) and `<sha256>/manifest.json` (0444) in a `<sha256>` directory that is
/// 0555 once complete; `current`, `last-good` and `previous-good` are symlinks to the relative name `<sha256>`.
/// `artifacts/` itself is 0711: the sandboxed worker (another uid when the supervisor runs as root) must traverse
/// it to reach its own bound binary, and nobody but the owner may list it.
///
/// An artifact appears only by rename(2) of a complete, synced temporary directory (`.import-XXXXXX`), so a crash
/// leaves either nothing or a whole artifact; `all()` removes the leftovers. Nothing is cached: `verify` hashes the
/// file again on every call. Only the supervisor writes here; methods are safe to call from several threads, and
/// concurrent imports of the same file converge on one artifact.
final class ArtifactStore: Sendable {
    /// The file name of the worker executable inside an artifact.
    static let binaryName = "autonous-worker"
    /// The file name of the manifest inside an artifact.
    static let manifestName = "manifest.json"
    /// The largest file `importFile` accepts.
    static let maximumSize: Int64 = 2 << 30
    /// How old an `.import-*` directory or a temporary pointer must be before it counts as a crash's leftover
    /// rather than an import in progress.
    static let leftoverAge: Int64 = 60_000

    /// The absolute path of `artifacts/`.
    let directory: String
    /// Milliseconds since the Unix epoch: `importedMs` and the age of leftovers. Injected so tests order imports.
    let now: @Sendable () -> Int64

    /// Opens the store at `directory`, creating it 0711 (its parent must exist) or correcting its mode.
    ///
    /// - Throws: `AutonousError` naming the path when it cannot be created, or exists and is not a directory.
    init(directory: String, now: @escaping @Sendable () -> Int64 = AppDatabase.nowMilliseconds) throws {
        self.directory = directory
        self.now = now
        if mkdir(directory, 0o711) != 0, errno != EEXIST {
            throw AutonousError(
                .io, "cannot create the artifacts directory \(directory)", cause: Errno(errno, "mkdir \(directory)"))
        }
        guard ArtifactFiles.isDirectory(directory) else {
            throw AutonousError(
                .invalidArgument, "the artifacts directory \(directory) exists but is not a directory")
        }
        // mkdir applies the umask, and a directory of an earlier version may have another mode.
        guard chmod(directory, 0o711) == 0 else {
            throw AutonousError(
                .permissionDenied, "cannot set the mode of \(directory) to 0711", cause: Errno(errno, "chmod"))
        }
    }

    /// The directory of the artifact `sha256`.
    func directoryPath(_ sha256: String) -> String { directory + "/" + sha256 }

    /// The worker executable of the artifact `sha256`.
    func binaryPath(_ sha256: String) -> String { directoryPath(sha256) + "/" + Self.binaryName }

    /// The manifest of the artifact `sha256`.
    ///
    /// - Throws: `AutonousError(.notFound)` when it cannot be read, `.invalidArgument` when it does not decode.
    func manifest(_ sha256: String) throws -> Manifest {
        let path = directoryPath(sha256) + "/" + Self.manifestName
        guard ArtifactFiles.isSHA256(sha256) else {
            throw AutonousError(.invalidArgument, "'\(sha256)' is not a sha256 (64 lowercase hex digits)")
        }
        guard let data = FileManager.default.contents(atPath: path) else {
            throw AutonousError(.notFound, "the manifest \(path) does not exist or cannot be read")
        }
        do {
            return try JSONCoding.decoder.decode(Manifest.self, from: data)
        } catch {
            throw AutonousError(
                .invalidArgument, "the manifest \(path) is not valid: \(JSONCoding.describe(error))")
        }
    }

    /// Hashes the artifact's executable again and compares it with its name and its manifest.
    ///
    /// Called before every spawn, so it never trusts a cache or an mtime (both can be preserved by whoever changed
    /// the file). `.missing` says what is absent or unreadable; `.changed` carries the hash the file has now.
    func verify(_ sha256: String) -> VerifyResult {
        guard ArtifactFiles.isSHA256(sha256) else {
            return .missing("'\(sha256)' is not a sha256 (64 lowercase hex digits)")
        }
        let artifact = directoryPath(sha256)
        guard ArtifactFiles.isDirectory(artifact) else { return .missing("\(artifact) does not exist") }
        let binary = binaryPath(sha256)
        guard let info = ArtifactFiles.status(binary) else { return .missing("\(binary) does not exist") }
        guard info.st_mode & S_IFMT == S_IFREG else { return .missing("\(binary) is not a regular file") }
        let actual: String
        do {
            actual = try SHA256.hex(fileAt: binary)
        } catch {
            return .missing("\(binary) cannot be read: \(error)")
        }
        guard actual == sha256 else { return .changed(actual: actual) }
        do {
            let manifest = try manifest(sha256)
            guard manifest.sha256 == sha256 else {
                return .missing("\(artifact)/\(Self.manifestName) names another artifact, \(manifest.sha256)")
            }
        } catch {
            return .missing("\(error)")
        }
        return .verified(binary: binary)
    }

    /// Every complete artifact, newest import first; junk entries are skipped and crash leftovers removed.
    func all() -> [Manifest] {
        removeLeftovers()
        let manifests = artifactNames().compactMap { name -> Manifest? in
            guard let manifest = try? manifest(name), manifest.sha256 == name else { return nil }
            return manifest
        }
        return manifests.sorted { ($0.importedMs, $0.sha256) > ($1.importedMs, $1.sha256) }
    }

    /// The full sha256 of the one artifact whose name starts with `prefix` (at least 8 lowercase hex digits).
    func resolve(_ prefix: String) throws -> String {
        guard prefix.utf8.count >= 8, prefix.utf8.count <= 64, ArtifactFiles.isLowercaseHex(prefix) else {
            throw ResolveError.malformed(prefix)
        }
        let matches = artifactNames().filter { $0.hasPrefix(prefix) }.sorted()
        switch matches.count {
        case 0: throw ResolveError.notFound(prefix)
        case 1: return matches[0]
        default: throw ResolveError.ambiguous(prefix, matches)
        }
    }

    /// The names in `artifacts/` that are sha256 directories (complete or not; symlinks and temporaries are not).
    func artifactNames() -> [String] {
        let entries = (try? FileManager.default.contentsOfDirectory(atPath: directory)) ?? []
        return entries.filter { ArtifactFiles.isSHA256($0) && ArtifactFiles.isDirectory(directoryPath($0)) }
    }
}

extension ArtifactStore {
    /// What `verify` found.
    enum VerifyResult: Equatable, Sendable {
        /// The file hashes to its name and the manifest agrees; `binary` is the path to spawn.
        case verified(binary: String)
        /// The artifact, its file or its manifest is absent or unreadable: the message says which.
        case missing(String)
        /// The file's content is not what was imported: `actual` is its SHA-256 now.
        case changed(actual: String)
    }

    /// Why `resolve` found no single artifact.
    enum ResolveError: Error, Equatable, CustomStringConvertible {
        /// No artifact starts with the prefix.
        case notFound(String)
        /// Several do; the matches are sorted.
        case ambiguous(String, [String])
        /// The prefix is not 8 to 64 lowercase hex digits.
        case malformed(String)

        var description: String {
            switch self {
            case .notFound(let prefix): "no revision matches '\(prefix)'"
            case .ambiguous(let prefix, let matches):
                "'\(prefix)' matches \(matches.count) revisions: \(matches.joined(separator: ", "))"
            case .malformed(let prefix):
                "'\(prefix)' is not a revision: give 8 to 64 lowercase hex digits of its sha256"
            }
        }
    }
}

import Foundation

/// A fresh directory tree under /tmp for one test, removed in deinit:
///
///     /tmp/asb-XXXXXX/        0755 root
///       ws/                   0755 65534:65534  the workspace (the mapped uid can write it in both caller modes)
///       outside/              0755 root         host files the sandbox must never reach (never bound)
///       host/                 0755 root         root-owned host files that tests bind in on purpose
///       scratch/              0755 65534:65534  for files the launcher's caller writes (traces), never bound
///
/// The short path keeps every bind mount point short; the parents are 0755 so that uid 65534 can reach them.
/// As an unprivileged test process (under the unit) everything belongs to the process's own user, which is then
/// the mapped uid: `hostOwner` instead of root, and tests that need a root-owned file cancel themselves.
final class SandboxFixture: @unchecked Sendable {
    let root: String
    var workspace: String { root + "/ws" }
    var outside: String { root + "/outside" }
    var host: String { root + "/host" }
    var scratch: String { root + "/scratch" }
    /// Host paths outside `root` a test expects never to appear; removed in deinit in case they did.
    private var strayPaths: [String] = []

    /// The owner of the host-side directories and of host files whose owner is not what a test is about (files
    /// the sandbox must not even see): root when the test process is host root, else its own user, the only owner
    /// an unprivileged process can give.
    static let hostOwner: UInt32 = Caller.testIsHostRoot ? 0 : getuid()

    init() throws {
        var template = Array("/tmp/asb-XXXXXX".utf8CString)
        guard let made = mkdtemp(&template) else { throw POSIXError(.EIO) }
        root = String(cString: made)
        try setMode(root, 0o755)
        try makeDirectory(workspace, owner: Caller.mappedID)
        try makeDirectory(outside, owner: Self.hostOwner)
        try makeDirectory(host, owner: Self.hostOwner)
        try makeDirectory(scratch, owner: Caller.mappedID)
    }

    deinit {
        for path in strayPaths { try? FileManager.default.removeItem(atPath: path) }
        try? FileManager.default.removeItem(atPath: root)
    }

    /// Launcher arguments: `--profile`, `--workspace` (unless nil), the probes bound read-only, `options`, `--`, the
    /// command.
    func arguments(
        profile: String, workspace: String? = nil, useWorkspace: Bool = true, options: [String] = [],
        command: [String]
    ) -> [String] {
        var arguments = ["--profile", profile]
        if useWorkspace { arguments += ["--workspace", workspace ?? self.workspace] }
        arguments += ["--ro", TestPaths.fixtures] + options + ["--"] + command
        return arguments
    }

    /// Remembers a host path outside the fixture that a test checks is never created, so deinit removes it if it was.
    func stray(_ path: String) -> String {
        strayPaths.append(path)
        return path
    }

    // MARK: Building host trees

    func makeDirectory(_ path: String, owner: UInt32 = Caller.mappedID, mode: mode_t = 0o755) throws {
        try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
        try setOwner(path, owner)
        try setMode(path, mode)
    }

    func writeFile(_ path: String, _ contents: String, owner: UInt32 = Caller.mappedID, mode: mode_t = 0o644) throws {
        guard FileManager.default.createFile(atPath: path, contents: Data(contents.utf8)) else {
            throw POSIXError(.EIO)
        }
        try setOwner(path, owner)
        try setMode(path, mode)  // after chown, which clears the setuid bit
    }

    func symlink(_ path: String, to target: String, owner: UInt32 = Caller.mappedID) throws {
        try FileManager.default.createSymbolicLink(atPath: path, withDestinationPath: target)
        guard lchown(path, owner, Self.group(of: owner)) == 0 else {
            throw POSIXError(POSIXErrorCode(rawValue: errno) ?? .EIO)
        }
    }

    func copyFile(_ source: String, to path: String, owner: UInt32, mode: mode_t) throws {
        try FileManager.default.copyItem(atPath: source, toPath: path)
        try setOwner(path, owner)
        try setMode(path, mode)
    }

    private func setOwner(_ path: String, _ owner: UInt32) throws {
        guard chown(path, owner, Self.group(of: owner)) == 0 else {
            throw POSIXError(POSIXErrorCode(rawValue: errno) ?? .EIO)
        }
    }

    /// The group a path of `owner` gets: the mapped gid for the mapped uid (the two differ for a service user
    /// whose group has another number), else the same number.
    private static func group(of owner: UInt32) -> UInt32 {
        owner == Caller.mappedID ? Caller.mappedGID : owner
    }

    private func setMode(_ path: String, _ mode: mode_t) throws {
        guard chmod(path, mode) == 0 else { throw POSIXError(POSIXErrorCode(rawValue: errno) ?? .EIO) }
    }
}

/// Host-side facts a test checks after a run.
enum HostFile {
    /// lstat of a host path, nil if it does not exist.
    static func status(_ path: String) -> stat? {
        var info = stat()
        return lstat(path, &info) == 0 ? info : nil
    }

    static func exists(_ path: String) -> Bool { status(path) != nil }

    static func contents(_ path: String) -> String? {
        try? String(contentsOfFile: path, encoding: .utf8)
    }

    static func listing(_ path: String) -> [String]? {
        (try? FileManager.default.contentsOfDirectory(atPath: path))?.sorted()
    }
}

/// The results of `probe.py files`, paired with the operations that produced them.
struct FileResults: Sendable {
    let operations: [FileOp]
    let results: [JSON]

    init?(_ operations: [FileOp], _ run: SandboxRun) {
        guard let results = run.json?["results"].array, results.count == operations.count else { return nil }
        self.operations = operations
        self.results = results
    }

    /// The result of the operation at `index`.
    subscript(index: Int) -> JSON { results[index] }

    /// The result of the first operation named `name` on `path`.
    func result(_ name: String, _ path: String) -> JSON {
        guard let index = operations.firstIndex(where: { $0.name == name && $0.path == path }) else { return .null }
        return results[index]
    }

    func errno(_ name: String, _ path: String) -> Int? { result(name, path)["errno"].int }

    /// Every (operation, result) pair.
    var pairs: [(FileOp, JSON)] { Array(zip(operations, results)) }
}

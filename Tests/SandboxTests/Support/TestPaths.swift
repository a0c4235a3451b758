import Foundation

/// Where the launcher under test and the probe scripts are.
enum TestPaths {
    /// The package root, from this file's path (Tests/SandboxTests/Support/TestPaths.swift).
    static let packageRoot: String = {
        var url = URL(fileURLWithPath: #filePath)
        for _ in 0 ..< 4 { url.deleteLastPathComponent() }
        return url.path
    }()

    /// `$AUTONOUS_TEST_BIN_DIR`, or `.build/debug` of this package.
    static var binDirectory: String {
        ProcessInfo.processInfo.environment["AUTONOUS_TEST_BIN_DIR"] ?? packageRoot + "/.build/debug"
    }

    /// The `autonous-sandbox` executable under test.
    static var launcher: String { binDirectory + "/autonous-sandbox" }

    /// `$AUTONOUS_TEST_FIXTURES_DIR`, or Tests/Fixtures/sandbox of this package: the probe scripts, bound read-only
    /// into every sandbox at the same path. (scripts/e2e-systemd runs the suite where the package is not.)
    static var fixtures: String {
        ProcessInfo.processInfo.environment["AUTONOUS_TEST_FIXTURES_DIR"] ?? packageRoot + "/Tests/Fixtures/sandbox"
    }

    /// The Python inside the sandbox (the system one, from the read-only /usr).
    static let python = "/usr/bin/python3"
}

/// The probe scripts of Tests/Fixtures/sandbox as sandbox commands. Each prints one JSON object.
enum Probe {
    /// `probe.py identity`: capabilities, NoNewPrivs, seccomp mode, ids, session, open descriptors, environment.
    static let identity = command("identity")

    /// `probe.py procs`: the pids /proc shows, their roots, the mount points.
    static let procs = command("procs")

    /// `probe.py syscalls NAME...`: each named raw syscall in a child of its own, reported with its errno.
    static func syscalls(_ names: [String]) -> [String] { command("syscalls", names) }

    /// `probe.py files OPS`: file operations, each reported with its errno (see FileOp).
    static func files(_ operations: [FileOp]) -> [String] {
        let encoded = operations.map { $0.encoded }
        let data = (try? JSONSerialization.data(withJSONObject: encoded)) ?? Data("[]".utf8)
        return command("files", [String(decoding: data, as: UTF8.self)])
    }

    /// `probe.py sockets [HOST PORT]...`: which socket families open, the interfaces, and connections to each port.
    static func sockets(connectingTo ports: [UInt16] = []) -> [String] {
        command("sockets", ports.flatMap { ["127.0.0.1", String($0)] })
    }

    /// `probe.py netgate`: the network tier's checks against two host loopback servers (see probe.py).
    static func netgate(allowed: UInt16, denied: UInt16, name: String) -> [String] {
        command("netgate", [String(allowed), String(denied), name])
    }

    /// `python3 -I <fixture>/<script> ARG...`.
    static func script(_ name: String, _ arguments: [String] = []) -> [String] {
        [TestPaths.python, "-I", TestPaths.fixtures + "/" + name] + arguments
    }

    private static func command(_ probe: String, _ arguments: [String] = []) -> [String] {
        script("probe.py", [probe] + arguments)
    }
}

/// One operation of `probe.py files`: `name` is one of read, create, create_through, write, append, truncate, mkdir,
/// rmdir, unlink, rename, chmod, utime, symlink, link, listdir, stat, lstat, readlink, mknod_char.
struct FileOp: Sendable, CustomStringConvertible {
    let name: String
    let path: String
    let argument: String?

    init(_ name: String, _ path: String, _ argument: String? = nil) {
        self.name = name
        self.path = path
        self.argument = argument
    }

    var encoded: [String] { [name, path] + (argument.map { [$0] } ?? []) }
    var description: String { "\(name) \(path)" + (argument.map { " \($0)" } ?? "") }
}

/// Well-known errnos as the probes report them.
enum Errno {
    static let eperm = Int(EPERM)
    static let enoent = Int(ENOENT)
    static let enxio = Int(ENXIO)
    static let eacces = Int(EACCES)
    static let ebusy = Int(EBUSY)
    static let einval = Int(EINVAL)
    static let erofs = Int(EROFS)
    static let eexist = Int(EEXIST)
    static let enosys = Int(ENOSYS)

    /// "EPERM (1)" style text for messages.
    static func name(_ value: Int?) -> String {
        guard let value else { return "nil" }
        return "\(String(cString: strerror(Int32(value)))) (\(value))"
    }
}

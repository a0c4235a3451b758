import AutonousCore
import Foundation

/// How the supervisor starts a worker revision under `autonous-sandbox --profile worker`: the binds it needs, its
/// environment (secrets through the launcher's environment, never on a command line), and the host uid it runs as.
///
/// The worker sees only its own corner: `worker/` (its database) and `workspace/` read-write, the worker socket,
/// its binary (at `/autonous/autonous-worker`, not at its artifact's path), the launcher and the Swift runtime they
/// link, the configuration directory (and a scripted model's script) and the tool roots read-only. Nothing else of
/// the state or runtime directories is in its mount namespace: not `autonous.db`, not the control socket, not what
/// decides whether a revision runs.
struct WorkerSandbox: Sendable {
    let configuration: Configuration
    let sandboxBinary: String

    /// The command line and environment for `ChildProcess.spawn`.
    func command(workerBinary: String, workerEnvironment: [String: String]) -> (
        arguments: [String], environment: [String: String]
    ) {
        command(
            workerBinary: workerBinary, workerEnvironment: workerEnvironment,
            writable: [
                configuration.workerDirectory, configuration.workspaceDirectory, configuration.workerSocketPath,
            ],
            cwd: configuration.workerDirectory, toolRoots: true, workerArguments: [])
    }

    /// The command line for `--self-check`: the same sandbox, but the only writable place is `scratch` (with its
    /// copy of the database); the live worker directory, workspace and socket are not in it.
    func selfCheckCommand(workerBinary: String, scratch: String, workerEnvironment: [String: String]) -> (
        arguments: [String], environment: [String: String]
    ) {
        command(
            workerBinary: workerBinary, workerEnvironment: workerEnvironment, writable: [scratch], cwd: scratch,
            toolRoots: false, workerArguments: ["--self-check", "--scratch", scratch])
    }

    private func command(
        workerBinary: String, workerEnvironment: [String: String], writable: [String], cwd: String, toolRoots: Bool,
        workerArguments: [String]
    ) -> (arguments: [String], environment: [String: String]) {
        // The worker and its self-check end with the supervisor (a kill -9 of it leaves no worker polling Telegram
        // beside the next supervisor's, and no self-check running on): the spawn thread lives as long as it.
        var arguments = ["--profile", "worker", "--die-with-parent"]
        if geteuid() == 0 {
            arguments += ["--uid", String(configuration.workerUID), "--gid", String(configuration.workerUID)]
        }
        if configuration.sandboxLimitsBestEffort { arguments.append("--best-effort-limits") }
        for path in writable { arguments += ["--rw", path] }
        if FileManager.default.fileExists(atPath: configuration.configDirectory) {
            arguments += ["--ro", configuration.configDirectory]
        }
        // The scripted model's script, read by the worker's own configuration check, when it lies elsewhere.
        if let script = configuration.modelScriptPath, !script.hasPrefix(configuration.configDirectory + "/") {
            arguments += ["--ro", script]
        }
        let journal = "/run/systemd/journal/socket"
        if FileManager.default.fileExists(atPath: journal) { arguments += ["--rw", journal] }
        // The revision's binary alone, at a fixed path: the artifacts directory it lives in stays out of sight.
        arguments += ["--ro-bind", workerBinary, Self.binaryInside]
        var readOnly = [URL(fileURLWithPath: sandboxBinary).deletingLastPathComponent().path]
        readOnly += Self.swiftRuntimeDirectories()
        var seen: Set<String> = []
        for path in readOnly where seen.insert(path).inserted && !Self.isCovered(path) {
            arguments += ["--ro", path]
        }
        if toolRoots {
            for root in configuration.toolRoots { arguments += [root.writable ? "--rw" : "--ro", root.path] }
        }
        arguments += ["--cwd", cwd]
        var launcherEnvironment = ["PATH": "/usr/local/bin:/usr/bin:/bin"]
        for (key, value) in workerEnvironment.sorted(by: { $0.key < $1.key }) {
            if key == "OPENAI_API_KEY" || key == "AUTONOUS_TELEGRAM_TOKEN" || key == "CREDENTIALS_DIRECTORY" {
                continue
            }
            arguments += ["--env", "\(key)=\(value)"]
        }
        // Secrets travel in the launcher's own environment (readable only by its user), not in argv.
        if let token = configuration.telegramToken {
            launcherEnvironment["AUTONOUS_TELEGRAM_TOKEN"] = token.value
            arguments += ["--env-inherit", "AUTONOUS_TELEGRAM_TOKEN"]
        }
        if let key = configuration.openAIKey {
            launcherEnvironment["OPENAI_API_KEY"] = key.value
            arguments += ["--env-inherit", "OPENAI_API_KEY"]
        }
        arguments += ["--", Self.binaryInside] + workerArguments
        return (arguments, launcherEnvironment)
    }

    /// Where the worker's binary appears inside its sandbox, whichever artifact it is.
    static let binaryInside = "/autonous/autonous-worker"

    /// Directories already inside the sandbox's read-only system binds.
    static func isCovered(_ path: String) -> Bool {
        ["/usr/", "/lib/", "/lib64/", "/bin/", "/sbin/"].contains { path.hasPrefix($0) }
    }

    /// Where this process loaded the Swift runtime from (a toolchain's lib directory, unless linked statically):
    /// a worker built by the same toolchain needs the same directory.
    static func swiftRuntimeDirectories() -> [String] {
        // Read to the end: a file of /proc has no size to read up to, and a process whose code the idle trim split
        // into pages (`IdleTrim`) lists thousands of mappings.
        guard let file = FileHandle(forReadingAtPath: "/proc/self/maps") else { return [] }
        defer { try? file.close() }
        guard let contents = try? file.readToEnd() else { return [] }
        var directories: [String] = []
        for line in String(decoding: contents, as: UTF8.self).split(separator: "\n") {
            guard let slash = line.firstIndex(of: "/"), let last = line.lastIndex(of: "/") else { continue }
            let name = line[line.index(after: last)...]
            guard
                name.hasPrefix("libswift") || name.hasPrefix("libFoundation") || name.hasPrefix("lib_Foundation")
                    || name.hasPrefix("libdispatch") || name.hasPrefix("libBlocksRuntime")
            else { continue }
            let directory = last == slash ? "/" : String(line[slash ..< last])
            if !directories.contains(directory) { directories.append(directory) }
        }
        return directories
    }

    /// When the supervisor runs as root, the sandboxed worker is `AUTONOUS_WORKER_UID` on the host: give it what
    /// it must write (its own directory with its database, the workspace) and the worker socket. The state
    /// directory itself and `autonous.db` stay the supervisor's.
    static func grantState(to uid: UInt32, configuration: Configuration) {
        guard geteuid() == 0 else { return }
        let gid = gid_t(uid)
        _ = chown(configuration.workerSocketPath, uid, gid)
        for directory in [configuration.workerDirectory, configuration.workspaceDirectory] {
            _ = chown(directory, uid, gid)
            if let walker = FileManager.default.enumerator(atPath: directory) {
                while let entry = walker.nextObject() as? String { _ = lchown(directory + "/" + entry, uid, gid) }
            }
        }
    }
}

/// Ancestry checks on /proc, for matching a socket peer to the worker under its launcher.
enum ProcessTree {
    /// The parent pid of `pid`, from /proc/<pid>/stat (the field after the parenthesised command name).
    static func parent(of pid: Int32) -> Int32? {
        guard let stat = try? String(contentsOfFile: "/proc/\(pid)/stat", encoding: .utf8),
            let close = stat.lastIndex(of: ")")
        else { return nil }
        let fields = stat[stat.index(after: close)...].split(separator: " ")
        guard fields.count > 1 else { return nil }
        return Int32(fields[1])
    }

    /// True when `pid` is `ancestor` or descends from it within `depth` generations.
    static func isDescendant(_ pid: Int32, of ancestor: Int32, depth: Int = 8) -> Bool {
        var current = pid
        for _ in 0 ... depth {
            if current == ancestor { return true }
            guard let next = parent(of: current), next > 1 else { return false }
            current = next
        }
        return false
    }
}

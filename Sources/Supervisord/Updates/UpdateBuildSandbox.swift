import AutonousCore
import Foundation
import Logging

#if canImport(Glibc)
import Glibc
#endif

/// Runs the update pipeline's build and test commands with `/bin/sh -c` in the launcher's `build` profile: no
/// network, the profile's memory and pids limits, `AUTONOUS_UPDATE_TIMEOUT` of wall clock, as the worker's uid when
/// the supervisor is root. Inside, the transaction's tree is at `/autonous/src` (read-write, the working
/// directory), the shared build cache at `/autonous/cache` and the output directory at `/autonous/out`; the fixed
/// paths make the cache's absolute paths the same for every transaction, so each build is incremental.
///
/// The command sees `AUTONOUS_BUILD_OUTPUT` (where the build must leave the worker executable),
/// `AUTONOUS_BUILD_CACHE`, `AUTONOUS_TEST_REPORT` (where a test command may write `{"passed": N, "failed": M}`)
/// and `AUTONOUS_TX`. Its output (stdout and stderr, and the launcher's own messages) is appended to a log file.
struct UpdateBuildSandbox: Sendable {
    static let treeInside = "/autonous/src"
    static let cacheInside = "/autonous/cache"
    static let outputInside = "/autonous/out"
    static let binaryName = "autonous-worker"

    /// SwiftPM, offline, the worker product only, in release. The sandbox has no network: `--skip-update` resolves
    /// the dependencies from their git clones in the cache (`swiftpm/repositories`) and checks them out from there,
    /// never fetching. The supervisor copies those clones from `AUTONOUS_SOURCE_REPO`'s `.build/repositories` when
    /// it seeds `src/` (`UpdatePipeline.primeBuildCache`); without them the command says so rather than failing on a
    /// host name. Everything else in `swiftpm/` is SwiftPM's own and makes the next build incremental.
    ///
    /// The Swift runtime is linked in (`--static-swift-stdlib`), as `make install` links the bootstrap revision:
    /// every revision is whole by itself. A revision linked to the toolchain's runtime libraries would not start
    /// under an installed supervisor, which loads no runtime library and so binds none into the worker's sandbox
    /// (`WorkerSandbox.swiftRuntimeDirectories`); and an upgraded or removed toolchain would break every such
    /// revision at once, the last-known-good one included.
    static let defaultBuildCommand = """
        set -e
        scratch="$AUTONOUS_BUILD_CACHE/swiftpm"
        if [ ! -d "$scratch/repositories" ]; then
          echo "the build cache has no SwiftPM dependencies: build AUTONOUS_SOURCE_REPO once (swift build) and" >&2
          echo "restart the supervisor, or copy a checkout's .build/repositories to" >&2
          echo "\\$AUTONOUS_STATE_DIR/build-cache/swiftpm/repositories (the build sandbox has no network)" >&2
          exit 1
        fi
        swift build -c release --static-swift-stdlib --product autonous-worker --scratch-path "$scratch" \\
          --skip-update
        bin="$(swift build -c release --static-swift-stdlib --scratch-path "$scratch" --skip-update --show-bin-path)"
        cp "$bin/autonous-worker" "$AUTONOUS_BUILD_OUTPUT"
        """

    /// The unit test targets that run in the build sandbox: AutonousCoreTests and SupervisordTests, all of them.
    /// WorkerTests do not run there yet: their fixtures are python3 servers on loopback TCP and git run through
    /// Foundation's `Process`, and the no-network sandbox refuses AF_INET sockets, so those fixtures cannot be
    /// reached and `Process` never learns that its children ended (CoreFoundation wakes its run loop through AF_INET
    /// loopback sockets), which hangs the run until `AUTONOUS_UPDATE_TIMEOUT`.
    static let defaultTestCommand = """
        set -e
        scratch="$AUTONOUS_BUILD_CACHE/swiftpm"
        swift build --build-tests --scratch-path "$scratch" --skip-update
        swift test --skip-build --scratch-path "$scratch" --skip-update \\
          --filter '^(AutonousCoreTests|SupervisordTests)\\.'
        """

    let configuration: AutonousCore.Configuration
    let sandboxBinary: String
    /// The supervisor's environment: where `swift` is found (its toolchain is bound read-only).
    let environment: [String: String]
    let logger: Logger

    /// How long a cancelled run gets after SIGTERM before SIGKILL.
    static let cancelGrace: Duration = .seconds(5)

    /// Runs `command` on `tree` and returns how the launcher ended (124: the time limit; 125: no sandbox).
    func run(
        _ command: String, transaction: String, tree: String, output: String, log: String, report: String
    ) async throws -> ExitStatus {
        let arguments = self.arguments(
            command: command, transaction: transaction, tree: tree, output: output, report: report)
        let (stream, continuation) = AsyncStream<ExitStatus>.makeStream()
        let child = try ChildProcess.spawn(
            executable: sandboxBinary, arguments: arguments, environment: ["PATH": "/usr/local/bin:/usr/bin:/bin"],
            output: .file(log),
            onExit: { status in
                continuation.yield(status)
                continuation.finish()
            })
        logger.info(
            "update command started",
            metadata: ["tx": "\(transaction)", "child.pid": "\(child.pid)", "update.log": "\(log)"])
        return await withTaskCancellationHandler {
            for await status in stream { return status }
            return .signaled(SIGKILL)
        } onCancel: {
            child.signalGroup(SIGTERM)
            Task {
                try? await Task.sleep(for: Self.cancelGrace)
                if !child.hasExited { child.signalGroup(SIGKILL) }
            }
        }
    }

    /// The launcher's command line.
    func arguments(command: String, transaction: String, tree: String, output: String, report: String) -> [String] {
        var arguments = ["--profile", "build", "--die-with-parent"]
        if geteuid() == 0 {
            arguments += ["--uid", String(configuration.workerUID), "--gid", String(configuration.workerUID)]
        }
        if configuration.sandboxLimitsBestEffort { arguments.append("--best-effort-limits") }
        arguments += ["--timeout", String(configuration.updateTimeout.components.seconds)]
        arguments += ["--rw-bind", tree, Self.treeInside]
        arguments += ["--rw-bind", configuration.buildCacheDirectory, Self.cacheInside]
        arguments += ["--rw-bind", output, Self.outputInside]
        var path = "/usr/local/bin:/usr/bin:/bin"
        if let toolchain = Self.toolchain(environment: environment) {
            if !WorkerSandbox.isCovered(toolchain.root + "/") { arguments += ["--ro", toolchain.root] }
            path = toolchain.bin + ":" + path
        }
        let variables = [
            "PATH": path, "HOME": Self.cacheInside + "/home", "AUTONOUS_BUILD_CACHE": Self.cacheInside,
            "AUTONOUS_BUILD_OUTPUT": Self.outputInside + "/" + Self.binaryName,
            "AUTONOUS_TEST_REPORT": Self.outputInside + "/" + URL(fileURLWithPath: report).lastPathComponent,
            "AUTONOUS_TX": transaction, "LANG": "C.UTF-8",
        ]
        for (key, value) in variables.sorted(by: { $0.key < $1.key }) { arguments += ["--env", "\(key)=\(value)"] }
        arguments += ["--cwd", Self.treeInside, "--", "/bin/sh", "-c", command]
        return arguments
    }

    /// The toolchain `swift` comes from on the supervisor's PATH: its root (three levels above the resolved
    /// executable, `<root>/usr/bin/swift-driver`) and its bin directory.
    static func toolchain(environment: [String: String]) -> (root: String, bin: String)? {
        let path = environment["PATH"] ?? "/usr/local/bin:/usr/bin:/bin"
        for directory in path.split(separator: ":") where directory.hasPrefix("/") {
            let candidate = String(directory) + "/swift"
            guard FileManager.default.isExecutableFile(atPath: candidate) else { continue }
            let resolved = URL(fileURLWithPath: candidate).resolvingSymlinksInPath()
            let bin = resolved.deletingLastPathComponent()
            let root = bin.deletingLastPathComponent().deletingLastPathComponent().path
            guard root != "/" else { return (root: "/usr", bin: bin.path) }
            return (root: root, bin: bin.path)
        }
        return nil
    }

    /// Makes `directory` (and what is in it) the build user's when the supervisor is root.
    func handOver(_ directory: String) {
        guard geteuid() == 0 else { return }
        let uid = configuration.workerUID
        _ = lchown(directory, uid, gid_t(uid))
        guard let walker = FileManager.default.enumerator(atPath: directory) else { return }
        while let entry = walker.nextObject() as? String { _ = lchown(directory + "/" + entry, uid, gid_t(uid)) }
    }
}

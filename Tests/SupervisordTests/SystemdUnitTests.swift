import AutonousCore
import Foundation
import Testing

@testable import Supervisord

/// The files of systemd/: the units pass `systemd-analyze verify`, the template differs from the unit only in its
/// instance lines, the unit's timeouts and directories fit the supervisor, and the sysusers and tmpfiles snippets
/// create the layout `Supervisor.prepareDirectories` expects (applied to a scratch root, never the real one).
@Suite struct SystemdUnitTests {
    /// The package root.
    static let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .deletingLastPathComponent().path
    /// The built binaries: `$AUTONOUS_TEST_BIN_DIR` or `.build/debug`.
    static let binDirectory = ProcessInfo.processInfo.environment["AUTONOUS_TEST_BIN_DIR"] ?? root + "/.build/debug"
    static let units = ["autonous.service", "autonous@.service"]

    static func tool(_ name: String) -> String? {
        ["/usr/bin/", "/bin/", "/usr/sbin/"].map { $0 + name }.first {
            FileManager.default.isExecutableFile(atPath: $0)
        }
    }

    static let canVerify =
        tool("systemd-analyze") != nil
        && FileManager.default.isExecutableFile(atPath: binDirectory + "/autonous-supervisord")
    static let canApplySnippets =
        ChildProcess.isHostRoot && tool("systemd-sysusers") != nil && tool("systemd-tmpfiles") != nil

    static func text(_ name: String) throws -> String {
        try String(contentsOfFile: root + "/systemd/" + name, encoding: .utf8)
    }

    /// The directive lines (`Key=value`) of a unit, without comments and blank lines.
    static func directives(_ name: String) throws -> [String] {
        try text(name).split(separator: "\n").map { $0.trimmingCharacters(in: .whitespaces) }
            .filter { !$0.isEmpty && !$0.hasPrefix("#") && !$0.hasPrefix(";") }
    }

    /// The value of the first `key=` directive.
    static func value(_ key: String, in name: String) throws -> String? {
        try directives(name).first { $0.hasPrefix(key + "=") }.map { String($0.dropFirst(key.count + 1)) }
    }

    /// Runs a program to its end and returns its status and its stdout and stderr together.
    static func run(_ executable: String, _ arguments: [String], in directory: String) async throws -> (Int32, String) {
        let (status, output) = try await ChildProcess.runToEnd(
            executable: executable, arguments: arguments,
            environment: ["PATH": "/usr/bin:/bin:/usr/sbin:/sbin", "SYSTEMD_LOG_COLOR": "0"], directory: directory)
        guard case .exited(let code) = status else { return (-1, output + "\n(\(status))") }
        return (code, output)
    }

    /// A scratch directory, removed by `body`'s end.
    static func withScratch<T>(_ body: (String) async throws -> T) async throws -> T {
        let path = FileManager.default.temporaryDirectory.appendingPathComponent("autonous-units-\(UUID())").path
        try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: path) }
        return try await body(path)
    }

    /// `systemd-analyze verify` of each unit, rendered with ExecStart at the built binaries (verify checks that it
    /// exists), and of an instance of the template. Any output at all (warnings such as an unknown or unparsable
    /// key, which verify only prints) fails the test.
    @Test(.enabled(if: canVerify, "needs systemd-analyze and the built autonous-supervisord"))
    func everyUnitPassesSystemdAnalyzeVerify() async throws {
        let analyze = try #require(Self.tool("systemd-analyze"))
        try await Self.withScratch { scratch in
            for unit in Self.units {
                let rendered = try Self.text(unit).replacingOccurrences(
                    of: "/usr/bin/autonous-", with: Self.binDirectory + "/autonous-")
                try rendered.write(toFile: scratch + "/" + unit, atomically: true, encoding: .utf8)
            }
            try FileManager.default.createSymbolicLink(
                atPath: scratch + "/autonous@bot.service", withDestinationPath: "autonous@.service")
            for unit in Self.units + ["autonous@bot.service"] {
                let (status, output) = try await Self.run(analyze, ["verify", "--man=no", "./" + unit], in: scratch)
                #expect(status == 0 && output.isEmpty, "systemd-analyze verify \(unit) (status \(status)):\n\(output)")
            }
        }
    }

    /// The template is the unit with the instance's own directories, environment file and credentials.
    @Test func theTemplateIsTheUnitApartFromTheInstanceLines() throws {
        let substitutions = [
            ("Description=autonous AI agent daemon (", "Description=autonous AI agent daemon, instance %i ("),
            ("%S/autonous ", "%S/autonous/%i "), ("%t/autonous ", "%t/autonous/%i "),
            ("%E/autonous", "%E/autonous/%i"), ("/etc/autonous/autonous.env", "/etc/autonous/%i/autonous.env"),
            (":autonous.", ":autonous-%i."), ("Directory=autonous", "Directory=autonous/%i"),
        ]
        let expected = try Self.directives("autonous.service").map { line in
            substitutions.reduce(line) { $0.replacingOccurrences(of: $1.0, with: $1.1) }
        }
        let template = try Self.directives("autonous@.service").filter { $0 != "Conflicts=autonous.service" }
        #expect(template == expected, "autonous@.service must be autonous.service with only the instance lines changed")
    }

    /// The unit's timeouts and exit status fit the supervisor's defaults.
    @Test func theUnitFitsTheSupervisor() throws {
        let defaults = try Configuration(environment: [:])
        let stop = try #require(try Self.value("TimeoutStopSec", in: "autonous.service"))
        let stopTimeout = try #require(EnvironmentReader.parseDuration(stop))
        #expect(
            stopTimeout >= defaults.workerStopTimeout + .seconds(10),
            "TimeoutStopSec=\(stop) must outlast AUTONOUS_WORKER_STOP_TIMEOUT (\(defaults.workerStopTimeout)) by 10s")
        #expect(try Self.value("KillMode", in: "autonous.service") == "mixed")
        #expect(try Self.value("RestartPreventExitStatus", in: "autonous.service") == "\(ConfigurationError.exitCode)")
        #expect(try Self.value("Type", in: "autonous.service") == "notify")
        #expect(try Self.value("Delegate", in: "autonous.service") == "yes")
        let modes = Dictionary(
            Supervisor.directoryModes(defaults).map { ($0.path, String($0.mode, radix: 8)) },
            uniquingKeysWith: { a, _ in a })
        #expect(
            try Self.value("StateDirectoryMode", in: "autonous.service") == "0" + (modes["/var/lib/autonous"] ?? ""))
        #expect(try Self.value("RuntimeDirectoryMode", in: "autonous.service") == "0" + (modes["/run/autonous"] ?? ""))
    }

    /// sysusers creates the user (home: the state directory, no login); tmpfiles then creates exactly the state
    /// layout the supervisor would, with its modes, owned by that user.
    @Test(.enabled(if: canApplySnippets, "needs root, systemd-sysusers and systemd-tmpfiles (on a scratch --root)"))
    func sysusersAndTmpfilesCreateTheSupervisorsLayout() async throws {
        let sysusers = try #require(Self.tool("systemd-sysusers"))
        let tmpfiles = try #require(Self.tool("systemd-tmpfiles"))
        try await Self.withScratch { scratch in
            try FileManager.default.createDirectory(atPath: scratch + "/etc", withIntermediateDirectories: true)
            let users = try await Self.run(
                sysusers, ["--root=" + scratch, Self.root + "/systemd/autonous.sysusers.conf"], in: scratch)
            #expect(users.0 == 0, "systemd-sysusers: \(users.1)")
            let passwd = try String(contentsOfFile: scratch + "/etc/passwd", encoding: .utf8)
            let entry = try #require(passwd.split(separator: "\n").first { $0.hasPrefix("autonous:") })
            let fields = entry.split(separator: ":", omittingEmptySubsequences: false).map(String.init)
            #expect(fields.count == 7 && fields[5] == "/var/lib/autonous" && fields[6].hasSuffix("/nologin"))
            let uid = try #require(UInt32(fields[2]))

            let created = try await Self.run(
                tmpfiles, ["--create", "--root=" + scratch, Self.root + "/systemd/autonous.tmpfiles.conf"], in: scratch)
            #expect(created.0 == 0 && created.1.isEmpty, "systemd-tmpfiles: \(created.1)")
            let defaults = try Configuration(environment: [:])
            for (path, mode) in Supervisor.directoryModes(defaults) where path.hasPrefix(defaults.stateDirectory) {
                var info = stat()
                #expect(stat(scratch + path, &info) == 0, "tmpfiles did not create \(path)")
                #expect(Int(info.st_mode & 0o7777) == mode, "\(path): mode \(String(info.st_mode & 0o7777, radix: 8))")
                #expect(info.st_uid == uid, "\(path) is not the service user's")
            }
        }
    }
}

#if canImport(Glibc)
import Glibc
#endif

/// The launcher's command line, parsed without Foundation.
///
/// ```
/// autonous-sandbox --profile NAME [OPTIONS] -- COMMAND [ARG...]
/// autonous-sandbox --print-profile NAME [OPTIONS]
/// autonous-sandbox --check
/// ```
public struct LauncherArguments: Sendable, Equatable {
    public enum Mode: Sendable, Equatable {
        case run(command: [String])
        case printProfile
        case check(json: Bool)
        case help
    }

    public var mode: Mode
    public var profile: SandboxProfile?
    /// Write a JSON result object to this descriptor at the end.
    public var statusFD: Int32?
    /// Kill the sandbox when the launcher's parent dies.
    public var dieWithParent = false

    public static let usage = """
        usage: autonous-sandbox --profile NAME [OPTIONS] -- COMMAND [ARG...]
               autonous-sandbox --print-profile NAME [OPTIONS]
               autonous-sandbox --check [--json]

        profiles: read, write, exec, network, build, worker
        options:
          --workspace DIR        the workspace, bound at the same path (read-only for the read profile)
          --ro PATH, --rw PATH   more binds at the same path
          --ro-bind PATH INSIDE  a read-only bind of PATH at another path inside
          --rw-bind PATH INSIDE  a read-write bind of PATH at another path inside
          --uid N, --gid N       host ids that uid/gid 0 inside map to (default: yours, or 65534 for root)
          --timeout SECONDS      wall-clock limit (exit 124)
          --cpu-seconds N        CPU time limit
          --memory SIZE          memory limit (64M, 1G …), enforced by a cgroup
          --pids N               process limit, enforced by a cgroup
          --best-effort-limits   run even when a cgroup limit cannot be enforced (rlimits instead)
          --no-cgroup-limits     drop the profile's memory, pids and CPU quota limits (no cgroup at all)
          --env KEY=VALUE        add to the environment (otherwise only PATH, HOME=/tmp, LANG)
          --env-inherit KEY      copy KEY from the launcher's own environment (for secrets: never on a command line)
          --cwd DIR              working directory (default: the workspace)
          --net-allow HOST:PORT  network profile: an allowed TCP destination (HOST is *, an address, [IPv6] or
                                 a name resolved at launch); none means no network at all
          --status-fd N          write a JSON result to descriptor N
          --die-with-parent      kill the sandbox when the launcher's parent dies
        exit status: the command's; 128+N for signal N; 124 wall-clock limit; 125 sandbox not set up;
        126 not executable; 127 not found
        """

    /// Parses `arguments` (without the program name).
    ///
    /// - Throws: `SandboxError(.invalidProfile)` for anything malformed, before any namespace exists.
    public static func parse(
        _ arguments: [String], environment: [String: String] = [:], callerUID: UInt32 = getuid(),
        callerGID: UInt32 = getgid()
    ) throws(SandboxError) -> LauncherArguments {
        var result = LauncherArguments(mode: .help, profile: nil)
        var named: NamedProfile?
        var options: [(String, String)] = []
        var flags: Set<String> = []
        var index = 0
        var command: [String]?
        func value(_ option: String) throws(SandboxError) -> String {
            index += 1
            guard index < arguments.count else { throw SandboxError(.invalidProfile, "\(option) needs a value") }
            return arguments[index]
        }
        while index < arguments.count {
            let argument = arguments[index]
            switch argument {
            case "--":
                command = Array(arguments[(index + 1)...])
                index = arguments.count
                continue
            case "-h", "--help":
                return result
            case "--check":
                result.mode = .check(json: arguments.contains("--json"))
            case "--json":
                guard arguments.contains("--check") else {
                    throw SandboxError(.invalidProfile, "--json goes with --check")
                }
            case "--profile", "--print-profile":
                let name = try value(argument)
                guard let profile = NamedProfile(rawValue: name) else {
                    let names = NamedProfile.allCases.map(\.rawValue).joined(separator: ", ")
                    throw SandboxError(.invalidProfile, "unknown profile '\(name)' (known: \(names))")
                }
                named = profile
                if argument == "--print-profile" { result.mode = .printProfile }
            case "--best-effort-limits", "--die-with-parent", "--no-cgroup-limits":
                flags.insert(argument)
            case "--workspace", "--ro", "--rw", "--uid", "--gid", "--timeout", "--cpu-seconds", "--memory", "--pids",
                "--env", "--env-inherit", "--cwd", "--net-allow", "--status-fd":
                options.append((argument, try value(argument)))
            case "--ro-bind", "--rw-bind":
                // Two values: the host path, then where it appears inside.
                let source = try value(argument)
                options.append((argument, source + "\u{0}" + (try value(argument))))
            default:
                throw SandboxError(.invalidProfile, "unknown option '\(argument)' (see --help)")
            }
            index += 1
        }
        if case .check = result.mode { return result }
        guard let named else {
            if command != nil { throw SandboxError(.invalidProfile, "--profile NAME is required") }
            return result
        }
        if result.mode != .printProfile {
            guard let command, !command.isEmpty else {
                throw SandboxError(.invalidProfile, "no command given (put it after --)")
            }
            result.mode = .run(command: command)
        }
        var profile = named.profile(callerUID: callerUID, callerGID: callerGID)
        var allow: [String] = []
        for (option, text) in options {
            switch option {
            case "--workspace": profile.workspace = text
            case "--ro": profile.binds.append(.init(path: text, writable: false))
            case "--rw": profile.binds.append(.init(path: text, writable: true))
            case "--ro-bind", "--rw-bind":
                let parts = text.split(separator: "\u{0}", maxSplits: 1).map(String.init)
                profile.binds.append(
                    .init(path: parts[0], writable: option == "--rw-bind", target: parts.count > 1 ? parts[1] : nil))
            case "--uid": profile.hostUID = try number(text, option)
            case "--gid": profile.hostGID = try number(text, option)
            case "--timeout": profile.wallClockSeconds = Int(try number(text, option))
            case "--cpu-seconds": profile.limits.cpuSeconds = Int(try number(text, option))
            case "--memory": profile.limits.memoryBytes = try size(text)
            case "--pids": profile.limits.pids = Int(try number(text, option))
            case "--cwd": profile.workingDirectory = text
            case "--net-allow": allow.append(text)
            case "--status-fd": result.statusFD = Int32(try number(text, option))
            case "--env-inherit":
                guard let inherited = environment[text] else {
                    throw SandboxError(.invalidProfile, "--env-inherit \(text): the launcher has no such variable")
                }
                profile.environment[text] = inherited
            case "--env":
                guard let equals = text.firstIndex(of: "="), equals != text.startIndex else {
                    throw SandboxError(.invalidProfile, "--env takes KEY=VALUE, got '\(text)'")
                }
                profile.environment[String(text[..<equals])] = String(text[text.index(after: equals)...])
            default: break
            }
        }
        if !allow.isEmpty {
            guard named == .network else {
                throw SandboxError(.invalidProfile, "--net-allow is only for the network profile")
            }
            profile.network = .host(allow: allow)
        }
        if flags.contains("--best-effort-limits") { profile.limits.bestEffort = true }
        if flags.contains("--no-cgroup-limits") {
            profile.limits.memoryBytes = nil
            profile.limits.pids = nil
            profile.limits.cpuQuotaPercent = nil
        }
        result.dieWithParent = flags.contains("--die-with-parent")
        try profile.validate()
        result.profile = profile
        return result
    }

    private static func number(_ text: String, _ option: String) throws(SandboxError) -> UInt32 {
        guard let value = UInt32(text) else {
            throw SandboxError(.invalidProfile, "\(option) takes a whole number, got '\(text)'")
        }
        return value
    }

    /// `1048576`, `64K`, `64M`, `2G`.
    static func size(_ text: String) throws(SandboxError) -> UInt64 {
        let units: [Character: UInt64] = ["K": 1 << 10, "M": 1 << 20, "G": 1 << 30]
        var digits = Substring(text)
        var scale: UInt64 = 1
        if let last = text.last?.uppercased().first, let unit = units[last] {
            scale = unit
            digits = digits.dropLast()
        }
        guard let value = UInt64(digits), value > 0, value <= UInt64.max / scale else {
            throw SandboxError(.invalidProfile, "--memory takes a size like 64M or 1G, got '\(text)'")
        }
        return value * scale
    }
}

import Foundation
import Testing

/// SANDBOX-TESTS.md cases 23–25: network access per tier, against a TCP server the test runs on the host's
/// loopback. Serialized: each test owns servers and counts their connections.
@Suite("Network", .serialized, .timeLimit(.minutes(3)))
struct NetworkTests {
    /// Socket families that must fail with EPERM in the read, write and exec tiers (NETLINK_ROUTE, for reading
    /// routes, may be allowed; AF_UNIX must be).
    static let deniedFamilies = [
        "inet_stream", "inet_dgram", "inet6_stream", "inet6_dgram", "packet_raw", "packet_dgram", "netlink_audit",
        "netlink_kobject_uevent",
    ]

    /// Case 23: read, write and exec tiers: socket(AF_INET, AF_INET6, AF_PACKET, AF_NETLINK other than route)
    /// fails with EPERM, AF_UNIX works, only `lo` exists, and the host's loopback server sees no connection.
    @Test(arguments: Caller.allCases, ["read", "write", "exec"])
    func isolatedTiersHaveNoNetwork(caller: Caller, profile: String) async throws {
        let fixture = try SandboxFixture()
        let server = try LoopbackServer(directory: fixture.root)
        let run = try await sandbox(
            caller, fixture.arguments(profile: profile, command: Probe.sockets(connectingTo: [server.port])))
        #expect(run.status == 0, "\(run)")
        let sockets = try #require(run.json, "\(run)")
        for family in Self.deniedFamilies {
            let errno = sockets[family]["errno"].int
            #expect(errno == Errno.eperm, "socket \(family): \(Errno.name(errno))\n\(run)")
        }
        #expect(sockets["unix_stream"]["errno"].int == 0, "AF_UNIX must stay usable\n\(run)")
        #expect(sockets["interfaces"].strings == ["lo"], "interfaces: \(sockets["interfaces"])\n\(run)")
        let connect = sockets["connects"][0]
        #expect(connect["stage"].string == "socket" && connect["errno"].int == Errno.eperm, "\(connect)\n\(run)")
        #expect(server.connections == 0, "the host server was reached\n\(run)")
    }

    /// Case 23: `curl` to the host's loopback fails to connect (exit 7) in the exec tier.
    @Test(arguments: Caller.allCases)
    func curlCannotReachTheHostFromTheExecTier(caller: Caller) async throws {
        let fixture = try SandboxFixture()
        let server = try LoopbackServer(directory: fixture.root)
        let run = try await sandbox(
            caller,
            fixture.arguments(
                profile: "exec",
                command: ["/usr/bin/curl", "-sS", "--max-time", "5", "http://127.0.0.1:\(server.port)/"]))
        #expect(run.status == 7, "curl: \(run)")
        #expect(server.connections == 0, "the host server was reached\n\(run)")
    }

    /// Case 24: the network tier with `--net-allow 127.0.0.1:<port>` reaches a server on the host's loopback.
    @Test(arguments: Caller.allCases)
    func networkTierReachesAnAllowedLoopbackServer(caller: Caller) async throws {
        let fixture = try SandboxFixture()
        let server = try LoopbackServer(directory: fixture.root)
        let run = try await sandbox(
            caller,
            fixture.arguments(
                profile: "network", options: ["--net-allow", "127.0.0.1:\(server.port)"],
                command: Probe.sockets(connectingTo: [server.port])))
        #expect(run.status == 0, "\(run)")
        let connect = try #require(run.json?["connects"][0], "\(run)")
        #expect(connect["stage"].string == "done", "\(connect)\n\(run)")
        #expect(connect["reply"].string == "pong", "\(connect)\n\(run)")
        #expect(server.connections == 1, "server saw \(server.connections) connections\n\(run)")
    }

    /// Case 24, the allowlist's other half: with `--net-allow` naming one server, another server on the same
    /// loopback is not reachable, and the refusal is EPERM with a line on stderr naming the destination.
    @Test(arguments: Caller.allCases)
    func networkTierCannotReachUnlistedDestinations(caller: Caller) async throws {
        let (run, allowed, other, fixture) = try await networkRun(caller, allowing: "127.0.0.1") {
            Probe.sockets(connectingTo: [$1, $0])
        }
        let sockets = try #require(run.json, "\(run)")
        let refused = sockets["connects"][0]
        #expect(refused["stage"].string == "connect" && refused["errno"].int == Errno.eperm, "\(refused)\n\(run)")
        #expect(other.connections == 0, "the unlisted server was reached\n\(run)")
        #expect(
            run.stderr.contains(
                "connection to 127.0.0.1:\(other.port) refused: not in the network allowlist (--net-allow)"),
            "\(run)")
        #expect(sockets["connects"][1]["reply"].string == "pong", "the allowed server: \(sockets["connects"][1])")
        #expect(allowed.connections == 1)
        withExtendedLifetime(fixture) {}
    }

    /// Runs `command(allowedPort, otherPort)` in the network tier with two host loopback servers, the first
    /// allowed as `host:port`; expects the command to succeed. The fixture is returned because it holds the
    /// servers' connection logs.
    private func networkRun(
        _ caller: Caller, allowing host: String, _ command: (UInt16, UInt16) -> [String]
    ) async throws -> (SandboxRun, LoopbackServer, LoopbackServer, SandboxFixture) {
        let fixture = try SandboxFixture()
        let allowed = try LoopbackServer(directory: fixture.root)
        let other = try LoopbackServer(directory: fixture.root)
        let run = try await sandbox(
            caller,
            fixture.arguments(
                profile: "network", options: ["--net-allow", "\(host):\(allowed.port)"],
                command: command(allowed.port, other.port)))
        #expect(run.status == 0, "\(run)")
        return (run, allowed, other, fixture)
    }

    /// Every other way out of the network tier: connections are checked whatever the API (non-blocking connect,
    /// IPv4-mapped IPv6, a host name the launcher resolved), and the ways around connect(2) are closed: UDP and
    /// unix datagram sockets, TCP Fast Open, listening on inet sockets, the host's abstract unix sockets. Unix
    /// sockets by path keep working (listen and a connect relative to the working directory).
    @Test(arguments: Caller.allCases)
    func networkTierChecksEveryWayOut(caller: Caller) async throws {
        let (run, allowed, other, fixture) = try await networkRun(caller, allowing: "localhost") {
            Probe.netgate(allowed: $0, denied: $1, name: "localhost")
        }
        let gate = try #require(run.json, "\(run)")
        for reached in ["allowed", "allowed_nonblocking", "allowed_mapped_v6", "allowed_by_name"] {
            #expect(gate[reached]["value"].string == "pong", "\(reached): \(gate[reached])\n\(run)")
        }
        #expect(allowed.connections == 4, "the allowed server saw \(allowed.connections) connections\n\(run)")
        for refused in [
            "denied", "denied_mapped_v6", "denied_other_address", "udp_socket", "udp6_socket", "unix_dgram_socket",
            "fast_open", "listen_inet", "abstract_unix",
        ] {
            let errno = gate[refused]["errno"].int
            #expect(errno == Errno.eperm, "\(refused): \(Errno.name(errno)) \(gate[refused])\n\(run)")
        }
        #expect(other.connections == 0, "the unlisted server was reached\n\(run)")
        #expect(gate["unix_relative_path"]["value"].string == "unix-pong", "\(gate["unix_relative_path"])\n\(run)")
        #expect(run.stderr.contains("listening on an inet socket refused"), "\(run)")
        #expect(run.stderr.contains("connection to an abstract unix socket refused"), "\(run)")
        withExtendedLifetime(fixture) {}
    }

    /// `--net-allow` entries are checked before anything starts: each malformed or unresolvable one is named.
    @Test(arguments: [
        ("127.0.0.1", "no port"), ("127.0.0.1:0", "the port must be a number from 1 to 65535"),
        ("bad host:80", "the host is neither an address nor a valid host name"),
        ("::1:80", "an IPv6 address goes in brackets"), ("[1.2.3.4]:80", "not an IPv6 address"),
        ("no-such-host.invalid:80", "cannot resolve no-such-host.invalid"),
    ])
    func malformedAllowlistEntriesAreRejected(entry: String, message: String) async throws {
        let fixture = try SandboxFixture()
        let run = try await sandbox(
            Caller.own, fixture.arguments(profile: "network", options: ["--net-allow", entry], command: ["/bin/true"]))
        #expect(run.status == 125, "\(run)")
        #expect(run.stderr.contains(message), "\(run)")
    }

    /// Case 25: the network tier with no `--net-allow` has no network at all (fail closed): no connection reaches
    /// the host's loopback server, and either sockets are refused or only `lo` exists.
    @Test(arguments: Caller.allCases)
    func networkTierWithoutAllowlistHasNoNetwork(caller: Caller) async throws {
        let fixture = try SandboxFixture()
        let server = try LoopbackServer(directory: fixture.root)
        let run = try await sandbox(
            caller, fixture.arguments(profile: "network", command: Probe.sockets(connectingTo: [server.port])))
        #expect(run.status == 0, "\(run)")
        let sockets = try #require(run.json, "\(run)")
        let connect = sockets["connects"][0]
        #expect(connect["stage"].string != "done" && connect["reply"].isNull, "connected: \(connect)\n\(run)")
        #expect(server.connections == 0, "the host server was reached\n\(run)")
        #expect(
            sockets["inet_stream"]["errno"].int == Errno.eperm || sockets["interfaces"].strings == ["lo"],
            "network left open: \(sockets)")
    }
}

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
    /// loopback is not reachable.
    ///
    /// Known gap: the launcher switches the host network on for a non-empty allowlist but does not yet filter
    /// destinations, so the unlisted server is reached. The expectations stay as they must be, marked as a known
    /// issue: the day filtering lands, withKnownIssue fails and this marker must go.
    @Test(arguments: Caller.allCases)
    func networkTierCannotReachUnlistedDestinations(caller: Caller) async throws {
        let fixture = try SandboxFixture()
        let allowed = try LoopbackServer(directory: fixture.root)
        let other = try LoopbackServer(directory: fixture.root)
        let run = try await sandbox(
            caller,
            fixture.arguments(
                profile: "network", options: ["--net-allow", "127.0.0.1:\(allowed.port)"],
                command: Probe.sockets(connectingTo: [other.port, allowed.port])))
        #expect(run.status == 0, "\(run)")
        let sockets = try #require(run.json, "\(run)")
        let gap: Comment = "per-destination filtering is not implemented yet (--net-allow only enables the network)"
        withKnownIssue(gap) {
            #expect(
                sockets["connects"][0]["reply"].isNull, "reached an unlisted port: \(sockets["connects"][0])\n\(run)")
            #expect(other.connections == 0, "the unlisted server was reached\n\(run)")
        }
        #expect(sockets["connects"][1]["reply"].string == "pong", "the allowed server: \(sockets["connects"][1])")
        #expect(allowed.connections == 1)
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

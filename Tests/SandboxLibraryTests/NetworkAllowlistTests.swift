import Glibc
import Testing

@testable import Sandbox

/// The network tier's allowlist and the gate's decision on a connect(2) address, as pure functions. The real
/// sandbox runs are in SandboxTests' NetworkTests.
@Suite struct NetworkAllowlistTests {
    @Test func entriesParseIntoHostsAndPorts() throws {
        let list = try NetworkAllowlist(parsing: ["*:443", "10.1.2.3:8080", "[::1]:22", "API.Example.com:443"])
        #expect(
            list.entries == [
                .init(host: .any, port: 443), .init(host: .address([10, 1, 2, 3]), port: 8080),
                .init(host: .address([0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1]), port: 22),
                .init(host: .name("api.example.com"), port: 443),
            ])
        #expect(list.hasNames)
        #expect(try !NetworkAllowlist(parsing: ["1.2.3.4:1"]).hasNames)
    }

    @Test(arguments: [
        ("", "no port"), ("host", "no port"), ("host:", "the port must be a number"),
        ("host:65536", "the port must be a number"), ("host:-1", "the port must be a number"),
        (":80", "neither an address nor a valid host name"), ("a..b:80", "neither an address"),
        ("-a.example:80", "neither an address"), ("under_score.example:80", "neither an address"),
        ("fe80::1:80", "in brackets"), ("[not-v6]:80", "not an IPv6 address"),
    ])
    func malformedEntriesAreNamed(entry: String, reason: String) {
        #expect {
            try NetworkAllowlist(parsing: [entry])
        } throws: { error in
            let text = "\(error)"
            return text.contains("--net-allow takes HOST:PORT, got '\(entry)'") && text.contains(reason)
        }
    }

    @Test func resolvingAddsNameServersOnlyForNames() throws {
        let resolv = "# comment\nnameserver 10.0.0.53\nnameserver fe80::1%eth0\nsearch example\noptions ndots:2\n"
        let addresses = try NetworkAllowlist(parsing: ["127.0.0.1:80"]).resolve(resolvConf: resolv)
        #expect(addresses == [.init(address: [127, 0, 0, 1], port: 80)])
        let names = try NetworkAllowlist(parsing: ["localhost:8080"]).resolve(resolvConf: resolv)
        #expect(names.contains(.init(address: [127, 0, 0, 1], port: 8080)), "\(names)")
        #expect(names.contains(.init(address: [10, 0, 0, 53], port: 53)), "\(names)")
        #expect(names.contains { $0.port == 53 && $0.address?.count == 16 }, "\(names)")
        #expect(!names.contains { $0.port == 53 && $0.address == [127, 0, 0, 1] })
    }

    @Test func matchingIsOnAddressAndPortWithMappedAddressesAsIPv4() {
        let endpoints: [NetworkAllowlist.Endpoint] = [
            .init(address: [192, 0, 2, 1], port: 443), .init(address: nil, port: 80),
        ]
        let mapped: [UInt8] = [0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xFF, 0xFF, 192, 0, 2, 1]
        #expect(NetworkAllowlist.allows(endpoints, address: [192, 0, 2, 1], port: 443))
        #expect(NetworkAllowlist.allows(endpoints, address: mapped, port: 443))
        #expect(!NetworkAllowlist.allows(endpoints, address: [192, 0, 2, 1], port: 444))
        #expect(!NetworkAllowlist.allows(endpoints, address: [192, 0, 2, 2], port: 443))
        #expect(NetworkAllowlist.allows(endpoints, address: [8, 8, 8, 8], port: 80))
        #expect(NetworkAllowlist.Endpoint(address: mapped, port: 1).description == "[::ffff:192.0.2.1]:1")
    }

    /// Socket addresses as the kernel receives them: family in host order, port and address in network order.
    static func inet(_ address: [UInt8], port: UInt16) -> [UInt8] {
        [UInt8(AF_INET), 0, UInt8(port >> 8), UInt8(port & 0xFF)] + address + [UInt8](repeating: 0, count: 8)
    }

    static func inet6(_ address: [UInt8], port: UInt16) -> [UInt8] {
        [UInt8(AF_INET6), 0, UInt8(port >> 8), UInt8(port & 0xFF), 0, 0, 0, 0] + address + [0, 0, 0, 0]
    }

    @Test func theGateDecidesOnTheCopiedAddress() {
        let endpoints: [NetworkAllowlist.Endpoint] = [.init(address: [127, 0, 0, 1], port: 8080)]
        #expect(NetworkGate.decide(address: Self.inet([127, 0, 0, 1], port: 8080), endpoints: endpoints) == .connect)
        #expect(
            NetworkGate.decide(address: Self.inet([127, 0, 0, 1], port: 8081), endpoints: endpoints)
                == .deny(reason: "connection to 127.0.0.1:8081 refused: not in the network allowlist (--net-allow)"))
        let loopback6 = [UInt8](repeating: 0, count: 15) + [1]
        #expect(
            NetworkGate.decide(address: Self.inet6(loopback6, port: 8080), endpoints: endpoints)
                == .deny(reason: "connection to [::1]:8080 refused: not in the network allowlist (--net-allow)"))
        let mapped: [UInt8] = [0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xFF, 0xFF, 127, 0, 0, 1]
        #expect(NetworkGate.decide(address: Self.inet6(mapped, port: 8080), endpoints: endpoints) == .connect)
        // Too short to name an inet destination: the kernel fails it with EINVAL, no packet leaves.
        #expect(
            NetworkGate.decide(address: Array(Self.inet([10, 0, 0, 1], port: 1).prefix(6)), endpoints: []) == .connect)
        let abstract: [UInt8] = [UInt8(AF_UNIX), 0, 0] + Array("x".utf8)
        #expect(NetworkGate.decide(address: abstract, endpoints: endpoints) != .connect)
        let named: [UInt8] = [UInt8(AF_UNIX), 0] + Array("/tmp/s".utf8) + [0]
        #expect(NetworkGate.decide(address: named, endpoints: []) == .connect)
        #expect(NetworkGate.decide(address: [UInt8(AF_UNSPEC), 0], endpoints: []) == .connect)
    }

    @Test func refusalsAreReportedUpToABoundThenSummarisedOnce() {
        let limit = NetworkGate.maximumReports
        #expect(NetworkGate.reportLine(refusal: 1, reason: "x") == "autonous-sandbox: x\n")
        #expect(NetworkGate.reportLine(refusal: limit, reason: "x") == "autonous-sandbox: x\n")
        #expect(NetworkGate.reportLine(refusal: limit + 1, reason: "x")?.contains("not reported one by one") == true)
        #expect(NetworkGate.reportLine(refusal: limit + 2, reason: "x") == nil)
    }
}

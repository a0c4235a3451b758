#if canImport(Glibc)
import Glibc
#endif

/// The destinations a network-tier command may connect to, from `--net-allow HOST:PORT` entries.
///
/// HOST is `*` (any address on that port), an IPv4 literal, an IPv6 literal in brackets (`[::1]:8080`) or a host
/// name. Names are resolved once, by the launcher, before the sandbox starts (`resolve`); the sandbox's pid 1 then
/// compares every connect(2) against the resolved addresses (`NetworkGate`). Matching is on address and port only.
public struct NetworkAllowlist: Sendable, Equatable {
    /// One `HOST:PORT` entry.
    public struct Entry: Sendable, Equatable {
        public enum Host: Sendable, Equatable {
            case any
            /// 4 or 16 bytes in network order.
            case address([UInt8])
            case name(String)
        }

        public var host: Host
        public var port: UInt16
    }

    /// A resolved destination: an address (4 or 16 bytes; nil for any) and a port.
    public struct Endpoint: Sendable, Equatable, CustomStringConvertible {
        public var address: [UInt8]?
        public var port: UInt16

        public var description: String {
            guard let address else { return "*:\(port)" }
            let text = NetworkAllowlist.format(address)
            return address.count == 16 ? "[\(text)]:\(port)" : "\(text):\(port)"
        }
    }

    public var entries: [Entry]

    /// Parses `HOST:PORT` entries.
    ///
    /// - Throws: `SandboxError(.invalidProfile)` naming the first entry that is not `HOST:PORT` with a port from 1 to
    ///   65535 and a host that is `*`, an address or a valid DNS name.
    public init(parsing entries: [String]) throws(SandboxError) {
        self.entries = try entries.map { (text) throws(SandboxError) in try Self.parse(text) }
    }

    static func parse(_ text: String) throws(SandboxError) -> Entry {
        func invalid(_ why: String) -> SandboxError {
            SandboxError(.invalidProfile, "--net-allow takes HOST:PORT, got '\(text)': \(why)")
        }
        guard let colon = text.lastIndex(of: ":") else { throw invalid("no port") }
        guard let port = UInt16(text[text.index(after: colon)...]), port > 0 else {
            throw invalid("the port must be a number from 1 to 65535")
        }
        var host = String(text[..<colon])
        if host == "*" { return Entry(host: .any, port: port) }
        if host.hasPrefix("[") && host.hasSuffix("]") {
            host = String(host.dropFirst().dropLast())
            guard let address = parseAddress(host, family: AF_INET6) else { throw invalid("not an IPv6 address") }
            return Entry(host: .address(address), port: port)
        }
        if let address = parseAddress(host, family: AF_INET) { return Entry(host: .address(address), port: port) }
        if host.contains(":") { throw invalid("an IPv6 address goes in brackets, as [::1]:8080") }
        guard isHostName(host) else { throw invalid("the host is neither an address nor a valid host name") }
        return Entry(host: .name(host.lowercased()), port: port)
    }

    /// Letters, digits, hyphens and dots, labels of 1 to 63 characters, 253 characters in all.
    static func isHostName(_ host: String) -> Bool {
        guard !host.isEmpty, host.utf8.count <= 253 else { return false }
        let labels = host.split(separator: ".", omittingEmptySubsequences: false)
        return labels.allSatisfy { label in
            (1 ... 63).contains(label.utf8.count) && !label.hasPrefix("-") && !label.hasSuffix("-")
                && label.utf8.allSatisfy { byte in
                    (byte >= 0x30 && byte <= 0x39) || (byte | 0x20 >= 0x61 && byte | 0x20 <= 0x7A) || byte == 0x2D
                }
        }
    }

    /// True when some entry names a host, so the command needs name resolution.
    public var hasNames: Bool {
        entries.contains { if case .name = $0.host { return true } else { return false } }
    }

    /// The endpoints to allow: addresses as given, names resolved with getaddrinfo (every address each has), and,
    /// when names are listed, the name servers of `resolvConf` on TCP port 53 (the sandbox's resolver is told to use
    /// TCP: the network tier has no UDP).
    ///
    /// - Throws: `SandboxError(.invalidProfile)` naming a host that does not resolve.
    public func resolve(resolvConf: String?) throws(SandboxError) -> [Endpoint] {
        var endpoints: [Endpoint] = []
        for entry in entries {
            switch entry.host {
            case .any: endpoints.append(Endpoint(address: nil, port: entry.port))
            case .address(let address): endpoints.append(Endpoint(address: address, port: entry.port))
            case .name(let name):
                let addresses = try Self.lookup(name)
                endpoints += addresses.map { Endpoint(address: $0, port: entry.port) }
            }
        }
        if hasNames, let resolvConf {
            for server in Self.nameServers(in: resolvConf) { endpoints.append(Endpoint(address: server, port: 53)) }
        }
        return endpoints
    }

    /// The addresses of the `nameserver` lines of a resolv.conf.
    static func nameServers(in text: String) -> [[UInt8]] {
        text.split(separator: "\n").compactMap { line in
            let words = line.split(whereSeparator: { $0 == " " || $0 == "\t" })
            guard words.count >= 2, words[0] == "nameserver" else { return nil }
            let host = String(words[1].split(separator: "%").first ?? words[1])
            return parseAddress(host, family: AF_INET) ?? parseAddress(host, family: AF_INET6)
        }
    }

    /// True when `endpoints` allow `address` (4 or 16 bytes) on `port`. IPv4-mapped IPv6 addresses count as IPv4.
    public static func allows(_ endpoints: [Endpoint], address: [UInt8], port: UInt16) -> Bool {
        let address = unmapped(address)
        return endpoints.contains { endpoint in
            endpoint.port == port && (endpoint.address.map { unmapped($0) == address } ?? true)
        }
    }

    /// `::ffff:a.b.c.d` as the 4 bytes a.b.c.d; any other address unchanged.
    static func unmapped(_ address: [UInt8]) -> [UInt8] {
        guard address.count == 16, address[0 ..< 10].allSatisfy({ $0 == 0 }), address[10] == 0xFF,
            address[11] == 0xFF
        else { return address }
        return Array(address[12 ..< 16])
    }

    static func parseAddress(_ text: String, family: Int32) -> [UInt8]? {
        var bytes = [UInt8](repeating: 0, count: family == AF_INET ? 4 : 16)
        let parsed = bytes.withUnsafeMutableBytes { inet_pton(family, text, $0.baseAddress) }
        return parsed == 1 ? bytes : nil
    }

    static func format(_ address: [UInt8]) -> String {
        var text = [CChar](repeating: 0, count: 64)
        let family = address.count == 4 ? AF_INET : AF_INET6
        _ = address.withUnsafeBytes { inet_ntop(family, $0.baseAddress, &text, 64) }
        let length = text.firstIndex(of: 0) ?? text.count
        return String(decoding: text[..<length].map { UInt8(bitPattern: $0) }, as: UTF8.self)
    }

    /// Every IPv4 and IPv6 address of `name` (from /etc/hosts or DNS, as the host's resolver decides).
    static func lookup(_ name: String) throws(SandboxError) -> [[UInt8]] {
        var hints = addrinfo()
        hints.ai_socktype = Int32(SOCK_STREAM.rawValue)
        var list: UnsafeMutablePointer<addrinfo>?
        let status = getaddrinfo(name, nil, &hints, &list)
        guard status == 0, let first = list else {
            let reason = String(cString: gai_strerror(status))
            throw SandboxError(.invalidProfile, "--net-allow: cannot resolve \(name): \(reason)")
        }
        defer { freeaddrinfo(first) }
        var addresses: [[UInt8]] = []
        var node: UnsafeMutablePointer<addrinfo>? = first
        while let info = node {
            if let socketAddress = info.pointee.ai_addr {
                let bytes: [UInt8]? =
                    switch info.pointee.ai_family {
                    case AF_INET:
                        socketAddress.withMemoryRebound(to: sockaddr_in.self, capacity: 1) { pointer in
                            withUnsafeBytes(of: pointer.pointee.sin_addr) { Array($0) }
                        }
                    case AF_INET6:
                        socketAddress.withMemoryRebound(to: sockaddr_in6.self, capacity: 1) { pointer in
                            withUnsafeBytes(of: pointer.pointee.sin6_addr) { Array($0) }
                        }
                    default: nil
                    }
                if let bytes, !addresses.contains(bytes) { addresses.append(bytes) }
            }
            node = info.pointee.ai_next
        }
        return addresses
    }
}

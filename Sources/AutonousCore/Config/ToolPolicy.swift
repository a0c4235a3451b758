/// What happens to a tool call of each risk tier: run it (`auto`), ask an admin first (`ask`), or refuse (`deny`).
/// From `AUTONOUS_TIER_POLICY`, e.g. `network=ask,exec=auto`; tiers it does not name keep their defaults.
public struct ToolPolicy: Sendable, Equatable {
    public enum Mode: String, Sendable, CaseIterable {
        case auto, ask, deny
    }

    /// The tiers, from least to most risky (ARCHITECTURE.md, "Risk tiers").
    public static let tiers = ["read", "write", "exec", "network"]

    /// Read, Write and Exec run inside the roots on their own; the Network tier asks.
    public static let defaults = ToolPolicy(modes: ["read": .auto, "write": .auto, "exec": .auto, "network": .ask])

    public private(set) var modes: [String: Mode]

    public init(modes: [String: Mode]) {
        self.modes = modes
    }

    /// The mode for `tier`; an unknown tier is denied (fail closed).
    public func mode(for tier: String) -> Mode {
        modes[tier] ?? .deny
    }

    /// Parses `tier=mode` pairs separated by commas or spaces over the defaults.
    ///
    /// - Throws: `ConfigurationError` for AUTONOUS_TIER_POLICY naming the pair that is wrong.
    public static func parse(_ text: String) throws -> ToolPolicy {
        var policy = defaults
        for pair in text.split(whereSeparator: { $0 == "," || $0 == " " }) where !pair.isEmpty {
            let parts = pair.split(separator: "=", maxSplits: 1).map { $0.lowercased() }
            guard parts.count == 2, tiers.contains(parts[0]), let mode = Mode(rawValue: parts[1]) else {
                throw ConfigurationError(
                    variable: "AUTONOUS_TIER_POLICY",
                    message: "takes tier=mode pairs (tiers: \(tiers.joined(separator: ", ")); modes: auto, ask, "
                        + "deny), like network=ask,exec=auto; '\(pair)' is not one")
            }
            policy.modes[parts[0]] = mode
        }
        return policy
    }

    /// `read=auto,write=auto,exec=auto,network=ask`, in tier order.
    public var description: String {
        Self.tiers.map { "\($0)=\(mode(for: $0).rawValue)" }.joined(separator: ",")
    }
}

import GRDB

/// Which event types a reader wants: exact types (`worker.ready`) and prefixes (`approval.` or `approval.*`).
///
/// Used by `autonousctl events --type` (to refuse a malformed pattern, or with `refuseUnknown` one that matches no
/// known type, before connecting) and by the control server's `GetEvents` (to filter both logs in SQL). An empty
/// filter matches every type.
public struct EventTypeFilter: Sendable, Equatable {
    /// Types matched exactly.
    public private(set) var exact: [String] = []
    /// Prefixes every matched type starts with (a pattern `approval.*` is stored as `approval.`).
    public private(set) var prefixes: [String] = []

    /// The longest pattern accepted.
    public static let maximumLength = 128

    /// A filter that matches every type.
    public init() {}

    /// Parses patterns: an exact type, a prefix ending in `.`, or a prefix followed by `*`.
    ///
    /// - Throws: `AutonousError(.invalidArgument)` naming the pattern when it is empty, too long, has a character
    ///   other than letters, digits, `.`, `_`, `-`, or has a `*` anywhere but at its end.
    public init(_ patterns: [String]) throws {
        for pattern in patterns {
            guard let parsed = Self.parse(pattern) else {
                throw AutonousError(
                    .invalidArgument,
                    "'\(pattern)' is not an event type pattern: use an exact type such as worker.ready, or a prefix "
                        + "ending in '.' or '*' such as approval. or approval.*")
            }
            switch parsed {
            case .exact(let type): if !exact.contains(type) { exact.append(type) }
            case .prefix(let prefix): if !prefixes.contains(prefix) { prefixes.append(prefix) }
            }
        }
    }

    private enum Pattern {
        case exact(String)
        case prefix(String)
    }

    private static func parse(_ pattern: String) -> Pattern? {
        let body = pattern.hasSuffix("*") ? String(pattern.dropLast()) : pattern
        guard !body.isEmpty, pattern.utf8.count <= maximumLength,
            body.allSatisfy({ $0.isASCII && ($0.isLetter || $0.isNumber || "._-".contains($0)) })
        else { return nil }
        if pattern.hasSuffix("*") || pattern.hasSuffix(".") { return .prefix(body) }
        return .exact(body)
    }

    /// True when nothing is filtered.
    public var matchesEverything: Bool { exact.isEmpty && prefixes.isEmpty }

    /// Whether `type` is wanted.
    public func matches(_ type: String) -> Bool {
        matchesEverything || exact.contains(type) || prefixes.contains { type.hasPrefix($0) }
    }

    /// An SQL condition on the `type` column with its arguments, or nil when nothing is filtered. A prefix is
    /// compared with `substr`, not `LIKE`: `LIKE` ignores case and treats `_` (used in event types) as a wildcard.
    public var sqlCondition: (sql: String, arguments: StatementArguments)? {
        guard !matchesEverything else { return nil }
        var terms: [String] = []
        var arguments = StatementArguments()
        if !exact.isEmpty {
            terms.append("type IN (" + exact.map { _ in "?" }.joined(separator: ", ") + ")")
            arguments += StatementArguments(exact)
        }
        for prefix in prefixes {
            terms.append("substr(type, 1, ?) = ?")
            arguments += [prefix.count, prefix]
        }
        return ("(" + terms.joined(separator: " OR ") + ")", arguments)
    }
}

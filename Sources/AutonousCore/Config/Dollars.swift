import Foundation

/// An amount of US dollars, counted exactly in millionths (micro-dollars).
///
/// Caps and prices are read as decimals and every cost is rounded up to the next micro-dollar, so a budget is never
/// passed through rounding: a million calls that each cost 0.3 µUSD count as a dollar, not as nothing.
public struct Dollars: Sendable, Hashable, Comparable, CustomStringConvertible {
    /// Millionths of a dollar.
    public var microdollars: Int64

    public init(microdollars: Int64) {
        self.microdollars = microdollars
    }

    public static let zero = Dollars(microdollars: 0)

    /// Rounds `amount` (in dollars) up to the next micro-dollar; nil when it is negative or too large for 64 bits.
    public init?(rounding amount: Decimal) {
        guard amount >= 0, amount < 9_000_000_000_000 else { return nil }
        var scaled = amount * 1_000_000
        var rounded = Decimal()
        NSDecimalRound(&rounded, &scaled, 0, .up)
        microdollars = NSDecimalNumber(decimal: rounded).int64Value
    }

    /// Parses a written amount such as `20`, `0.50` or `$1.25` with at most six decimals; nil for anything else.
    public init?(parsing text: String) {
        var digits = Substring(text.trimmingCharacters(in: .whitespaces))
        if digits.first == "$" { digits = digits.dropFirst() }
        let parts = digits.split(separator: ".", maxSplits: 1, omittingEmptySubsequences: false)
        guard let whole = parts.first, !whole.isEmpty, whole.count <= 12,
            whole.allSatisfy({ $0.isASCII && $0.isNumber })
        else { return nil }
        var fraction = parts.count == 2 ? String(parts[1]) : ""
        guard fraction.count <= 6, fraction.allSatisfy({ $0.isASCII && $0.isNumber }),
            parts.count == 1 || !fraction.isEmpty
        else { return nil }
        fraction += String(repeating: "0", count: 6 - fraction.count)
        guard let units = Int64(whole), let millionths = Int64(fraction) else { return nil }
        microdollars = units * 1_000_000 + millionths
    }

    public static func < (lhs: Dollars, rhs: Dollars) -> Bool { lhs.microdollars < rhs.microdollars }

    public static func + (lhs: Dollars, rhs: Dollars) -> Dollars {
        Dollars(microdollars: lhs.microdollars &+ rhs.microdollars)
    }

    /// `$0.50`, `$20`, `$0.000125`: two decimals at least, more only when they are not zero.
    public var description: String {
        let units = microdollars / 1_000_000
        var fraction = String(microdollars % 1_000_000)
        fraction = String(repeating: "0", count: 6 - fraction.count) + fraction
        while fraction.count > 2 && fraction.hasSuffix("0") { fraction.removeLast() }
        return "$\(units).\(fraction)"
    }
}

import Foundation

/// A point in time an operator types: a duration before now (`90s`, `15m`, `1h`, `2d`, `1h30m`) or an ISO 8601
/// time with a zone (`2026-12-05T10:00:00Z`, `2026-12-05T11:00:00.250+01:00`).
///
/// Used by `autonousctl events --since`; the result is Unix milliseconds, the unit of the `ts_ms` columns.
public enum PastTime {
    /// The units of a duration, longest suffix first so `ms` is not read as `m`.
    private static let units: [(suffix: String, milliseconds: Int64)] = [
        ("ms", 1), ("s", 1000), ("m", 60_000), ("h", 3_600_000), ("d", 86_400_000),
    ]

    /// What the parser accepts, for error messages.
    public static let examples =
        "a duration such as 90s, 15m, 1h or 2d, or an ISO 8601 time such as 2026-12-05T10:00:00Z"

    /// Unix milliseconds of `text` relative to `now`, or nil when it is neither a duration nor an ISO 8601 time.
    public static func unixMilliseconds(_ text: String, now: Date) -> Int64? {
        let trimmed = text.trimmingCharacters(in: .whitespaces)
        if let duration = durationMilliseconds(trimmed) {
            return Int64((now.timeIntervalSince1970 * 1000).rounded()) - duration
        }
        if let date = isoDate(trimmed) {
            return Int64((date.timeIntervalSince1970 * 1000).rounded())
        }
        return nil
    }

    /// Milliseconds of a duration made of one or more `<digits><unit>` parts (`90s`, `1h30m`), or nil.
    public static func durationMilliseconds(_ text: String) -> Int64? {
        var rest = Substring(text)
        var total: Int64 = 0
        guard !rest.isEmpty else { return nil }
        while !rest.isEmpty {
            let digits = rest.prefix { $0.isASCII && $0.isNumber }
            // At most 9 digits per part: 999999999d still fits in Int64 milliseconds.
            guard !digits.isEmpty, digits.count <= 9, let value = Int64(digits) else { return nil }
            rest = rest.dropFirst(digits.count)
            guard let unit = units.first(where: { rest.hasPrefix($0.suffix) }) else { return nil }
            rest = rest.dropFirst(unit.suffix.count)
            let (product, overflow) = value.multipliedReportingOverflow(by: unit.milliseconds)
            guard !overflow else { return nil }
            let (sum, overflowSum) = total.addingReportingOverflow(product)
            guard !overflowSum else { return nil }
            total = sum
        }
        return total
    }

    /// An ISO 8601 date and time with a zone (`Z` or an offset), with or without fractional seconds.
    private static func isoDate(_ text: String) -> Date? {
        // Only the extended form with a 'T' and a zone: a bare date or a local time would be ambiguous.
        guard text.contains("T") || text.contains("t") else { return nil }
        let upper = text.uppercased()
        let plain = ISO8601DateFormatter()
        plain.formatOptions = [.withInternetDateTime]
        if let date = plain.date(from: upper) { return date }
        let fractional = ISO8601DateFormatter()
        fractional.formatOptions = [.withInternetDateTime, .withFractionalSeconds]
        return fractional.date(from: upper)
    }
}

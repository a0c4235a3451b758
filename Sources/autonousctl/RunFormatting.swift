import ArgumentParser
import AutonousCore
import Foundation

/// `--since` as `events`, `runs` and `usage` take it: a duration ago or an ISO 8601 time (`PastTime`).
enum SinceOption {
    /// Unix milliseconds of `text` now, or a `ValidationError` that says what is accepted.
    static func milliseconds(_ text: String, now: Date = Date()) throws -> Int64 {
        guard let unixMs = PastTime.unixMilliseconds(text, now: now) else {
            throw ValidationError("--since '\(text)' is neither \(PastTime.examples)")
        }
        guard unixMs >= 0 else { throw ValidationError("--since '\(text)' reaches back before 1970") }
        return unixMs
    }
}

/// How runs, traces and usage write numbers, money and durations.
enum RunFormat {
    /// `12,345`.
    static func count<Number: BinaryInteger>(_ value: Number) -> String {
        let digits = String(value.magnitude)
        var grouped = ""
        for (index, digit) in digits.enumerated() {
            if index > 0, (digits.count - index) % 3 == 0 { grouped += "," }
            grouped.append(digit)
        }
        return (value < 0 ? "-" : "") + grouped
    }

    /// `950`, `12.6k`, `3.4M`: a token count in at most 6 characters.
    static func compact(_ value: Int) -> String {
        switch value {
        case ..<1000: return String(value)
        case ..<999_950: return String(format: "%.1fk", Double(value) / 1000)
        default: return String(format: "%.1fM", Double(value) / 1_000_000)
        }
    }

    /// `$0.0123` (four decimals below a dollar, two above), or `-` for an unknown cost.
    static func dollars(_ value: Double?) -> String {
        guard let value else { return "-" }
        return String(format: value < 1 ? "$%.4f" : "$%.2f", value)
    }

    /// `812ms`, `4.1s`, `3m4s`.
    static func milliseconds(_ value: Int64) -> String {
        if value < 1000 { return "\(value)ms" }
        if value < 60_000 { return String(format: "%.1fs", Double(value) / 1000) }
        return StatusCommand.duration(Int(value / 1000))
    }

    /// `answered`, or `stopped/no_progress` when the stop reason says more than the status.
    static func status(_ run: RunRecord) -> String {
        guard let reason = run.stopReason, reason != run.status.rawValue else { return run.status.rawValue }
        return "\(run.status.rawValue)/\(reason)"
    }

    /// `in 120 out 30 cached 0 reasoning 0`.
    static func tokens(input: Int?, output: Int?, cached: Int?, reasoning: Int?) -> String {
        func text(_ value: Int?) -> String { value.map { count($0) } ?? "?" }
        return "in \(text(input)) out \(text(output)) cached \(text(cached)) reasoning \(text(reasoning))"
    }
}

import Foundation
import Synchronization

/// Reads typed values from an environment dictionary, throwing a `ConfigurationError` that names the variable.
///
/// Every accessor goes through `raw(_:)`, which notes the name in `names` when one is given: the tests hold the
/// names `Configuration` reads to `ConfigurationCatalog` that way.
public struct EnvironmentReader: Sendable {
    private let environment: [String: String]
    private let names: ReadNames?

    /// The names a reader was asked for, set or not.
    public final class ReadNames: Sendable {
        private let state = Mutex<Set<String>>([])

        public init() {}

        /// Every name asked for so far.
        public var all: Set<String> { state.withLock { $0 } }

        func insert(_ name: String) { _ = state.withLock { $0.insert(name) } }
    }

    /// - Parameter names: where to note every name asked for (tests); nil notes nothing.
    public init(_ environment: [String: String], names: ReadNames? = nil) {
        self.environment = environment
        self.names = names
    }

    /// The value exactly as set (an empty value included), or nil when unset.
    public func raw(_ name: String) -> String? {
        names?.insert(name)
        return environment[name]
    }

    /// The trimmed value, or nil when unset or blank.
    public func string(_ name: String) -> String? {
        guard let raw = raw(name)?.trimmingCharacters(in: .whitespacesAndNewlines), !raw.isEmpty else {
            return nil
        }
        return raw
    }

    /// An absolute, normalised directory path.
    public func absolutePath(_ name: String, default defaultValue: String) throws -> String {
        let value = string(name) ?? defaultValue
        guard value.hasPrefix("/") else {
            throw ConfigurationError(variable: name, message: "must be an absolute path, got '\(value)'")
        }
        guard !value.split(separator: "/").contains("..") else {
            throw ConfigurationError(variable: name, message: "must not contain '..', got '\(value)'")
        }
        return URL(fileURLWithPath: value).standardizedFileURL.path
    }

    /// An absolute path when the variable is set (a file such as a binary), else nil.
    public func optionalAbsolutePath(_ name: String) throws -> String? {
        guard let value = string(name) else { return nil }
        guard value.hasPrefix("/") else {
            throw ConfigurationError(variable: name, message: "must be an absolute path, got '\(value)'")
        }
        return value
    }

    /// An http or https URL without a trailing slash.
    public func url(_ name: String, default defaultValue: String) throws -> URL {
        var value = string(name) ?? defaultValue
        while value.hasSuffix("/") { value.removeLast() }
        guard let url = URL(string: value), let scheme = url.scheme?.lowercased(),
            scheme == "http" || scheme == "https",
            let host = url.host, !host.isEmpty
        else {
            throw ConfigurationError(variable: name, message: "must be an http:// or https:// URL, got '\(value)'")
        }
        return url
    }

    /// A whole number within `range`.
    public func integer(_ name: String, default defaultValue: Int, range: ClosedRange<Int>) throws -> Int {
        guard let value = string(name) else { return defaultValue }
        guard let number = Int(value), range.contains(number) else {
            throw ConfigurationError(
                variable: name,
                message: "must be a whole number from \(range.lowerBound) to \(range.upperBound), got '\(value)'")
        }
        return number
    }

    /// A duration written as `250ms`, `5s`, `2m`, `1h` or a bare number of seconds (`1.5`).
    public func duration(_ name: String, default defaultValue: Duration, range: ClosedRange<Duration>) throws
        -> Duration
    {
        guard let value = string(name) else { return defaultValue }
        guard let parsed = Self.parseDuration(value), range.contains(parsed) else {
            throw ConfigurationError(
                variable: name,
                message: "must be a duration like 500ms, 5s, 2m or 1h between \(range.lowerBound) and "
                    + "\(range.upperBound), got '\(value)'")
        }
        return parsed
    }

    /// A choice among fixed words.
    public func choice<T: RawRepresentable<String>>(_ name: String, default defaultValue: T) throws -> T
    where T: CaseIterable {
        guard let value = string(name) else { return defaultValue }
        guard let parsed = T(rawValue: value.lowercased()) else {
            let words = T.allCases.map(\.rawValue).joined(separator: ", ")
            throw ConfigurationError(variable: name, message: "must be one of \(words), got '\(value)'")
        }
        return parsed
    }

    /// A comma- or space-separated list of Telegram user ids (positive integers).
    public func userIDs(_ name: String) throws -> [Int64] {
        guard let value = string(name) else { return [] }
        var ids: [Int64] = []
        for item in value.split(whereSeparator: { $0 == "," || $0 == " " }) where !item.isEmpty {
            guard let id = Int64(item), id > 0 else {
                throw ConfigurationError(
                    variable: name,
                    message: "must be a comma-separated list of numeric Telegram user ids (like 12345,67890); "
                        + "'\(item)' is not one")
            }
            if !ids.contains(id) { ids.append(id) }
        }
        return ids
    }

    /// Parses `250ms`, `5s`, `2m`, `1h`, or a bare number of seconds.
    public static func parseDuration(_ text: String) -> Duration? {
        let units: [(String, Double)] = [("ms", 0.001), ("s", 1), ("m", 60), ("h", 3600)]
        for (suffix, scale) in units where text.hasSuffix(suffix) {
            let number = text.dropLast(suffix.count)
            guard let value = Double(number), value >= 0, value.isFinite else { return nil }
            return .milliseconds(Int64((value * scale * 1000).rounded()))
        }
        guard let seconds = Double(text), seconds >= 0, seconds.isFinite else { return nil }
        return .milliseconds(Int64((seconds * 1000).rounded()))
    }
}

import Foundation

/// What `--self-check` prints on stdout, one JSON object:
/// `{"ok": …, "revision": "<AUTONOUS_REVISION>" or null, "checks": [{"name", "ok", "ms", "error"?, "detail"?}]}`.
struct SelfCheckReport: Encodable, Sendable, Equatable {
    /// One timed check.
    struct Check: Encodable, Sendable, Equatable {
        var name: SelfCheck.Name
        var ok: Bool
        /// Wall-clock milliseconds the check took.
        var ms: Int64
        /// Why it failed, one sentence naming what was wrong; absent when it passed.
        var error: String?
        /// What a passing check saw (row counts, say); absent when there is nothing to say.
        var detail: String?

        init(name: SelfCheck.Name, ok: Bool, ms: Int64, error: String? = nil, detail: String? = nil) {
            self.name = name
            self.ok = ok
            self.ms = ms
            self.error = error
            self.detail = detail
        }
    }

    /// The revision under test (`AUTONOUS_REVISION`), or nil when unset.
    var revision: String?
    var checks: [Check]

    /// True when every check passed.
    var ok: Bool { checks.allSatisfy(\.ok) }

    /// The check named `name`, if it ran.
    subscript(_ name: SelfCheck.Name) -> Check? { checks.first { $0.name == name } }

    private enum CodingKeys: String, CodingKey {
        case ok, revision, checks
    }

    func encode(to encoder: any Encoder) throws {
        var container = encoder.container(keyedBy: CodingKeys.self)
        try container.encode(ok, forKey: .ok)
        // Written out as null, not left out: the supervisor tells "no revision" from a report without the field.
        try container.encode(revision, forKey: .revision)
        try container.encode(checks, forKey: .checks)
    }

    /// The report as one line of JSON.
    var jsonText: String {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        guard let data = try? encoder.encode(self), let text = String(data: data, encoding: .utf8) else {
            return #"{"ok":false,"revision":null,"checks":[]}"#
        }
        return text
    }

    /// One human line per failed check, for stderr.
    var failureLines: [String] {
        checks.filter { !$0.ok }.map { "self-check \($0.name.rawValue) failed: \($0.error ?? "no reason given")" }
    }
}

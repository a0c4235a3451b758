extension EventTypeFilter {
    /// Refuses a pattern that can match none of `known`, naming the close matches, so that a mistyped
    /// `autonousctl events --type` is an error rather than an empty listing.
    ///
    /// An exact pattern must be one of `known`; a prefix (`worker.`, `agent.*`) must begin at least one of them. A
    /// database may hold types `known` does not list (from an older version); a prefix still reaches those of a
    /// known namespace.
    ///
    /// - Throws: `AutonousError(.invalidArgument)` for a malformed pattern (as `init(_:)`), or naming the first
    ///   pattern that matches no known type, with up to five close matches (or, with none close, the namespaces).
    public static func refuseUnknown(_ patterns: [String], known: [String] = EventType.allCases.map(\.rawValue))
        throws
    {
        for pattern in patterns {
            let filter = try EventTypeFilter([pattern])
            guard !known.contains(where: filter.matches) else { continue }
            let close = closeMatches(to: pattern, among: known)
            let what =
                filter.prefixes.isEmpty
                ? "'\(pattern)' is not an event type" : "no event type starts with '\(filter.prefixes[0])'"
            if close.isEmpty {
                let namespaces = Set(known.compactMap { $0.split(separator: ".").first.map { $0 + "." } }).sorted()
                throw AutonousError(
                    .invalidArgument,
                    "\(what); event types start with " + namespaces.joined(separator: ", "))
            }
            throw AutonousError(.invalidArgument, "\(what); close matches: " + close.joined(separator: ", "))
        }
    }

    /// Up to five types or prefixes (`worker.`) of `known` close to `pattern`: those it begins, then those that
    /// contain it, then those a few edits away, nearest first.
    static func closeMatches(to pattern: String, among known: [String]) -> [String] {
        let body = pattern.hasSuffix("*") ? String(pattern.dropLast()) : pattern
        // Every prefix of a known type that ends at a dot (`telegram.`, `telegram.send.`).
        var prefixes: Set<String> = []
        for type in known {
            var prefix = ""
            for part in type.split(separator: ".").dropLast() {
                prefix += part + "."
                prefixes.insert(prefix)
            }
        }
        let candidates = known + prefixes.sorted()
        let bare = body.hasSuffix(".") ? String(body.dropLast()) : body
        let allowed = max(2, bare.count / 3)
        var ranked: [(rank: Int, candidate: String)] = []
        for candidate in candidates where candidate != body {
            let stripped = candidate.hasSuffix(".") ? String(candidate.dropLast()) : candidate
            if !bare.isEmpty && candidate.hasPrefix(bare) {
                ranked.append((0, candidate))
            } else if bare.count >= 3 && candidate.contains(bare) {
                ranked.append((1, candidate))
            } else {
                let distance = editDistance(bare, stripped)
                if distance <= allowed { ranked.append((1 + distance, candidate)) }
            }
        }
        return ranked.sorted { ($0.rank, $0.candidate) < ($1.rank, $1.candidate) }.prefix(5).map(\.candidate)
    }

    /// The Levenshtein distance between two ASCII strings (the patterns are ASCII by `init(_:)`).
    static func editDistance(_ a: String, _ b: String) -> Int {
        let a = Array(a.utf8)
        let b = Array(b.utf8)
        guard !a.isEmpty else { return b.count }
        var previous = Array(0 ... b.count)
        for i in 1 ... a.count {
            var current = [i] + Array(repeating: 0, count: b.count)
            for j in stride(from: 1, through: b.count, by: 1) {
                let substitution = previous[j - 1] + (a[i - 1] == b[j - 1] ? 0 : 1)
                current[j] = min(previous[j] + 1, current[j - 1] + 1, substitution)
            }
            previous = current
        }
        return previous[b.count]
    }
}

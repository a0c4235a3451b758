import Foundation

/// The checks a proposed patch must pass before any transaction exists: not empty, not too large, and touching
/// only files inside the repository. (Whether it applies is git's to say, on a temporary index.)
enum UpdatePatch {
    /// Why a patch was refused, in one sentence for the model.
    struct Refusal: Error, Equatable, CustomStringConvertible {
        var message: String
        var description: String { message }
    }

    /// Checks `patch` (`git diff` output) against `maxBytes` and returns the paths it touches.
    static func check(_ patch: String, maxBytes: Int) throws(Refusal) -> [String] {
        let size = patch.utf8.count
        guard !patch.trimmingCharacters(in: .whitespacesAndNewlines).isEmpty else {
            throw Refusal(message: "the patch is empty: the working copy has no changes against the running commit")
        }
        guard size <= maxBytes else {
            throw Refusal(
                message: "the patch is \(size) bytes, over the limit of \(maxBytes) (AUTONOUS_UPDATE_MAX_PATCH)")
        }
        var paths: [String] = []
        for line in patch.split(separator: "\n", omittingEmptySubsequences: true) {
            let names: [String]
            if line.hasPrefix("diff --git ") {
                names = try headerPaths(String(line.dropFirst("diff --git ".count)))
            } else if line.hasPrefix("--- ") || line.hasPrefix("+++ ") {
                let name = unquote(String(line.dropFirst(4)).split(separator: "\t").first.map(String.init) ?? "")
                if name == "/dev/null" { continue }
                names = [try stripPrefix(name)]
            } else if let rest = ["rename from ", "rename to ", "copy from ", "copy to "].first(where: {
                line.hasPrefix($0)
            }) {
                names = [unquote(String(line.dropFirst(rest.count)))]
            } else {
                continue
            }
            for name in names {
                try checkPath(name)
                if !paths.contains(name) { paths.append(name) }
            }
        }
        guard !paths.isEmpty else {
            throw Refusal(message: "the patch names no file: it is not the output of git diff")
        }
        return paths
    }

    /// A path the patch may touch: relative, inside the repository, and not git's own metadata.
    static func checkPath(_ path: String) throws(Refusal) {
        let components = path.split(separator: "/", omittingEmptySubsequences: false)
        guard !path.isEmpty, !path.hasPrefix("/"), !components.contains(where: { $0 == ".." || $0.isEmpty }),
            !components.contains(where: { $0 == "." })
        else {
            throw Refusal(message: "the patch touches '\(path)', which is outside the repository")
        }
        guard !components.contains(where: { $0 == ".git" }) else {
            throw Refusal(message: "the patch touches '\(path)', inside git's own metadata (.git)")
        }
        guard !path.unicodeScalars.contains(where: { $0.value < 0x20 || $0.value == 0x7f }) else {
            throw Refusal(message: "the patch names a path with a control character")
        }
    }

    /// `a/X b/Y` (maybe quoted) of a `diff --git` line.
    private static func headerPaths(_ text: String) throws(Refusal) -> [String] {
        if text.hasPrefix("\"") {
            // Quoted names: split after the closing quote of the first.
            var escaped = false
            var end: String.Index?
            for index in text.indices.dropFirst() {
                if escaped {
                    escaped = false
                } else if text[index] == "\\" {
                    escaped = true
                } else if text[index] == "\"" {
                    end = index
                    break
                }
            }
            guard let end else { throw Refusal(message: "a diff header has an unterminated quoted name") }
            let first = String(text[...end])
            let second = String(text[text.index(after: end)...]).trimmingCharacters(in: .whitespaces)
            return [try stripPrefix(unquote(first)), try stripPrefix(unquote(second))]
        }
        // Unquoted `a/P b/P`: the common case is the same path twice.
        let parts = text.split(separator: " ")
        for split in 1 ..< max(parts.count, 1) {
            let first = parts[..<split].joined(separator: " ")
            let second = parts[split...].joined(separator: " ")
            if first.hasPrefix("a/") && second.hasPrefix("b/") && first.dropFirst(2) == second.dropFirst(2) {
                return [String(first.dropFirst(2))]
            }
        }
        guard parts.count == 2 else {
            throw Refusal(message: "cannot read the file names of the diff header 'diff --git \(text.prefix(200))'")
        }
        return [try stripPrefix(String(parts[0])), try stripPrefix(String(parts[1]))]
    }

    private static func stripPrefix(_ name: String) throws(Refusal) -> String {
        guard name.hasPrefix("a/") || name.hasPrefix("b/") else {
            throw Refusal(message: "the patch names '\(name)' without git's a/ or b/ prefix")
        }
        return String(name.dropFirst(2))
    }

    /// Git's C-style quoting of unusual names (`"a/na\303\257ve"`), undone.
    static func unquote(_ text: String) -> String {
        guard text.count >= 2, text.hasPrefix("\""), text.hasSuffix("\"") else { return text }
        var bytes: [UInt8] = []
        var iterator = Array(text.utf8.dropFirst().dropLast()).makeIterator()
        while let byte = iterator.next() {
            guard byte == UInt8(ascii: "\\"), let next = iterator.next() else {
                bytes.append(byte)
                continue
            }
            switch next {
            case UInt8(ascii: "n"): bytes.append(0x0a)
            case UInt8(ascii: "t"): bytes.append(0x09)
            case UInt8(ascii: "\""), UInt8(ascii: "\\"): bytes.append(next)
            case UInt8(ascii: "0") ... UInt8(ascii: "7"):
                var value = Int(next - UInt8(ascii: "0"))
                for _ in 0 ..< 2 {
                    guard let digit = iterator.next() else { break }
                    value = value * 8 + Int(digit &- UInt8(ascii: "0"))
                }
                bytes.append(UInt8(truncatingIfNeeded: value))
            default: bytes.append(next)
            }
        }
        return String(decoding: bytes, as: UTF8.self)
    }

    /// The test counts a test run's log states: a `$AUTONOUS_TEST_REPORT` JSON object (`{"passed": N,
    /// "failed": M}`) when the command wrote one, else the summary lines of Swift Testing and XCTest.
    static func testCounts(report: Data?, log: String) -> (passed: Int, failed: Int)? {
        if let report, let object = try? JSONSerialization.jsonObject(with: report) as? [String: Any],
            let passed = object["passed"] as? Int, let failed = object["failed"] as? Int, passed >= 0, failed >= 0
        {
            return (passed, failed)
        }
        var passed = 0
        var failed = 0
        var found = false
        // XCTest prints a summary per suite and then one for them all: only the last counts.
        var xctest: (passed: Int, failed: Int)?
        for line in log.split(separator: "\n") {
            // Swift Testing: "✔ Test run with 12 tests in 3 suites passed after …" / "✘ Test run with 12 tests in 3
            // suites failed after … with 2 issues."
            if let range = line.range(of: "Test run with ") {
                let words = line[range.upperBound...].split(separator: " ")
                guard let total = words.first.flatMap({ Int($0) }) else { continue }
                found = true
                if line.contains(" passed after ") {
                    passed += total
                } else if let with = words.firstIndex(of: "with"), words.index(after: with) < words.endIndex,
                    let issues = Int(words[words.index(after: with)])
                {
                    // Issues are not tests; at least one test failed, at most `issues`.
                    let failing = min(total, max(1, issues))
                    failed += failing
                    passed += total - failing
                }
            } else if line.contains("Executed "), line.contains(" tests, with "), !line.contains("Test Suite") {
                // XCTest's last summary: "Executed 12 tests, with 1 failure (0 unexpected) in …".
                let words = line.split(separator: " ")
                guard let executed = words.firstIndex(of: "Executed"), let total = Int(words[executed + 1]),
                    let with = words.firstIndex(of: "with"), let failures = Int(words[with + 1])
                else { continue }
                xctest = (total - failures, failures)
            }
        }
        if let xctest {
            found = true
            passed += xctest.passed
            failed += xctest.failed
        }
        return found ? (passed, failed) : nil
    }
}

import Foundation
import Testing

@testable import AutonousCore

/// `ConfigurationCatalog` is the one list of variables: `Configuration` reads exactly its names with its defaults,
/// and `systemd/autonous.env.example` and the README's table say the same.
@Suite struct ConfigurationCatalogTests {
    /// The package root.
    static let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .deletingLastPathComponent()

    /// Every operator variable written out with its catalog default.
    static var everyDefaultWrittenOut: [String: String] {
        var environment: [String: String] = [:]
        for variable in ConfigurationCatalog.operatorVariables where !variable.defaultValue.isEmpty {
            environment[variable.name] = variable.defaultValue
        }
        return environment
    }

    @Test func namesAreUniqueAndWellFormed() {
        let names = ConfigurationCatalog.all.map(\.name)
        #expect(Set(names).count == names.count, "a variable is listed twice")
        for variable in ConfigurationCatalog.all {
            #expect(variable.name.allSatisfy { $0.isUppercase || $0.isNumber || $0 == "_" }, "\(variable.name)")
            #expect(!variable.meaning.isEmpty && !variable.meaning.contains("\n"), "\(variable.name): one line")
            if case .olderName(let newer) = variable.kind {
                #expect(ConfigurationCatalog.variable(named: newer) != nil, "\(variable.name) is older than what?")
            }
        }
    }

    /// Parsing an empty environment and one with every default written out asks for every catalog variable the
    /// configuration owns, and for nothing the catalog does not list.
    @Test func configurationReadsExactlyTheCatalog() throws {
        let names = EnvironmentReader.ReadNames()
        _ = try Configuration(environment: [:], readNames: names)
        _ = try Configuration(environment: Self.everyDefaultWrittenOut, readNames: names)
        let known = Set(ConfigurationCatalog.all.map(\.name))
        let unlisted = names.all.subtracting(known).sorted()
        #expect(unlisted.isEmpty, "Configuration reads variables ConfigurationCatalog does not list: \(unlisted)")
        var owned = Set(ConfigurationCatalog.operatorVariables.map(\.name))
        for variable in ConfigurationCatalog.others {
            if case .olderName = variable.kind { owned.insert(variable.name) }
        }
        let unread = owned.subtracting(names.all).sorted()
        #expect(unread.isEmpty, "ConfigurationCatalog lists variables Configuration never reads: \(unread)")
    }

    /// Writing a default out changes nothing: the catalog's defaults are the code's.
    @Test(arguments: ConfigurationCatalog.operatorVariables.filter { !$0.defaultValue.isEmpty })
    func writtenDefaultParsesLikeUnset(variable: ConfigurationVariable) throws {
        let unset = try Configuration(environment: [:])
        var written = try Configuration(environment: [variable.name: variable.defaultValue])
        // Setting the base URL at all is what marks a local server as configured without a key.
        written.openAIBaseURLIsExplicit = unset.openAIBaseURLIsExplicit
        #expect(written == unset, "\(variable.name)=\(variable.defaultValue) is not the code's default")
    }

    /// Nothing in the sources reads a variable the catalog does not list, outside `Configuration` too.
    @Test func sourcesReadOnlyCatalogedVariables() throws {
        let sources = Self.root.appendingPathComponent("Sources")
        let pattern = try NSRegularExpression(
            pattern: #"(?:environment\[|env\.(?:string|raw)\(|\.environment\[)"((?:AUTONOUS|OPENAI)_[A-Z_]+)""#)
        var unlisted: [String] = []
        let walker = try #require(FileManager.default.enumerator(atPath: sources.path))
        while let path = walker.nextObject() as? String {
            guard path.hasSuffix(".swift") else { continue }
            let text = try String(contentsOf: sources.appendingPathComponent(path), encoding: .utf8)
            let range = NSRange(text.startIndex..., in: text)
            for match in pattern.matches(in: text, range: range) {
                guard let name = Range(match.range(at: 1), in: text).map({ String(text[$0]) }) else { continue }
                if ConfigurationCatalog.variable(named: name) == nil { unlisted.append("\(path): \(name)") }
            }
        }
        #expect(unlisted.isEmpty, "variables read but not in ConfigurationCatalog: \(unlisted)")
    }

    @Test func environmentFileExampleIsGenerated() throws {
        let path = Self.root.appendingPathComponent("systemd/autonous.env.example").path
        let committed = try String(contentsOfFile: path, encoding: .utf8)
        let generated = ConfigurationCatalog.environmentFileExample
        guard committed != generated else { return }
        let old = committed.split(separator: "\n", omittingEmptySubsequences: false)
        let new = generated.split(separator: "\n", omittingEmptySubsequences: false)
        let line =
            zip(old, new).enumerated().first { $0.element.0 != $0.element.1 }?.offset ?? min(old.count, new.count)
        Issue.record(
            """
            systemd/autonous.env.example is not what ConfigurationCatalog generates (first difference at line \
            \(line + 1): '\(line < old.count ? old[line] : "")' instead of '\(line < new.count ? new[line] : "")'); \
            regenerate it with `swift run autonous-supervisord --print-env-example > systemd/autonous.env.example`
            """)
    }

    @Test func environmentFileExampleListsEveryOperatorVariableCommentedOut() {
        let lines = ConfigurationCatalog.environmentFileExample.split(separator: "\n").map(String.init)
        for variable in ConfigurationCatalog.operatorVariables {
            #expect(lines.contains("#\(variable.name)=\(variable.defaultValue)"), "\(variable.name)")
        }
        #expect(!lines.contains { !$0.isEmpty && !$0.hasPrefix("#") }, "every line is a comment")
    }

    /// The rows of the table under README.md's "## Configuration": the variable and its default cell.
    static func readmeRows() throws -> [(name: String, defaultCell: String)] {
        let readme = try String(contentsOf: root.appendingPathComponent("README.md"), encoding: .utf8)
        let section = try #require(readme.components(separatedBy: "\n## Configuration\n").dropFirst().first)
        let body = section.components(separatedBy: "\n## ").first ?? section
        return body.split(separator: "\n").compactMap { line in
            let cells = line.split(separator: "|", omittingEmptySubsequences: false).map {
                $0.trimmingCharacters(in: .whitespaces)
            }
            guard cells.count > 3, cells[1].hasPrefix("`"), cells[1].hasSuffix("`") else { return nil }
            return (String(cells[1].dropFirst().dropLast()), cells[2])
        }
    }

    @Test func readmeTableListsTheCatalogWithItsDefaults() throws {
        let rows = try Self.readmeRows()
        let documented = rows.map(\.name)
        let cataloged = ConfigurationCatalog.operatorVariables.map(\.name)
        #expect(Set(documented).count == documented.count, "README.md's configuration table lists a name twice")
        let missing = Set(cataloged).subtracting(documented).sorted()
        let extra = Set(documented).subtracting(cataloged).sorted()
        #expect(missing.isEmpty, "ConfigurationCatalog variables missing from README.md's table: \(missing)")
        #expect(extra.isEmpty, "README.md's table lists variables ConfigurationCatalog does not: \(extra)")
        for row in rows {
            guard let variable = ConfigurationCatalog.variable(named: row.name) else { continue }
            // An empty catalog default is none or computed, which the README says in words.
            guard !variable.defaultValue.isEmpty else { continue }
            #expect(
                row.defaultCell.contains("`\(variable.defaultValue)`"),
                "\(row.name): README.md says \(row.defaultCell), the catalog `\(variable.defaultValue)`")
        }
    }
}

extension ConfigurationVariable: CustomTestStringConvertible {
    public var testDescription: String { name }
}

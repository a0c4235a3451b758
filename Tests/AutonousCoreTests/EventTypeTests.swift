import Foundation
import GRDB
import Testing

@testable import AutonousCore

/// The event types: one enum with stable, well-formed strings, documented in README.md's "Event types" table.
@Suite struct EventTypeTests {
    /// README.md at the package root.
    static var readmePath: String {
        URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .deletingLastPathComponent().appendingPathComponent("README.md").path
    }

    /// The rows of the table under README.md's "Event types" heading: each row's type (its first cell, in
    /// backticks) and owner.
    static func documentedTypes() throws -> [(type: String, owner: String)] {
        let lines = try String(contentsOfFile: readmePath, encoding: .utf8).split(
            separator: "\n", omittingEmptySubsequences: false)
        guard let heading = lines.firstIndex(where: { $0.hasPrefix("#") && $0.hasSuffix(" Event types") }) else {
            return []
        }
        let table = lines[(heading + 1)...].drop { !$0.hasPrefix("|") }.prefix { $0.hasPrefix("|") }
        return table.dropFirst(2).map { row in
            let cells = row.split(separator: "|").map { $0.trimmingCharacters(in: .whitespaces) }
            let type = cells.first.map { $0.trimmingCharacters(in: CharacterSet(charactersIn: "`")) } ?? ""
            return (type, cells.count > 1 ? cells[1] : "")
        }
    }

    @Test func rawValuesAreUniqueAndWellFormed() throws {
        let raw = EventType.allCases.map(\.rawValue)
        #expect(
            Set(raw).count == raw.count, "duplicates: \(raw.filter { type in raw.filter { $0 == type }.count > 1 })")
        let wellFormed = try Regex("^[a-z_]+(\\.[a-z_]+)*$")
        for type in raw {
            #expect(try wellFormed.wholeMatch(in: type) != nil, "\(type)")
        }
    }

    @Test func theReadmeTableListsExactlyTheEnumsTypes() throws {
        let rows = try Self.documentedTypes()
        #expect(!rows.isEmpty, "no table under an 'Event types' heading in \(Self.readmePath)")
        let documented = rows.map(\.type)
        let declared = EventType.allCases.map(\.rawValue)
        #expect(Set(documented).count == documented.count, "a type is listed twice in README.md")
        let missing = Set(declared).subtracting(documented).sorted()
        let extra = Set(documented).subtracting(declared).sorted()
        #expect(missing.isEmpty, "EventType cases missing from README.md's table: \(missing)")
        #expect(extra.isEmpty, "README.md lists types EventType does not have: \(extra)")
        for row in rows {
            #expect(["supervisor", "worker", "both"].contains(row.owner), "\(row.type): owner '\(row.owner)'")
        }
    }

    @Test func aTypeReadsAsItsRecordedString() {
        #expect("\(EventType.workerReady)" == "worker.ready")
        #expect(EventType.toolCallStarted.rawValue == "tool_call.started")
    }

    @Test func aRecordKnowsItsTypeUnlessAnOlderVersionWroteIt() throws {
        let fixture = try TemporaryDatabase()
        let log = EventLog(database: fixture.database)
        try log.append(.agentStarted)
        try fixture.database.pool.write { db in
            try db.execute(sql: "INSERT INTO events (ts_ms, type, payload) VALUES (1, 'retired.kind', '{}')")
        }
        let records = try log.events()
        #expect(records.map(\.type) == ["agent.started", "retired.kind"])
        #expect(records.map(\.knownType) == [.agentStarted, nil])
    }

    @Test func aKnownTypeOrAPrefixOfOneIsAccepted() throws {
        try EventTypeFilter.refuseUnknown(["worker.ready", "worker.", "agent.*", "tool*", "telegram.send."])
        try EventTypeFilter.refuseUnknown([])
    }

    @Test func aTypeThatMatchesNothingIsRefusedWithTheCloseOnes() {
        for (pattern, named, suggested) in [
            ("worker.redy", "'worker.redy'", "worker.ready"), ("wrker.", "'wrker.'", "worker."),
            ("wrker.*", "'wrker.'", "worker."), ("worker", "'worker'", "worker."),
            ("spawned", "'spawned'", "worker.spawned"), ("tool_call.start", "'tool_call.start'", "tool_call.started"),
        ] {
            let error = #expect(throws: AutonousError.self, "\(pattern)") {
                try EventTypeFilter.refuseUnknown(["worker.ready", pattern])
            }
            #expect(error?.message.contains(named) == true, "\(pattern): \(error?.message ?? "")")
            #expect(error?.message.contains(suggested) == true, "\(pattern): \(error?.message ?? "")")
        }
        // Nothing is close: the namespaces are listed instead.
        let error = #expect(throws: AutonousError.self) { try EventTypeFilter.refuseUnknown(["zzzz.qqqq"]) }
        #expect(error?.message.contains("worker.") == true && error?.message.contains("agent.") == true)
    }

    @Test func aMalformedPatternIsStillRefusedAsMalformed() {
        #expect(throws: AutonousError.self) { try EventTypeFilter.refuseUnknown(["a*b"]) }
    }
}

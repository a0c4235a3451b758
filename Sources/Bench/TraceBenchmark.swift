import AutonousCore
import Foundation
import GRDB

/// `trace` and `usage` on a large worker database: what the supervisor does for `autonousctl trace RUN` (the
/// run's tree read from the worker's database, encoded as the varlink reply) and `autonousctl usage --since 7d`.
struct TraceBenchmark {
    let directory: String
    let events: Int
    let samples: Int
    let json: String?

    /// The ceiling for one run's trace on a million-event database.
    static let traceTarget = 50.0

    /// The shape of one stored run: `agent.started`, then per turn `turn.started` (with its model call),
    /// `turn.completed`, `tool_call.started`, `tool_call.completed`, then `agent.completed`; and events of no run
    /// in between (updates stored, sends), as a chat's log has.
    static let turnsPerRun = 5
    static let eventsOutsideRuns = 3
    static var eventsPerRun: Int { 2 + 4 * turnsPerRun + eventsOutsideRuns }

    init(arguments: Options) throws {
        directory = arguments.directory
        events = try arguments.int("events", default: 1_000_000, in: 1000 ... 50_000_000)
        samples = try arguments.int("samples", default: 50, in: 3 ... 10_000)
        json = arguments.string("json")
    }

    func run() throws {
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        let path = "\(directory)/worker.db"
        let database = try AppDatabase(path: path, role: .worker)
        let runs = events / Self.eventsPerRun
        let filling = monotonicSeconds()
        try fill(database, runs: runs)
        let stored = try database.pool.read { db in try Int.fetchOne(db, sql: "SELECT COUNT(*) FROM events") ?? 0 }
        print(
            "filled \(path): \(stored) events, \(runs) runs, \(runs * Self.turnsPerRun) model calls in "
                + String(format: "%.1f s", monotonicSeconds() - filling))

        // Read as the supervisor reads it: a read-only connection of its own.
        let reader = try AppDatabase.readOnly(path: path, role: .worker)
        var generator = SplitMix64(seed: 0x5EED)
        let encoder = JSONEncoder()
        var traceMs: [Double] = []
        for _ in 0 ..< samples {
            let id = Self.runID(Int(generator.next() % UInt64(runs)))
            let start = monotonicSeconds()
            guard let trace = try reader.pool.read({ db in try RunLog.trace(db, id: id) }) else {
                throw BenchError("run \(id) has no trace")
            }
            let reply = try encoder.encode(ControlInterface.TraceRunResponse(trace: trace))
            traceMs.append((monotonicSeconds() - start) * 1000)
            guard trace.turns.count == Self.turnsPerRun, !reply.isEmpty else {
                throw BenchError("run \(id) traced \(trace.turns.count) turns, not \(Self.turnsPerRun)")
            }
        }
        var usageMs: [Double] = []
        let nowMs = AppDatabase.nowMilliseconds()
        for _ in 0 ..< max(3, samples / 10) {
            let start = monotonicSeconds()
            let report = try reader.pool.read { db in
                try UsageReport.make(
                    db, sinceMs: nowMs - 7 * 86_400_000, by: .day, prices: nil, budget: DailyBudget(), nowMs: nowMs)
            }
            _ = try encoder.encode(report)
            usageMs.append((monotonicSeconds() - start) * 1000)
        }
        let size = "\(stored / 1000)k events, \(runs * Self.turnsPerRun / 1000)k model calls"
        try Figure.write(
            [
                Figure(
                    id: "trace.million_events", title: "`trace` of one run on a database of \(size)", unit: "ms",
                    samples: traceMs, target: .init(kind: "absolute_max", value: Self.traceTarget),
                    note: "the supervisor's side of `autonousctl trace`: the read and the encoded reply"),
                Figure(
                    id: "trace.usage_7_days", title: "`usage --since 7d` on a database of \(size) (all calls in range)",
                    unit: "ms", samples: usageMs),
            ], to: json)
    }

    static func runID(_ index: Int) -> String { "bench-run-\(index)" }

    /// Writes `runs` runs through the daemon's own writers, a thousand runs a transaction.
    private func fill(_ database: AppDatabase, runs: Int) throws {
        let batch = 1000
        for first in stride(from: 0, to: runs, by: batch) {
            try database.pool.write { db in
                for index in first ..< min(runs, first + batch) {
                    try Self.writeRun(db, index: index)
                }
            }
        }
    }

    private static func writeRun(_ db: Database, index: Int) throws {
        let id = runID(index)
        let conversation = "bench-conversation-\(index % 100)"
        let base = EventContext(runID: id, conversationID: conversation)
        _ = try EventLog.append(db, .telegramUpdateStored, payload: ["update_id": .int(Int64(index))])
        let started = try EventLog.append(db, .agentStarted, base, payload: ["chars": .int(42)])
        var record = RunRecord(
            id: id, conversationID: conversation, inboxID: nil, commander: "telegram", requestedBy: "telegram:222",
            startedMs: AppDatabase.nowMilliseconds())
        record.eventID = started
        try RunLog.start(db, record)
        let run = base.child(of: started)
        for turn in 1 ... turnsPerRun {
            let turnID = try EventLog.append(
                db, .turnStarted, run, payload: ["turn": .int(Int64(turn)), "model": .string("gpt-fake")])
            let inTurn = run.child(of: turnID)
            var call = ModelCallRecord(provider: "openai", model: "gpt-fake", ok: true, latencyMs: 800)
            call.runID = id
            call.conversationID = conversation
            call.eventID = turnID
            call.turn = turn
            call.inputTokens = 1200 + 300 * turn
            call.outputTokens = 60
            call.cachedTokens = 1000
            _ = try ModelCallLog.insert(db, call)
            try RunLog.countModelCall(
                db, runID: id, usage: TokenUsage(input: call.inputTokens ?? 0, output: 60, cached: 1000),
                costUSD: nil, newTurn: true)
            try EventLog.append(db, .turnCompleted, inTurn, payload: ["latency_ms": .int(800), "tool_calls": .int(1)])
            let toolID = try EventLog.append(
                db, .toolCallStarted, inTurn,
                payload: ["tool": .string("grep"), "tier": .string("read"), "call_id": .string("call_\(turn)")])
            try EventLog.append(
                db, .toolCallCompleted, run.child(of: toolID),
                payload: ["tool": .string("grep"), "duration_ms": .int(4), "call_id": .string("call_\(turn)")])
            try RunLog.countToolCalls(db, runID: id, count: 1)
        }
        try EventLog.append(db, .agentCompleted, run, payload: ["outcome": .string("answered")])
        try RunLog.finish(db, runID: id, status: .answered, stopReason: "answered")
        _ = try EventLog.append(db, .telegramUpdateStored, payload: ["update_id": .int(Int64(index) + 1)])
        _ = try EventLog.append(db, .telegramSendDeferred, payload: ["chat_id": .int(222)])
    }
}

/// A small deterministic generator, so every run of the benchmark traces the same runs.
struct SplitMix64 {
    private var state: UInt64
    init(seed: UInt64) { state = seed }
    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
}

import AutonousCore
import Foundation

/// Event-log appends per second: each append its own write transaction (`EventLog.append`), the way the daemons
/// append an event that belongs to no larger step, on a database opened exactly as the daemons open theirs (WAL,
/// synchronous=NORMAL, migrated to the role's schema).
struct EventsBenchmark {
    let directory: String
    let seconds: Double
    let runs: Int
    let json: String?

    /// The floor for a single writer.
    static let singleWriterTarget = 20_000.0

    init(arguments: Options) throws {
        directory = arguments.directory
        seconds = try arguments.double("seconds", default: 2, in: 0.1 ... 60)
        runs = try arguments.int("runs", default: 5, in: 1 ... 100)
        json = arguments.string("json")
    }

    func run() async throws {
        var single: [Double] = []
        var stepped: [Double] = []
        var together: [Double] = []
        var slowestOfTwo: [Double] = []
        for run in 1 ... runs {
            let path = "\(directory)/single-\(run)"
            try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
            let (count, elapsed) = try Self.append(path: "\(path)/worker.db", role: .worker, seconds: seconds)
            single.append(Double(count) / elapsed)
            let (inSteps, stepsElapsed) = try Self.append(
                path: "\(path)/steps.db", role: .worker, seconds: seconds, perTransaction: Self.eventsPerStep)
            stepped.append(Double(inSteps) / stepsElapsed)

            let pair = "\(directory)/pair-\(run)"
            try FileManager.default.createDirectory(atPath: pair, withIntermediateDirectories: true)
            let rates = try await twoProcesses(directory: pair)
            together.append(rates.reduce(0, +))
            slowestOfTwo.append(rates.min() ?? 0)
        }
        try Figure.write(
            [
                Figure(
                    id: "events.single_writer", title: "event-log appends, one writer (a transaction each)",
                    unit: "events/s", samples: single,
                    target: .init(kind: "absolute_min", value: Self.singleWriterTarget)),
                Figure(
                    id: "events.one_writer_in_steps",
                    title:
                        "event-log appends, one writer, \(Self.eventsPerStep) to a transaction (an agent step's events)",
                    unit: "events/s", samples: stepped,
                    note: "the daemon writes a step's events in one transaction: a turn writes its model call's end "
                        + "and the tool calls' starts and ends together"),
                Figure(
                    id: "events.two_writers",
                    title: "event-log appends, worker and supervisor databases written at once (sum of both)",
                    unit: "events/s", samples: together,
                    note: "two processes, each appending to its own database, as the two daemons do"),
                Figure(
                    id: "events.two_writers_slowest",
                    title: "event-log appends, worker and supervisor at once (the slower of the two)",
                    unit: "events/s", samples: slowestOfTwo),
            ], to: json)
    }

    /// Runs `events-writer` for the worker's and the supervisor's database at once and returns each one's rate.
    private func twoProcesses(directory pair: String) async throws -> [Double] {
        let executable = try FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/exe")
        let environment = ProcessInfo.processInfo.environment
        func writer(_ file: String, _ role: String) async throws -> Double {
            let (status, output) = try await ChildProcess.runToEnd(
                executable: executable,
                arguments: ["events-writer", "\(pair)/\(file)", "--role", role, "--seconds", "\(seconds)"],
                environment: environment)
            let text = output.trimmingCharacters(in: .whitespacesAndNewlines)
            guard status == .exited(0), let rate = text.split(separator: "\n").last.flatMap({ Double($0) }) else {
                throw BenchError("events-writer failed (\(status)): \(text)")
            }
            return rate
        }
        async let worker = writer("worker.db", "worker")
        async let supervisor = writer("autonous.db", "supervisor")
        return try await [worker, supervisor]
    }

    /// `events-writer PATH --role worker|supervisor --seconds S`: appends for S seconds and prints its rate.
    static func writer(arguments: Options) throws {
        let role: DatabaseRole
        switch arguments.string("role") {
        case "worker": role = .worker
        case "supervisor": role = .supervisor
        default: throw BenchError("--role must be worker or supervisor")
        }
        let seconds = try arguments.double("seconds", default: 2, in: 0.1 ... 60)
        let (count, elapsed) = try append(path: arguments.directory, role: role, seconds: seconds)
        print(Double(count) / elapsed)
    }

    /// How many events one agent step commits together, as the turn's transactions do.
    static let eventsPerStep = 4

    /// Appends events to the database at `path` for `seconds`, `perTransaction` to a write transaction; returns how
    /// many and the time they took.
    static func append(path: String, role: DatabaseRole, seconds: Double, perTransaction: Int = 1) throws -> (
        Int, Double
    ) {
        let log = EventLog(database: try AppDatabase(path: path, role: role))
        let context = EventContext(runID: "bench-run", conversationID: "bench-conversation")
        // A payload the size of a typical tool-call event.
        let payload: [String: JSONValue] = [
            "tool": .string("grep"), "tier": .string("read"), "call_id": .string("call_0123456789abcdef"),
            "duration_ms": .int(3), "bytes": .int(1834),
        ]
        let type: EventType = role == .worker ? .toolCallCompleted : .workerReady
        let start = monotonicSeconds()
        let end = start + seconds
        var count = 0
        var now = start
        while now < end {
            // The clock is read every 64 appends: reading it costs little, but not nothing.
            if perTransaction == 1 {
                for _ in 0 ..< 64 { try log.append(type, context, payload: payload) }
            } else {
                for _ in 0 ..< 64 / perTransaction {
                    try log.database.pool.write { db in
                        for _ in 0 ..< perTransaction { try EventLog.append(db, type, context, payload: payload) }
                    }
                }
            }
            count += 64 / perTransaction * perTransaction
            now = monotonicSeconds()
        }
        return (count, now - start)
    }
}

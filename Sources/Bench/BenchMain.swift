import AutonousCore
import Foundation
import GRDB

/// `autonous-bench`: the benchmarks that measure autonous's own storage code in-process, on a release build, for
/// `make bench`. Each command prints a table row per figure and, with `--json FILE`, writes the figures in the
/// shape `scripts/bench/report.py` reads (a list of `{id, title, unit, samples, target?, note?}`).
///
///     autonous-bench events DIR [--seconds S] [--runs N] [--json FILE]
///         Event-log appends per second, each its own write transaction as the daemon appends a lone event
///         (WAL, synchronous=NORMAL): one writer alone, then the worker's and the supervisor's databases written at
///         once by two processes (this executable again, `events-writer`), as the two daemons do.
///     autonous-bench trace DIR [--events N] [--samples N] [--json FILE]
///         Fills a worker database with N events (default 1,000,000) shaped like real runs, then times what
///         `autonousctl trace RUN` and `autonousctl usage` read (the supervisor's own queries).
///
/// DIR is a scratch directory; the databases are made there and left for the caller to remove.
@main
struct BenchMain {
    static func main() async {
        var arguments = Array(CommandLine.arguments.dropFirst())
        guard let command = arguments.first else { usage("a command is required") }
        arguments.removeFirst()
        do {
            switch command {
            case "events": try await EventsBenchmark(arguments: Options(arguments)).run()
            case "events-writer": try EventsBenchmark.writer(arguments: Options(arguments))
            case "trace": try TraceBenchmark(arguments: Options(arguments)).run()
            default: usage("unknown command '\(command)'")
            }
        } catch {
            FileHandle.standardError.write(Data("autonous-bench: \(error)\n".utf8))
            exit(1)
        }
    }

    static func usage(_ problem: String) -> Never {
        FileHandle.standardError.write(
            Data(
                """
                autonous-bench: \(problem)
                usage: autonous-bench events DIR [--seconds S] [--runs N] [--json FILE]
                       autonous-bench trace DIR [--events N] [--samples N] [--json FILE]

                """.utf8))
        exit(2)
    }
}

/// A command's arguments: one positional directory and `--name value` options, each checked when read.
struct Options {
    let directory: String
    private var values: [String: String] = [:]

    init(_ arguments: [String]) throws {
        var positional: [String] = []
        var index = 0
        while index < arguments.count {
            let argument = arguments[index]
            if argument.hasPrefix("--") {
                guard index + 1 < arguments.count else { throw BenchError("\(argument) needs a value") }
                values[String(argument.dropFirst(2))] = arguments[index + 1]
                index += 2
            } else {
                positional.append(argument)
                index += 1
            }
        }
        guard positional.count == 1 else { throw BenchError("exactly one scratch directory is required") }
        directory = positional[0]
    }

    func int(_ name: String, default value: Int, in range: ClosedRange<Int>) throws -> Int {
        guard let text = values[name] else { return value }
        guard let number = Int(text), range.contains(number) else {
            throw BenchError("--\(name) must be a whole number from \(range.lowerBound) to \(range.upperBound)")
        }
        return number
    }

    func double(_ name: String, default value: Double, in range: ClosedRange<Double>) throws -> Double {
        guard let text = values[name] else { return value }
        guard let number = Double(text), range.contains(number) else {
            throw BenchError("--\(name) must be a number from \(range.lowerBound) to \(range.upperBound)")
        }
        return number
    }

    func string(_ name: String) -> String? { values[name] }
}

struct BenchError: Error, CustomStringConvertible {
    let description: String
    init(_ description: String) { self.description = description }
}

/// One figure of the report: `samples` in `unit`, with an optional target.
struct Figure: Encodable {
    struct Target: Encodable {
        /// `absolute_max` or `absolute_min`.
        let kind: String
        let value: Double
    }

    let id: String
    let title: String
    let unit: String
    let samples: [Double]
    var target: Target? = nil
    var note: String? = nil

    var median: Double {
        let sorted = samples.sorted()
        guard !sorted.isEmpty else { return .nan }
        let middle = sorted.count / 2
        return sorted.count % 2 == 1 ? sorted[middle] : (sorted[middle - 1] + sorted[middle]) / 2
    }

    /// The figure as a row of the printed table.
    var row: String {
        let format = { (value: Double) in String(format: value >= 100 ? "%.0f" : "%.2f", value) }
        let targetText = target.map { ($0.kind == "absolute_min" ? "≥ " : "< ") + format($0.value) } ?? ""
        return "| \(title) | \(format(median)) | \(format(samples.min() ?? .nan)) | "
            + "\(format(samples.max() ?? .nan)) | \(samples.count) | \(unit) | \(targetText) |"
    }

    static func write(_ figures: [Figure], to path: String?) throws {
        print("| figure | median | min | max | runs | unit | target |")
        print("|---|---|---|---|---|---|---|")
        for figure in figures { print(figure.row) }
        guard let path else { return }
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
        try encoder.encode(figures).write(to: URL(fileURLWithPath: path))
    }
}

/// Seconds since an arbitrary start, from the monotonic clock.
func monotonicSeconds() -> Double {
    var now = timespec()
    clock_gettime(CLOCK_MONOTONIC, &now)
    return Double(now.tv_sec) + Double(now.tv_nsec) / 1e9
}

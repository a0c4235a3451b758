import ArgumentParser
import AutonousCore
import Foundation

/// `autonousctl events`: the supervisor's and the worker's event logs, merged by time.
struct EventsCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "events",
        abstract: "Show the supervisor's and the worker's events, merged by time.",
        discussion: """
            Prints the most recent matching events, oldest first; with --follow, keeps printing new events as they \
            are recorded until interrupted. --json prints one JSON object per line (JSON Lines).
            Examples:
              autonousctl events --since 15m
              autonousctl events --type worker. --type approval.* --limit 50
              autonousctl events --since 2026-12-05T10:00:00Z --json
              autonousctl events --follow --type turn.
            """)

    @OptionGroup var options: GlobalOptions

    @Option(help: "Only events since a duration ago (90s, 15m, 1h, 2d) or an ISO 8601 time (2026-12-05T10:00:00Z).")
    var since: String?

    @Option(
        name: .customLong("type"),
        help: "Only this event type (worker.ready) or prefix (approval. or approval.*); repeat for several.")
    var types: [String] = []

    @Option(name: .customLong("run"), help: "Only the events of this agent run.")
    var runID: String?

    @Option(name: .customLong("conversation"), help: "Only the events of this conversation (telegram:111).")
    var conversationID: String?

    @Option(help: "How many of the most recent matching events to print (1 to 10000).")
    var limit = 200

    @Flag(help: "After printing, keep printing new events as they are recorded, until interrupted.")
    var follow = false

    func validate() throws {
        if let since { _ = try SinceOption.milliseconds(since) }
        do {
            _ = try EventTypeFilter(types)
            try EventTypeFilter.refuseUnknown(types)
        } catch let error as AutonousError {
            throw ValidationError("--type: \(error.message)")
        }
        guard (1 ... 10_000).contains(limit) else {
            throw ValidationError("--limit must be between 1 and 10000, got \(limit)")
        }
        for (flag, value) in [("--run", runID), ("--conversation", conversationID)] {
            if let value, value.isEmpty { throw ValidationError("\(flag) needs a value") }
        }
    }

    func run() throws {
        let request = ControlInterface.GetEventsRequest(
            sinceMs: try since.map { try SinceOption.milliseconds($0) }, types: types.isEmpty ? nil : types,
            runId: runID, conversationId: conversationID, limit: limit)
        let printer = EventPrinter(json: options.json, width: EventPrinter.terminalWidth())
        guard follow else {
            let page = try callControl(options) { client in
                try client.call("io.autonous.Control.GetEvents", request, as: ControlInterface.EventsPage.self)
            }
            printer.printHeaderIfNeeded()
            for event in page.events { printer.print(event) }
            return
        }
        printer.printHeaderIfNeeded()
        try callControl(options) { client in
            do {
                try client.stream("io.autonous.Control.GetEvents", request) { parameters in
                    let page = try parameters.decode(ControlInterface.EventsPage.self)
                    for event in page.events { printer.print(event) }
                    // Piped output is block-buffered: flush so a reader sees each event as it comes. A reader that
                    // went away (`| head`) ends the stream: hanging up tells the supervisor to stop sending.
                    return fflush(nil) == 0
                }
            } catch let error as AutonousError where error.code == .protocolViolation {
                printError("autonousctl: the supervisor ended the stream (\(error.message))")
                throw ExitCode(1)
            }
        }
    }
}

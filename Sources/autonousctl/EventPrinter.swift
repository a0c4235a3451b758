import AutonousCore
import Foundation

/// Prints events for `autonousctl events`: one JSON object per line, or one aligned line per event.
struct EventPrinter {
    /// JSON Lines instead of the table.
    let json: Bool
    /// The terminal's width when standard output is one; lines are cut to it.
    let width: Int?

    init(json: Bool, width: Int?) {
        self.json = json
        self.width = width
    }

    /// `2026-12-05 10:58:43.123` in the local time zone.
    private let localTime: DateFormatter = {
        let formatter = DateFormatter()
        formatter.locale = Locale(identifier: "en_US_POSIX")
        formatter.dateFormat = "yyyy-MM-dd HH:mm:ss.SSS"
        return formatter
    }()

    /// `2026-12-05T10:58:43.123Z`.
    private let isoTime: ISO8601DateFormatter = {
        let formatter = ISO8601DateFormatter()
        formatter.formatOptions = [.withInternetDateTime, .withFractionalSeconds]
        return formatter
    }()

    /// The longest payload shown in the table when standard output is not a terminal.
    static let payloadLimit = 160

    /// The number of columns of the terminal on standard output, or nil when it is not a terminal.
    static func terminalWidth() -> Int? {
        guard isatty(STDOUT_FILENO) == 1 else { return nil }
        var size = winsize()
        guard ioctl(STDOUT_FILENO, UInt(TIOCGWINSZ), &size) == 0, size.ws_col > 0 else { return nil }
        return Int(size.ws_col)
    }

    func printHeaderIfNeeded() {
        guard !json else { return }
        emit(Self.columns(["TIME", "SOURCE", "ID", "PARENT", "TYPE", "RUN", "CONVERSATION", "PAYLOAD"]))
    }

    func print(_ event: ControlInterface.Event) {
        if json {
            Swift.print(jsonLine(event))
            return
        }
        let date = Date(timeIntervalSince1970: Double(event.tsMs) / 1000)
        var payload = event.payload.jsonText
        if payload == "{}" { payload = "" }
        if width == nil && payload.count > Self.payloadLimit {
            payload = String(payload.prefix(Self.payloadLimit - 1)) + "…"
        }
        emit(
            Self.columns([
                localTime.string(from: date), event.source, String(event.id), event.parentId.map(String.init) ?? "-",
                event.type, event.runId.map { String($0.prefix(8)) } ?? "-", event.conversationId ?? "-", payload,
            ]))
    }

    /// Writes a table line, cut to the terminal's width.
    private func emit(_ line: String) {
        guard let width, line.count > width else {
            Swift.print(line)
            return
        }
        Swift.print(String(line.prefix(max(1, width - 1))) + "…")
    }

    /// The table's columns, padded to fixed widths (the last one is free).
    static func columns(_ values: [String]) -> String {
        let widths = [23, 10, 13, 13, 26, 8, 16]
        var line = ""
        for (index, value) in values.enumerated() {
            if index < widths.count {
                line += value.padding(toLength: max(widths[index], value.count), withPad: " ", startingAt: 0) + " "
            } else {
                line += value
            }
        }
        return line.trimmingCharacters(in: .whitespaces)
    }

    /// One event as a JSON object on one line, with the field names of `autonousctl events --json`.
    func jsonLine(_ event: ControlInterface.Event) -> String {
        let date = Date(timeIntervalSince1970: Double(event.tsMs) / 1000)
        let object: [String: JSONValue] = [
            "id": .int(event.id),
            "ts_ms": .int(event.tsMs),
            "time": .string(isoTime.string(from: date)),
            "source": .string(event.source),
            "parent_id": event.parentId.map { .int($0) } ?? .null,
            "run_id": event.runId.map { .string($0) } ?? .null,
            "conversation_id": event.conversationId.map { .string($0) } ?? .null,
            "type": .string(event.type),
            "payload": event.payload,
        ]
        return JSONValue.object(object).jsonText
    }
}

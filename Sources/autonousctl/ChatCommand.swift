import ArgumentParser
import AutonousCore
import Foundation

struct ChatCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "chat",
        abstract: "Talk to the agent through the local commander (no Telegram needed).",
        discussion: "With a message, prints the answer and exits. Without one, reads messages line by line.")

    @OptionGroup var options: GlobalOptions

    @Option(help: "The conversation to continue (letters, digits, '-', '_', '.').")
    var conversation = "operator"

    @Argument(help: "The message; omit it for an interactive prompt.")
    var message: [String] = []

    func validate() throws {
        guard conversation.count <= 64,
            conversation.allSatisfy({ $0.isASCII && ($0.isLetter || $0.isNumber || "-_.".contains($0)) })
        else {
            throw ValidationError("--conversation takes at most 64 letters, digits, '-', '_' or '.'")
        }
    }

    func run() throws {
        let client = try options.connect()
        defer { client.close() }
        if !message.isEmpty {
            guard try send(message.joined(separator: " "), client: client) else { throw ExitCode(1) }
            return
        }
        let interactive = isatty(0) == 1
        if interactive { printError("Talking to autonous (conversation '\(conversation)'). Ctrl-D to leave.") }
        while true {
            if interactive { FileHandle.standardError.write(Data("you> ".utf8)) }
            guard let line = readLine() else { break }
            let text = line.trimmingCharacters(in: .whitespaces)
            if text.isEmpty { continue }
            _ = try send(text, client: client)
        }
    }

    /// Sends one message and prints the answer; returns false when it failed.
    private func send(_ text: String, client: VarlinkClient) throws -> Bool {
        do {
            let response = try client.call(
                "io.autonous.Control.Chat", ControlInterface.ChatRequest(text: text, conversation: conversation),
                as: ControlInterface.ChatResponse.self)
            if options.json {
                print(String(decoding: try JSONCoding.encoder.encode(response), as: UTF8.self))
            } else {
                print(response.reply)
            }
            return true
        } catch let error as VarlinkError {
            printError("autonousctl: \(describe(error))")
            return false
        }
    }
}

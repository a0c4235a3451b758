import AutonousCore
import Testing

@testable import Worker

struct ChatCommandParsingTests {
    @Test(arguments: [
        ("/cancel", ChatCommand.cancel), ("/cancel@autonous_bot", .cancel), ("  /new please", .new),
        ("/status", .status),
    ])
    func commandsAreRecognised(text: String, command: ChatCommand) {
        #expect(ChatCommand.parse(text) == command)
    }

    @Test(arguments: ["cancel", "/cancelled", "/rollback", "/", "", "please /cancel", "/CANCEL"])
    func otherTextIsNoCommand(text: String) {
        #expect(ChatCommand.parse(text) == nil)
    }

    @Test func interruptingCommandsAreStoredOutOfTheChatsLane() throws {
        func item(_ text: String, kind: String = "message") throws -> NewInboxItem {
            let raw: JSONValue = .object([
                "update_id": .int(7),
                kind: .object([
                    "text": .string(text), "chat": .object(["id": .int(5)]), "from": .object(["id": .int(5)]),
                ]),
            ])
            return try #require(TelegramUpdate(raw)).inboxItem
        }
        #expect(try item("/cancel").kind == Inbox.interruptKind)
        #expect(try item("/status").kind == Inbox.interruptKind)
        #expect(try item("/new").kind == "message", "/new waits its turn")
        #expect(try item("hello").kind == "message")
        #expect(try item("/cancel", kind: "edited_message").kind == "edited_message")
    }
}

import Foundation
import Testing

@testable import AutonousCore

/// The context subsystem's variables: the profile, the history's length, the caps and the token budget.
extension ConfigurationTests {
    @Test func theContextDefaultsAreTheNaiveProfileTwentyMessagesAndSixteenThousandTokens() throws {
        #expect(
            try configuration([:]).context
                == ContextSettings(
                    profile: .naive, messages: 20, messageChars: 8000, toolOutputChars: 2000, tokenBudget: 16000))
    }

    @Test func everyContextVariableIsRead() throws {
        let context = try configuration([
            "AUTONOUS_CONTEXT_PROFILE": "naive", "AUTONOUS_CONTEXT_MESSAGES": "7",
            "AUTONOUS_CONTEXT_MESSAGE_CHARS": "500", "AUTONOUS_CONTEXT_TOOL_OUTPUT_CHARS": "0",
            "AUTONOUS_CONTEXT_TOKEN_BUDGET": "4000",
        ]).context
        #expect(context == ContextSettings(messages: 7, messageChars: 500, toolOutputChars: 0, tokenBudget: 4000))
    }

    @Test func theOlderHistoryVariableStillSetsTheMessages() throws {
        #expect(try configuration(["AUTONOUS_HISTORY_MESSAGES": "3"]).context.messages == 3)
        let both = failure(["AUTONOUS_HISTORY_MESSAGES": "3", "AUTONOUS_CONTEXT_MESSAGES": "4"])
        #expect(both?.variable == "AUTONOUS_HISTORY_MESSAGES")
        #expect(both?.message.contains("set only AUTONOUS_CONTEXT_MESSAGES") == true)
    }

    @Test func wrongContextValuesNameTheirVariable() {
        for (variable, value) in [
            ("AUTONOUS_CONTEXT_PROFILE", "clever"), ("AUTONOUS_CONTEXT_MESSAGES", "501"),
            ("AUTONOUS_CONTEXT_MESSAGE_CHARS", "10"), ("AUTONOUS_CONTEXT_TOOL_OUTPUT_CHARS", "-1"),
            ("AUTONOUS_CONTEXT_TOKEN_BUDGET", "999"), ("AUTONOUS_CONTEXT_TOKEN_BUDGET", "lots"),
        ] {
            #expect(failure([variable: value])?.variable == variable, "\(variable)=\(value)")
        }
    }
}

import Foundation
import Testing

@testable import AutonousCore

/// The agent control plane's variables: run limits, the daily budget, the price table, the breaker, no progress.
@Suite final class ControlConfigurationTests {
    let directory: String
    let base: [String: String]

    init() throws {
        directory =
            FileManager.default.temporaryDirectory.appendingPathComponent("control-config-" + UUID().uuidString)
            .path
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        base = ["AUTONOUS_STATE_DIR": "/tmp/s", "AUTONOUS_CONFIG_DIR": directory]
    }

    deinit {
        try? FileManager.default.removeItem(atPath: directory)
    }

    private func configuration(_ extra: [String: String]) throws -> Configuration {
        try Configuration(environment: base.merging(extra) { _, new in new })
    }

    private func failure(_ extra: [String: String]) -> String? {
        do {
            _ = try configuration(extra)
            return nil
        } catch {
            return (error as? ConfigurationError)?.description ?? "\(error)"
        }
    }

    private func writePrices(_ text: String, name: String = "prices.json") throws {
        try text.write(toFile: directory + "/" + name, atomically: true, encoding: .utf8)
    }

    @Test func theDefaultsAreEightTurnsTenMinutesAndTwoMillionTokensADay() throws {
        let defaults = try configuration([:])
        #expect(defaults.runLimits == RunLimits(maxTurns: 8, maxRunTime: .seconds(600), maxRunTokens: 200_000))
        #expect(defaults.dailyBudget == DailyBudget(tokens: 2_000_000, cost: nil))
        #expect(defaults.priceTable == nil)
        #expect(
            defaults.safeguards
                == AgentSafeguards(breakerThreshold: 5, breakerCooldown: .seconds(60), noProgressLimit: 3))
    }

    @Test func unlimitedMustBeWrittenOutAndZeroIsAllowed() throws {
        #expect(try configuration(["AUTONOUS_DAILY_TOKEN_BUDGET": "unlimited"]).dailyBudget.tokens == nil)
        #expect(try configuration(["AUTONOUS_DAILY_TOKEN_BUDGET": "UNLIMITED"]).dailyBudget.tokens == nil)
        #expect(try configuration(["AUTONOUS_DAILY_TOKEN_BUDGET": "0"]).dailyBudget.tokens == 0)
        #expect(try configuration(["AUTONOUS_DAILY_TOKEN_BUDGET": "500000"]).dailyBudget.tokens == 500_000)
        // Blank counts as unset, like every variable: the finite default stays.
        #expect(try configuration(["AUTONOUS_DAILY_TOKEN_BUDGET": " "]).dailyBudget.tokens == 2_000_000)
    }

    @Test func goodValuesAreRead() throws {
        try writePrices(#"{"gpt-4o-mini": {"input": 0.15, "cached_input": 0.075, "output": 0.6}}"#)
        let custom = try configuration([
            "AUTONOUS_MAX_TURNS": "20", "AUTONOUS_MAX_RUN_TIME": "90s", "AUTONOUS_MAX_RUN_TOKENS": "50000",
            "AUTONOUS_MAX_RUN_COST": "0.25", "AUTONOUS_DAILY_COST_BUDGET": "$5", "AUTONOUS_PRICE_TABLE": "prices.json",
            "AUTONOUS_BREAKER_THRESHOLD": "3", "AUTONOUS_BREAKER_COOLDOWN": "2m", "AUTONOUS_NO_PROGRESS_LIMIT": "4",
        ])
        #expect(custom.runLimits.maxTurns == 20)
        #expect(custom.runLimits.maxRunTime == .seconds(90))
        #expect(custom.runLimits.maxRunTokens == 50000)
        #expect(custom.runLimits.maxRunCost == Dollars(microdollars: 250_000))
        #expect(custom.dailyBudget.cost == Dollars(microdollars: 5_000_000))
        #expect(
            custom.priceTable?["gpt-4o-mini"]
                == PriceTable.Price(
                    input: try #require(Decimal(string: "0.15")), cachedInput: Decimal(string: "0.075"),
                    output: try #require(Decimal(string: "0.6"))))
        #expect(custom.safeguards.breakerThreshold == 3)
        #expect(custom.safeguards.breakerCooldown == .seconds(120))
        #expect(custom.safeguards.noProgressLimit == 4)
    }

    @Test(arguments: [
        (
            "AUTONOUS_MAX_TURNS", "0",
            "configuration error: AUTONOUS_MAX_TURNS: must be a whole number from 1 to 1000, got '0'"
        ),
        (
            "AUTONOUS_MAX_RUN_TIME", "10 minutes",
            "configuration error: AUTONOUS_MAX_RUN_TIME: must be a duration like 500ms, 5s, 2m or 1h between "
                + "1.0 seconds and 86400.0 seconds, got '10 minutes'"
        ),
        (
            "AUTONOUS_MAX_RUN_TOKENS", "200k",
            "configuration error: AUTONOUS_MAX_RUN_TOKENS: must be a whole number from 1000 to 100000000, got '200k'"
        ),
        (
            "AUTONOUS_MAX_RUN_COST", "0",
            "configuration error: AUTONOUS_MAX_RUN_COST: must be an amount of US dollars above 0 with at most 6 "
                + "decimals, such as 0.50 or 20, got '0'"
        ),
        (
            "AUTONOUS_DAILY_COST_BUDGET", "1.0000001",
            "configuration error: AUTONOUS_DAILY_COST_BUDGET: must be an amount of US dollars with at most 6 "
                + "decimals, such as 0.50 or 20, got '1.0000001'"
        ),
        (
            "AUTONOUS_DAILY_TOKEN_BUDGET", "-1",
            "configuration error: AUTONOUS_DAILY_TOKEN_BUDGET: must be a whole number of tokens from 0 to "
                + "1000000000000 (0 allows no model call), or 'unlimited', got '-1'"
        ),
        (
            "AUTONOUS_DAILY_TOKEN_BUDGET", "none",
            "configuration error: AUTONOUS_DAILY_TOKEN_BUDGET: must be a whole number of tokens from 0 to "
                + "1000000000000 (0 allows no model call), or 'unlimited', got 'none'"
        ),
        (
            "AUTONOUS_BREAKER_THRESHOLD", "0",
            "configuration error: AUTONOUS_BREAKER_THRESHOLD: must be a whole number from 1 to 100, got '0'"
        ),
        (
            "AUTONOUS_BREAKER_COOLDOWN", "2h",
            "configuration error: AUTONOUS_BREAKER_COOLDOWN: must be a duration like 500ms, 5s, 2m or 1h between "
                + "1.0 seconds and 3600.0 seconds, got '2h'"
        ),
        (
            "AUTONOUS_NO_PROGRESS_LIMIT", "1",
            "configuration error: AUTONOUS_NO_PROGRESS_LIMIT: must be a whole number from 2 to 100, got '1'"
        ),
    ])
    func badValuesNameTheVariableAndSayWhy(_ variable: String, _ value: String, _ message: String) {
        #expect(failure([variable: value]) == message)
    }

    @Test func aCostCapNeedsAPriceTable() {
        #expect(
            failure(["AUTONOUS_MAX_RUN_COST": "1"])
                == "configuration error: AUTONOUS_MAX_RUN_COST: needs AUTONOUS_PRICE_TABLE, a JSON file of what each "
                + "model costs per million tokens")
        #expect(
            failure(["AUTONOUS_DAILY_COST_BUDGET": "10"])
                == "configuration error: AUTONOUS_DAILY_COST_BUDGET: needs AUTONOUS_PRICE_TABLE, a JSON file of what "
                + "each model costs per million tokens")
    }

    @Test func aCostCapRefusesATableWithoutTheConfiguredModel() throws {
        try writePrices(#"{"gpt-4o": {"input": 2.5, "output": 10}}"#)
        #expect(
            failure(["AUTONOUS_DAILY_COST_BUDGET": "10", "AUTONOUS_PRICE_TABLE": "prices.json"])
                == "configuration error: AUTONOUS_PRICE_TABLE: \(directory)/prices.json has no price for the model "
                + "'gpt-4o-mini' (AUTONOUS_MODEL), and AUTONOUS_DAILY_COST_BUDGET is set: a model without a price is "
                + "refused rather than counted as free")
        // Without a cost cap the same table is fine: it only records what calls cost.
        #expect(try configuration(["AUTONOUS_PRICE_TABLE": "prices.json"]).priceTable?["gpt-4o"] != nil)
    }

    @Test func thePriceTableMustBeInTheConfigurationDirectory() {
        #expect(
            failure(["AUTONOUS_PRICE_TABLE": "/tmp/prices.json"])
                == "configuration error: AUTONOUS_PRICE_TABLE: must be a file in AUTONOUS_CONFIG_DIR (\(directory)), "
                + "the only configuration the worker can read, got '/tmp/prices.json'")
        #expect(
            failure(["AUTONOUS_PRICE_TABLE": "../prices.json"])?.hasPrefix(
                "configuration error: AUTONOUS_PRICE_TABLE: must be a file in AUTONOUS_CONFIG_DIR") == true)
        #expect(
            failure(["AUTONOUS_PRICE_TABLE": "missing.json"])
                == "configuration error: AUTONOUS_PRICE_TABLE: cannot read \(directory)/missing.json")
    }

    @Test(arguments: [
        ("{", "is not valid JSON"),
        ("[]", #"must be a JSON object from model name to prices, such as {"gpt-4o-mini": {"input": 0.15, "#),
        ("{}", "names no model"),
        (#"{"m": 1}"#, "m: must be an object with input, output and optionally cached_input"),
        (#"{"m": {"input": 1}}"#, "m: output is missing"),
        (#"{"m": {"input": 1, "ouput": 2}}"#, "m: unknown key 'ouput' (known: input, cached_input, output)"),
        (#"{"m": {"input": -1, "output": 2}}"#, "m: input must be a number of US dollars per million tokens from 0"),
        (#"{"m": {"input": "1", "output": 2}}"#, "m: input must be a number of US dollars per million tokens from 0"),
    ])
    func aBadPriceTableIsRefusedAtStartSayingWhere(_ text: String, _ message: String) throws {
        try writePrices(text)
        let error = failure(["AUTONOUS_PRICE_TABLE": "prices.json"])
        #expect(
            error?.hasPrefix("configuration error: AUTONOUS_PRICE_TABLE: \(directory)/prices.json: \(message)") == true,
            "\(error ?? "no error")")
    }

    @Test func costsAreExactAndRoundUpToTheMicrodollar() {
        let price = PriceTable.Price(
            input: Decimal(string: "0.15") ?? 0, cachedInput: Decimal(string: "0.075") ?? 0,
            output: Decimal(string: "0.6") ?? 0)
        // 1M input tokens of which 400k cached, 100k output: 0.6·0.15 + 0.4·0.075 + 0.1·0.6 = 0.18 dollars.
        #expect(
            price.cost(inputTokens: 1_000_000, cachedTokens: 400_000, outputTokens: 100_000).microdollars == 180_000)
        // One token at 0.15 dollars per million is 0.15 µUSD: counted as 1 µUSD, never as nothing.
        #expect(price.cost(inputTokens: 1, outputTokens: 0).microdollars == 1)
        #expect(price.cost(inputTokens: 0, outputTokens: 0) == .zero)
    }

    @Test func dollarsParseAndPrint() {
        #expect(Dollars(parsing: "20")?.microdollars == 20_000_000)
        #expect(Dollars(parsing: "$0.50")?.microdollars == 500_000)
        #expect(Dollars(parsing: "0.000001")?.microdollars == 1)
        for bad in ["", ".5", "5.", "1e3", "-1", "1,5", "0.0000001", "$"] {
            #expect(Dollars(parsing: bad) == nil, "\(bad)")
        }
        #expect(Dollars(microdollars: 500_000).description == "$0.50")
        #expect(Dollars(microdollars: 20_000_000).description == "$20.00")
        #expect(Dollars(microdollars: 125).description == "$0.000125")
    }
}

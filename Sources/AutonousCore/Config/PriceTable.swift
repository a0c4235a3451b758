import Foundation

/// What each model costs, in US dollars per million tokens, read from `AUTONOUS_PRICE_TABLE`.
///
/// The file is one JSON object from model name to prices:
/// `{"gpt-4o-mini": {"input": 0.15, "cached_input": 0.075, "output": 0.6}}`. `cached_input` (the price of prompt
/// tokens the API served from its cache) defaults to `input`. Unknown keys are refused, so a typo cannot make a
/// price silently zero.
public struct PriceTable: Sendable, Equatable {
    /// One model's prices, in US dollars per million tokens.
    public struct Price: Sendable, Equatable {
        public var input: Decimal
        public var cachedInput: Decimal
        public var output: Decimal

        public init(input: Decimal, cachedInput: Decimal? = nil, output: Decimal) {
            self.input = input
            self.cachedInput = cachedInput ?? input
            self.output = output
        }

        /// The cost of a call, rounded up to the next micro-dollar. `cachedTokens` are part of `inputTokens`
        /// (as the chat-completions `usage` reports them) and priced at `cachedInput`.
        public func cost(inputTokens: Int, cachedTokens: Int = 0, outputTokens: Int) -> Dollars {
            let cached = min(max(cachedTokens, 0), max(inputTokens, 0))
            let uncached = max(inputTokens, 0) - cached
            // A price per million tokens in dollars is the price of one token in micro-dollars.
            let micro =
                Decimal(uncached) * input + Decimal(cached) * cachedInput + Decimal(max(outputTokens, 0)) * output
            return Dollars(rounding: micro / 1_000_000) ?? Dollars(microdollars: .max)
        }
    }

    /// Prices by model name, exactly as the model is named in requests (`AUTONOUS_MODEL`).
    public var prices: [String: Price]

    public init(prices: [String: Price]) {
        self.prices = prices
    }

    /// The prices of `model`, or nil when the table does not name it.
    public subscript(model: String) -> Price? { prices[model] }

    /// Parses the file's contents; `source` names the file in errors.
    ///
    /// - Throws: `ConfigurationError` for `AUTONOUS_PRICE_TABLE` saying what is wrong where.
    public static func parse(_ data: Data, source: String) throws -> PriceTable {
        func failure(_ message: String) -> ConfigurationError {
            ConfigurationError(variable: "AUTONOUS_PRICE_TABLE", message: "\(source): \(message)")
        }
        let json: JSONValue
        do {
            json = try JSONCoding.decoder.decode(JSONValue.self, from: data)
        } catch {
            throw failure("is not valid JSON")
        }
        guard let models = json.objectValue else {
            throw failure(
                "must be a JSON object from model name to prices, such as "
                    + #"{"gpt-4o-mini": {"input": 0.15, "cached_input": 0.075, "output": 0.6}}"#)
        }
        guard !models.isEmpty else { throw failure("names no model") }
        var prices: [String: Price] = [:]
        for (model, entry) in models.sorted(by: { $0.key < $1.key }) {
            guard let fields = entry.objectValue else {
                throw failure("\(model): must be an object with input, output and optionally cached_input")
            }
            if let unknown = fields.keys.sorted().first(where: { !["input", "cached_input", "output"].contains($0) }) {
                throw failure("\(model): unknown key '\(unknown)' (known: input, cached_input, output)")
            }
            func price(_ key: String, required: Bool) throws -> Decimal? {
                guard let value = fields[key] else {
                    if required { throw failure("\(model): \(key) is missing") }
                    return nil
                }
                guard let amount = Self.decimal(value), amount >= 0, amount <= 1_000_000 else {
                    throw failure(
                        "\(model): \(key) must be a number of US dollars per million tokens from 0 to 1000000")
                }
                return amount
            }
            guard let input = try price("input", required: true), let output = try price("output", required: true)
            else { continue }
            prices[model] = Price(input: input, cachedInput: try price("cached_input", required: false), output: output)
        }
        return PriceTable(prices: prices)
    }

    /// Reads and parses the file at `path`.
    public static func load(path: String) throws -> PriceTable {
        guard let data = FileManager.default.contents(atPath: path) else {
            throw ConfigurationError(variable: "AUTONOUS_PRICE_TABLE", message: "cannot read \(path)")
        }
        return try parse(data, source: path)
    }

    /// A JSON number as a decimal, through its shortest text so that `0.15` stays exactly 0.15.
    private static func decimal(_ value: JSONValue) -> Decimal? {
        switch value {
        case .int(let number): return Decimal(number)
        case .double(let number) where number.isFinite: return Decimal(string: "\(number)")
        default: return nil
        }
    }
}

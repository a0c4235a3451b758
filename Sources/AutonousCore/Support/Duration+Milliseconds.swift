extension Duration {
    /// The duration in whole milliseconds (truncated), the unit of every `*_ms` field and event payload.
    public var wholeMilliseconds: Int64 {
        components.seconds * 1000 + components.attoseconds / 1_000_000_000_000_000
    }
}

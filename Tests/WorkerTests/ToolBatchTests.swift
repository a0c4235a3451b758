import Testing

@testable import Worker

/// Which of one turn's tool calls run together: consecutive read-only calls concurrently, anything that writes,
/// executes or reaches the network alone, in the model's order.
struct ToolBatchTests {
    @Test(
        arguments: [
            ([], []),
            ([true], [0 ..< 1]),
            ([true, true, true], [0 ..< 3]),
            ([false, false], [0 ..< 1, 1 ..< 2]),
            ([true, true, false, true, true], [0 ..< 2, 2 ..< 3, 3 ..< 5]),
            ([false, true, true], [0 ..< 1, 1 ..< 3]),
            ([true, false], [0 ..< 1, 1 ..< 2]),
        ] as [([Bool], [Range<Int>])])
    func consecutiveReadsRunTogetherAndEverythingElseAlone(readsOnly: [Bool], expected: [Range<Int>]) {
        #expect(Agent.batches(readsOnly: readsOnly) == expected)
    }
}

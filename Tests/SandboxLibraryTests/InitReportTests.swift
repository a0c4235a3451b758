import Testing

@testable import Sandbox

/// Pid 1's report on the status pipe, as the launcher reads it.
@Suite struct InitReportTests {
    @Test func readsExitAndSignalWithAndWithoutRelease() {
        #expect(InitReport(Array("e0+".utf8)) == InitReport(outcome: .exited(0), released: true))
        #expect(InitReport(Array("e3".utf8)) == InitReport(outcome: .exited(3), released: false))
        #expect(InitReport(Array("s9+".utf8)) == InitReport(outcome: .signaled(9), released: true))
        #expect(InitReport(Array("s15".utf8)) == InitReport(outcome: .signaled(15), released: false))
    }

    /// Nothing, a report cut short, or anything else is no report: the launcher then waits for pid 1 itself.
    @Test(arguments: ["", "+", "e", "e+", "x1", "e-1", "e1x", "s+9", "e1++"])
    func refusesAnythingElse(_ text: String) {
        #expect(InitReport(Array(text.utf8)) == nil)
    }
}

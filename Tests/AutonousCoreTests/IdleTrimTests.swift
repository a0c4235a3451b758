import CLinux
import Foundation
import Testing

@testable import AutonousCore

@Suite struct IdleTrimTests {
    /// Waits (at most 10 s) until `trim` has run `count` trims; returns whether it did.
    private func waitForTrims(_ trim: IdleTrim, _ count: Int) async throws -> Bool {
        for _ in 0 ..< 1000 where trim.trims < count { try await Task.sleep(for: .milliseconds(10)) }
        return trim.trims >= count
    }

    @Test func aDisabledTrimNeverRuns() async throws {
        let trim = IdleTrim()
        trim.noteActivity()
        try await Task.sleep(for: .milliseconds(300))
        #expect(trim.trims == 0)
    }

    @Test func theTrimAfterStartIsNotPostponedByActivity() async throws {
        let trim = IdleTrim()
        trim.enable(afterStart: .milliseconds(100), quiet: .seconds(30))
        trim.noteActivity()
        #expect(try await waitForTrims(trim, 1))
        // Activity after it waits for a quiet spell of 30 s: no second trim meanwhile.
        trim.noteActivity()
        try await Task.sleep(for: .milliseconds(300))
        #expect(trim.trims == 1)
    }

    @Test func activityPostponesTheNextTrimUntilAQuietSpell() async throws {
        let trim = IdleTrim()
        let quiet = Duration.seconds(2)
        trim.enable(afterStart: .milliseconds(10), quiet: quiet)
        #expect(try await waitForTrims(trim, 1))
        // Activity every 100 ms keeps the 2 s quiet spell from coming, then the trim comes. A loaded machine can
        // stall a 100 ms sleep past the quiet spell, and then a trim in it is right: such a round is measured,
        // and tried again (at most 3 rounds), so that one round shows the postponement.
        let clock = ContinuousClock()
        var shown = false
        for round in 1 ... 3 where !shown {
            var last = clock.now
            var longestGap = Duration.zero
            for _ in 0 ..< 8 {
                trim.noteActivity()
                longestGap = max(longestGap, clock.now - last)
                last = clock.now
                try await Task.sleep(for: .milliseconds(100))
            }
            let trimsMeanwhile = trim.trims
            longestGap = max(longestGap, clock.now - last)
            if longestGap < quiet {
                #expect(trimsMeanwhile == round)
                shown = true
            }
            #expect(try await waitForTrims(trim, round + 1))
        }
        #expect(shown, "every round stalled for longer than the quiet spell")
    }

    /// The release itself, in this process: it marks the executable's mappings for random access (no read-around),
    /// drops what it may, and the process goes on running its code and reading its data.
    @Test func releasingTheExecutablesPagesKeepsTheProcessRunning() throws {
        let released = cl_release_executable_pages(0)
        #expect(released > 0)
        let exe = try FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/exe")
        let smaps = try String(contentsOfFile: "/proc/self/smaps", encoding: .utf8)
        var inExecutable = false
        var randomMappings = 0
        for line in smaps.split(separator: "\n") {
            if let first = line.split(separator: " ").first, first.contains("-"), !line.hasPrefix("VmFlags") {
                inExecutable = line.hasSuffix(" " + exe)
            } else if inExecutable && line.hasPrefix("VmFlags:") && line.split(separator: " ").contains("rr") {
                randomMappings += 1
            }
        }
        #expect(randomMappings == Int(released))
        // Code and read-only data come back as they are used.
        #expect(SHA256.hex(Array("abc".utf8)) == "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad")
    }
}
